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
    from ..errors import InvalidInputError
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise InvalidInputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInputError(f"device={device!r} requested but CUDA is not available; use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidInputError(f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                                    f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InvalidInputError(f"device={device!r} requested but Apple MPS is not available on this machine; "
                                    "use device='cpu' or 'auto'")
    if dev.type == "cpu" and dev.index not in (None, 0):
        raise InvalidInputError(f"device={device!r}: use 'cpu' (the CPU has no device index)")
    return dev


PRECISIONS = ("auto", "fp32", "bf16", "bf16-native")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 matrices in hardware: CUDA GPUs with bf16, CPUs with AMX tiles or
    AVX512-BF16 (elsewhere bf16 is emulated and slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        return any(bool(getattr(cpu, f, lambda: False)()) for f in ("_is_amx_tile_supported",
                                                                    "_is_avx512_bf16_supported"))
    return False


@contextlib.contextmanager
def flush_denormals(enabled: bool = True):
    """CPU arithmetic with subnormal floats flushed to zero inside the block (torch.set_flush_denormal),
    switched off again afterwards (torch's default).

    Why: Adam's moment estimates of weights whose gradient is exactly zero (dead ReLU units) decay
    geometrically into the subnormal range (< 1.2e-38), where x86 arithmetic is many times slower; a
    DEC pretraining on USPS slowed from 1.2 to 2 s per epoch over 50 epochs without it
    (benchmarks/results/throughput/denormals-dec-usps.json). Only values below 1.2e-38 change (to 0)."""
    if not enabled or not torch.set_flush_denormal(True):  # False: this CPU cannot (no SSE3)
        yield
        return
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def autocast(device: torch.device, enabled: bool = True, precision: str = "auto"):
    """Mixed precision of the training steps.

    "auto": bf16 autocast on CUDA GPUs that support it, fp32 elsewhere; "fp32": never; "bf16": bf16
    autocast on any device, CPUs included; "bf16-native": bf16 where the hardware multiplies bf16 natively
    (`native_bf16`: on this project's CPU, with AMX, one thread multiplies 2048^2 bf16 matrices 5.9x faster
    than fp32 and runs a DEC-network training step 2.1-2.3x, a DCEC CAE step 1.2-1.7x faster:
    `benchmarks/throughput.py --threads 1 --precision bf16`, results/throughput/dec-family-cpu-1thread*.json),
    fp32 elsewhere.
    `enabled=False` (deterministic runs) turns "auto" off; an explicit "bf16" is kept."""
    if precision not in PRECISIONS:
        from ..errors import InvalidInputError
        raise InvalidInputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "bf16-native":
        precision = "bf16" if native_bf16(device) else "fp32"
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            from ..errors import InvalidInputError
            raise InvalidInputError("precision='bf16' requested but this GPU has no bf16 support; use 'auto'")
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "auto" and enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def full_precision(t: torch.Tensor):
    """A block computed in fp32 even inside an autocast region (distances, soft assignments, losses)."""
    return torch.autocast(t.device.type, enabled=False)


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
