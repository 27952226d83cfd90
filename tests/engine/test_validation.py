import numpy as np
import pytest
import torch

from deepclust.engine.validation import check_n_clusters, check_X, check_y, image_shape_of
from deepclust.errors import InvalidInputError
from deepclust.methods import get


def test_accepts_numpy_torch_and_lists():
    X = np.random.rand(10, 4)
    assert check_X(X).dtype == np.float32
    assert check_X(torch.rand(10, 4)).shape == (10, 4)
    assert check_X([[1, 2], [3, 4]]).shape == (2, 2)
    assert check_X(np.zeros((5, 8, 8))).shape == (5, 1, 8, 8)  # N x H x W -> one channel


@pytest.mark.parametrize("X,msg", [
    (np.array([[1.0, np.nan], [0, 0]]), "NaN"),
    (np.array([[1.0, np.inf], [0, 0]]), "NaN or infinite"),
    (np.zeros((0, 3)), "empty"),
    (np.zeros((1, 3)), "at least"),
    (np.zeros(5), "2-D"),
    (np.array([["a", "b"], ["c", "d"]]), "numeric"),
])
def test_bad_X(X, msg):
    with pytest.raises(InvalidInputError, match=msg):
        check_X(X)


def test_n_clusters_bounds():
    with pytest.raises(InvalidInputError, match="at least 2"):
        check_n_clusters(1, 10)
    with pytest.raises(InvalidInputError, match="larger than the number of samples"):
        check_n_clusters(11, 10)
    with pytest.raises(InvalidInputError, match="integer"):
        check_n_clusters(2.5, 10)
    assert check_n_clusters(10, 10) == 10


def test_y_length():
    with pytest.raises(InvalidInputError, match="one label per sample"):
        check_y([0, 1], 3)


def test_image_shape():
    assert image_shape_of(np.zeros((2, 784))) == (1, 28, 28)
    assert image_shape_of(np.zeros((2, 3, 32, 32))) == (3, 32, 32)
    assert image_shape_of(np.zeros((2, 12)), (3, 2, 2)) == (3, 2, 2)
    with pytest.raises(InvalidInputError, match="needs images"):
        image_shape_of(np.zeros((2, 10)))


def test_estimators_report_bad_input_clearly():
    X = np.random.rand(20, 10).astype(np.float32)
    with pytest.raises(InvalidInputError, match="needs images"):
        get("dcec")(verbose=0).fit(X)  # 10 features: not an image
    with pytest.raises(InvalidInputError, match="larger than the number of samples"):
        get("kmeans")(n_clusters=50).fit(X)
    X[3, 2] = np.nan
    with pytest.raises(InvalidInputError, match="row 3"):
        get("idec")(verbose=0).fit(X)
