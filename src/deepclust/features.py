"""Frozen pretrained-CNN features for clustering (DCAN spec 004 §2.6: ResNet18 512-d for SVHN/MNIST,
ResNet50 2048-d "avg pool" for CIFAR-10).

`extract_features(X, model="resnet50", weights="DEFAULT")` returns the global-average-pooled features
(the input of the network's `fc` layer) of every image, as an N x F float32 array that any deepclust method
accepts. torchvision is an optional dependency (`pip install torchvision`); with `weights="DEFAULT"` the
ImageNet weights are loaded from torch's cache (~/.cache/torch/hub/checkpoints) or downloaded once.

Preprocessing (spec §2.6 defaults): images in [0, 1]; grey images are replicated to 3 channels; bilinear
resize to `image_size` (224); ImageNet mean/std normalisation. The extractor is never fine-tuned.
"""
from __future__ import annotations

import numpy as np

from .errors import DeepclustError, InvalidInputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MissingDependencyError(DeepclustError, ImportError):
    """An optional dependency (torchvision) or its pretrained weights are not available."""


def _torchvision():
    try:
        import torchvision  # noqa: F401
        import torchvision.models  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(
            "extract_features needs torchvision, which is not installed (it is an optional dependency of "
            f"deepclust): run `pip install torchvision` ({e})") from None
    return torchvision


def _as_images(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 2:
        side = int(round(np.sqrt(X.shape[1])))
        if side * side == X.shape[1]:
            X = X.reshape(len(X), 1, side, side)
        elif X.shape[1] % 3 == 0 and int(round(np.sqrt(X.shape[1] // 3))) ** 2 * 3 == X.shape[1]:
            side = int(round(np.sqrt(X.shape[1] // 3)))
            X = X.reshape(len(X), 3, side, side)
        else:
            raise InvalidInputError(f"extract_features needs images; got flat vectors of {X.shape[1]} features that "
                                    "are not square grey or RGB images; pass N x C x H x W")
    elif X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4 or X.shape[1] not in (1, 3):
        raise InvalidInputError(f"extract_features needs N x C x H x W images with C = 1 or 3, got shape {X.shape}")
    if len(X) == 0:
        raise InvalidInputError("extract_features got no images")
    if not np.isfinite(X).all():
        raise InvalidInputError("images contain NaN or infinite values")
    return X


def load_backbone(model: str = "resnet50", weights="DEFAULT"):
    """torchvision classification model `model` with its `fc` replaced by identity, in eval mode."""
    import torch
    tv = _torchvision()
    try:
        net = tv.models.get_model(model, weights=weights)
    except (ValueError, KeyError) as e:
        raise InvalidInputError(f"unknown torchvision model or weights: model={model!r}, weights={weights!r} ({e}); "
                                "use e.g. model='resnet18' or 'resnet50' and weights='DEFAULT' or None") from None
    except (OSError, RuntimeError) as e:  # URLError is an OSError; hub download failures raise RuntimeError
        raise MissingDependencyError(
            f"the pretrained weights {weights!r} of {model} could not be loaded or downloaded ({e}). Offline: copy "
            "the .pth file torchvision names into ~/.cache/torch/hub/checkpoints/ (or $TORCH_HOME), or pass "
            "weights=None for random (untrained) weights") from None
    if not hasattr(net, "fc"):
        raise InvalidInputError(f"model {model!r} has no `fc` layer; extract_features supports ResNet-style models "
                                "(resnet18, resnet34, resnet50, ...)")
    net.fc = torch.nn.Identity()
    return net.eval()


def extract_features(X, model: str = "resnet50", weights="DEFAULT", *, batch_size: int = 64, device: str = "auto",
                     image_size: int | None = 224, normalize: bool = True, verbose: int = 0) -> np.ndarray:
    """Frozen ImageNet-CNN features of images X (N x C x H x W, N x H x W, or flat square images, values in
    [0, 1]). Returns N x F float32 (F = 512 for resnet18/34, 2048 for resnet50).

    weights: "DEFAULT" (torchvision's best ImageNet weights), a torchvision weights name/enum, or None
    (random initialisation; for tests). Raises MissingDependencyError when torchvision or the weights are
    unavailable."""
    import torch
    import torch.nn.functional as F

    from .engine.device import resolve_device

    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    X = _as_images(X)
    dev = resolve_device(device)
    net = load_backbone(model, weights).to(dev)
    mean = torch.tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
    out = []
    it = range(0, len(X), batch_size)
    if verbose:
        from tqdm.auto import tqdm
        it = tqdm(it, desc=f"{model} features", unit="batch")
    with torch.no_grad():
        for s in it:
            b = torch.from_numpy(X[s:s + batch_size]).to(dev)
            if b.shape[1] == 1:
                b = b.expand(-1, 3, -1, -1)
            if image_size and tuple(b.shape[-2:]) != (image_size, image_size):
                b = F.interpolate(b, size=(image_size, image_size), mode="bilinear", align_corners=False)
            if normalize:
                b = (b - mean) / std
            f = net(b)
            out.append(f.reshape(len(b), -1).float().cpu())
    return torch.cat(out).numpy()


__all__ = ["extract_features", "load_backbone", "MissingDependencyError", "IMAGENET_MEAN", "IMAGENET_STD"]
