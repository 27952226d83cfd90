"""The estimator contract shared by every method (scikit-learn conventions).

Hyperparameters are declared as dataclass fields, so `__init__` only stores them and `get_params` /
`set_params` / `clone` work as in scikit-learn. A method implements `_fit(X, y)` and, where defined,
`_predict(X)` / `_transform(X)`.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import time
import typing
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from ..errors import DeepclustError, InvalidInputError, NotFittedError, UnknownNameError
from .validation import check_n_clusters, check_X, check_y, image_shape_of

estimator = dataclasses.dataclass(repr=False, eq=False)  # decorator for every estimator class


@estimator
class BaseClusterer(ClusterMixin, BaseEstimator):
    """Base of all deepclust estimators. Fitted attributes end with an underscore."""

    n_clusters: int = 10

    presets: ClassVar[dict] = {"paper": {}}
    min_samples: ClassVar[int] = 2
    # load_dataset options the method's paper used on a registered dataset, e.g. {"usps": {"scale": "minus1-1"}};
    # the CLI applies them with every preset (explicit --scale/--resize win) and `deepclust methods NAME` shows them
    paper_data: ClassVar[dict] = {}
    # numeric parameters allowed below 0 (every other number must be >= 0; see validate_params)
    signed_params: ClassVar[frozenset] = frozenset({"n_jobs"})  # n_jobs=-1: all cores (scikit-learn's convention)
    uses_images: ClassVar[bool] = False  # X must be images (or flattened square images)

    # ---- public API ---------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit on X (n_samples x n_features, or n x C x H x W). `y`, if given, is only used to log
        ACC/NMI during training, never to learn."""
        self.validate_params()
        X = check_X(X, min_samples=max(self.min_samples, 2))
        self.check_input(X)
        y = check_y(y, X.shape[0])
        t0 = time.time()
        self.__dict__.pop("fit_seconds_", None)
        self._fit(X, y)
        if "fit_seconds_" not in self.__dict__:  # neural methods set it (training time, resumes included)
            self.fit_seconds_ = time.time() - t0
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        return self

    def fit_predict(self, X, y=None):
        return self.fit(X, y).labels_

    def fit_transform(self, X, y=None):
        """fit(X) then transform(X) (scikit-learn convention)."""
        return self.fit(X, y).transform(X)

    # ---- checks that need no training ---------------------------------------------------------
    def validate_params(self) -> None:
        """Check every hyperparameter without data (InvalidInputError naming the parameter): types from the
        field annotations (int, float, bool, str, tuple, dict, "| None"), numbers finite and >= 0 unless
        listed in `signed_params`, learning rates (`lr`, `*_lr`) > 0, batch sizes and layer sizes >= 1,
        n_clusters >= 2, random_state None or in [0, 2**32); then the method's own `_check_params`.
        `fit` calls it first; the CLI calls it before a run folder exists."""
        name = type(self).__name__
        hints = _hints(type(self))
        check_n_clusters(self.n_clusters, None)
        for f in dataclasses.fields(self):
            if f.name != "n_clusters":
                _check_field(name, f.name, getattr(self, f.name), hints.get(f.name), f.default, self.signed_params)
        rs = getattr(self, "random_state", None)
        if rs is not None and not (isinstance(rs, (int, np.integer)) and 0 <= rs < 2**32):
            raise InvalidInputError(f"{name}: random_state (the seed) must be an integer in [0, 2**32) or None, got {rs!r}")
        try:
            self._check_params()
        except DeepclustError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as e:  # a check that choked on a bad value
            raise InvalidInputError(f"{name}: invalid parameter value ({type(e).__name__}: {e})") from None

    def check_input(self, X) -> None:
        """Whether data shaped like X suits this method (n_clusters <= n_samples, images for convolutional
        methods), without training. X needs only .shape and .ndim; the CLI calls it before a run folder exists."""
        n = int(X.shape[0])
        check_n_clusters(self.n_clusters, n)
        if self.uses_images and getattr(self, "image_shape", None) is None:
            image_shape_of(X, None, method=type(self).__name__)

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

    @classmethod
    def load(cls, path, device: str | None = None) -> "BaseClusterer":
        """Load a model saved with `save`. The file is a pickle: only load files you trust.
        `BaseClusterer.load` / `DeepClusterer.load` load any method's file; a method's own class
        (`DCEC.load`) refuses a file saved by another method."""
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
        found = getattr(importlib.import_module(mod), name)
        if not _accepts(cls, found):
            raise InvalidInputError(f"{path} holds a {found.__name__} model, not {cls.__name__}; load it with "
                                    f"{found.__name__}.load or deepclust.engine.base.BaseClusterer.load")
        est = found(**blob["params"])
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


def _accepts(cls, found) -> bool:
    """`cls.load` accepts a file of class `found`: a registered method only its own files; a base class
    (BaseClusterer, DeepClusterer, a user's unregistered class) any subclass."""
    if found is cls:
        return True
    try:
        from ..methods import registry
        registered = cls in registry().values()
    except ImportError:  # pragma: no cover
        registered = False
    return not registered and issubclass(found, cls)


def _hints(cls) -> dict:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve: check nothing by type
        return {}


_NONE = type(None)


def _kinds(hint) -> tuple[set, bool] | None:
    """({"int", "float", "bool", "str", "tuple", "dict"} the annotation allows, None allowed) or None
    when the annotation is not one of those (then the value is not checked by type)."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)) else (hint,)
    kinds, optional = set(), False
    for a in args:
        a = typing.get_origin(a) or a
        if a is _NONE:
            optional = True
        elif a in (int, float, bool, str, tuple, dict, list):
            kinds.add("tuple" if a is list else a.__name__)
        else:
            return None
    return kinds, optional


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_field(cls_name, name, v, hint, default, signed) -> None:
    kinds = _kinds(hint) if hint is not None else None
    if kinds is None:
        return
    allowed, optional = kinds

    def bad(what):
        raise InvalidInputError(f"{cls_name}: {name} must be {what}, got {v!r}")

    if v is None:
        if optional:
            return
        bad("given (None is not allowed)")
    if "bool" in allowed and isinstance(v, (bool, np.bool_)):
        return
    number = None
    if "int" in allowed and _is_int(v):
        number = v
    elif "float" in allowed and (_is_int(v) or isinstance(v, (float, np.floating))):
        number = float(v)
        if not math.isfinite(number):
            bad("a finite number")
    elif "str" in allowed and isinstance(v, str):
        return
    elif "tuple" in allowed and (isinstance(v, (tuple, list)) or (isinstance(v, np.ndarray) and v.ndim == 1)):
        if isinstance(default, tuple) and default and all(_is_int(x) for x in default):
            if not all(_is_int(x) and x >= 1 for x in v):  # layer widths, filters
                bad("a tuple of positive integers, e.g. " + repr(default))
        return
    elif "dict" in allowed and isinstance(v, dict):
        return
    if number is None:
        words = {"int": "an integer", "float": "a number", "bool": "True or False", "str": "a string",
                 "tuple": "a tuple", "dict": "a dict"}
        bad(" or ".join(words[k] for k in sorted(allowed)) + (" or None" if optional else ""))
    if name == "lr" or name.endswith("_lr"):
        if not number > 0:
            bad("> 0 (a learning rate)")
    elif "batch" in name and "int" in allowed:
        if number < 1:
            bad("a positive integer (a batch size)")
    elif number < 0 and name not in signed:
        bad(">= 0")


def _to_cpu(v):
    import torch
    if isinstance(v, torch.nn.Module):
        return v.to("cpu")
    if isinstance(v, torch.Tensor):
        return v.detach().cpu()
    return v
