"""Fixtures for the CLI suite: real files of each kind a practitioner brings, written by the tests."""
import numpy as np
import pytest

from cli_helpers import blobs


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """A folder with my_data.npy (+ my_labels.npy), my_table.csv (with a `label` column), my_plain.csv (no
    label column), my_data.h5 (no labels), my_images/ (flat folder of PNGs) and my_classes/ (one subfolder
    per class)."""
    import h5py
    from PIL import Image
    from sklearn.datasets import load_digits
    root = tmp_path_factory.mktemp("userdata")
    X, y = blobs()
    np.save(root / "my_data.npy", X)
    np.save(root / "my_labels.npy", y)
    cols = [f"f{i}" for i in range(X.shape[1])]
    names = np.array(["apple", "banana", "cherry"])[y]
    with open(root / "my_table.csv", "w") as f:
        f.write(",".join(cols + ["label"]) + "\n")
        f.writelines(",".join(f"{v:.5f}" for v in row) + f",{c}\n" for row, c in zip(X, names))
    np.savetxt(root / "my_plain.csv", X, delimiter=",", header=",".join(cols), comments="", fmt="%.5f")
    with h5py.File(root / "my_data.h5", "w") as f:
        f["X"] = X
    d = load_digits()
    keep = np.flatnonzero(d.target < 3)[:60]  # digits 0, 1, 2
    (root / "my_images").mkdir()
    for i in keep:
        img = Image.fromarray((d.images[i] * 16).clip(0, 255).astype(np.uint8)).resize((16, 16))
        img.save(root / "my_images" / f"img{i:04d}.png")
        (root / "my_classes" / f"digit{d.target[i]}").mkdir(parents=True, exist_ok=True)
        img.save(root / "my_classes" / f"digit{d.target[i]}" / f"img{i:04d}.png")
    return root
