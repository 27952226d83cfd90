"""The estimator contract shared by every method (scikit-learn conventions).

Hyperparameters are declared as dataclass fields, so `__init__` only stores them and `get_params` /
`set_params` / `clone` work as in scikit-learn. A method implements `_fit(X, y)` and, where defined,
`_predict(X)` / `_transform(X)`.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from ..errors import InvalidInputError, NotFittedError, UnknownNameError
from .validation import check_n_clusters, check_X, check_y

estimator = dataclasses.dataclass(repr=False, eq=False)  # decorator for every estimator class


@estimator
class BaseClusterer(ClusterMixin, BaseEstimator):
    """Base of all deepclust estimators. Fitted attributes end with an underscore."""

    n_clusters: int = 10

    presets: ClassVar[dict] = {"paper": {}}
    min_samples: ClassVar[int] = 2

    # ---- public API ---------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit on X (n_samples x n_features, or n x C x H x W). `y`, if given, is only used to log
        ACC/NMI during training, never to learn."""
        X = check_X(X, min_samples=max(self.min_samples, 2))
        check_n_clusters(self.n_clusters, X.shape[0])
        y = check_y(y, X.shape[0])
        self._check_params()
        self._fit(X, y)
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        return self

    def fit_predict(self, X, y=None):
        return self.fit(X, y).labels_

    def predict(self, X):
        """Cluster of each sample of X (the fitted model applied to new data)."""
        self._check_fitted()
        return np.asarray(self._predict(self._check_new(X)))

    def transform(self, X):
        """The learned embedding of X (n_samples x embedding_dim)."""
        self._check_fitted()
        return np.asarray(self._transform(self._check_new(X)))

    @classmethod
    def from_preset(cls, preset: str = "paper", **overrides):
        """Estimator with a named preset's settings ("paper" = the paper's, the default)."""
        if preset not in cls.presets:
            raise UnknownNameError(f"unknown preset {preset!r} for {cls.__name__}; known: {sorted(cls.presets)}")
        return cls(**{**cls.presets[preset], **overrides})

    def save(self, path) -> None:
        """Save the fitted model (parameters + fitted state) to one file; see `load`."""
        from .io import torch_save
        self._check_fitted()
        fitted = {k: _to_cpu(v) for k, v in self.__dict__.items() if k.endswith("_") and not k.startswith("_")}
        torch_save(path, {"format": "deepclust-model/1", "class": f"{type(self).__module__}:{type(self).__qualname__}",
                          "params": self.get_params(deep=False), "fitted": fitted})

    @staticmethod
    def load(path, device: str | None = None) -> "BaseClusterer":
        """Load a model saved with `save`. The file is a pickle: only load files you trust."""
        import torch
        from ..errors import CorruptFileError
        try:
            blob = torch.load(path, map_location="cpu", weights_only=False)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise CorruptFileError(f"{path} is not a readable deepclust model ({e})") from None
        if not isinstance(blob, dict) or blob.get("format") != "deepclust-model/1":
            raise CorruptFileError(f"{path} is not a deepclust model file")
        mod, name = blob["class"].split(":")
        cls = getattr(importlib.import_module(mod), name)
        est = cls(**blob["params"])
        if device is not None and "device" in blob["params"]:
            est.device = device
        est.__dict__.update(blob["fitted"])
        est._after_load()
        return est

    # ---- hooks for subclasses -----------------------------------------------------------------
    def _fit(self, X, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, X):
        raise NotImplementedError(f"{type(self).__name__} has no out-of-sample predict; use fit_predict")

    def _transform(self, X):
        raise NotImplementedError(f"{type(self).__name__} has no embedding to transform into")

    def _check_params(self) -> None:
        """Validate hyperparameters (override to add checks)."""

    def _after_load(self) -> None:
        """Move loaded networks to the right device etc."""

    # ---- helpers ------------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "labels_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    def _check_new(self, X):
        X = check_X(X, min_samples=1)
        shape = getattr(self, "input_shape_", None)
        if shape is not None and int(np.prod(X.shape[1:])) != int(np.prod(shape)):
            raise InvalidInputError(f"X has {int(np.prod(X.shape[1:]))} features per sample but the model was "
                                    f"fitted on samples of shape {shape}")
        return X

    def __repr__(self, N_CHAR_MAX=700):
        return BaseEstimator.__repr__(self, N_CHAR_MAX)


def _to_cpu(v):
    import torch
    if isinstance(v, torch.nn.Module):
        return v.to("cpu")
    if isinstance(v, torch.Tensor):
        return v.detach().cpu()
    return v
