"""Device choice, precision and seeding."""
from __future__ import annotations

import contextlib
import os
import random
import zlib

import numpy as np
import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """"auto" picks CUDA, then Apple MPS, then CPU. Explicit names are checked."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        from ..errors import InvalidInputError
        raise InvalidInputError(f"device={device!r} requested but CUDA is not available; use device='cpu' or 'auto'")
    return dev


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on GPUs that support it; a no-op elsewhere (CPU trains in fp32)."""
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and PyTorch (all devices). Same seed + same device => same labels on CPU."""
    if seed is None:
        return
    seed = int(seed) % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def derive_seed(seed: int | None, *keys) -> int:
    """A seed for a sub-stream (phase, epoch...) that does not depend on how much was consumed before;
    this is what makes resumed runs reproduce uninterrupted ones."""
    base = 0 if seed is None else int(seed)
    h = np.random.SeedSequence([base] + [k if isinstance(k, int) and k >= 0 else zlib.crc32(str(k).encode())
                                         for k in keys])
    return int(h.generate_state(1)[0])


def generator(seed: int | None, *keys, device="cpu") -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(derive_seed(seed, *keys))
    return g


def rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
