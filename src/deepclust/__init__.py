"""deepclust: deep clustering with an sklearn-style API.

>>> from deepclust import methods, datasets, metrics
>>> ds = datasets.load_dataset("digits")
>>> labels = methods.get("kmeans")(n_clusters=10).fit_predict(ds.X)
"""
__version__ = "0.1.0"

from . import errors, metrics  # noqa: F401


def __getattr__(name):  # lazy: importing deepclust must not import torch for `deepclust --help`
    import importlib
    if name in {"datasets", "methods", "engine", "nn"}:
        return importlib.import_module(f".{name}", __name__)
    try:
        methods = importlib.import_module(".methods", __name__)
        return getattr(methods, name)
    except AttributeError:
        raise AttributeError(f"module 'deepclust' has no attribute {name!r}") from None
