"""Checkpoints: the whole training state (networks, optimisers, tensors, phase cursor, RNG states) in
one atomically written file, so a killed run resumes exactly where the last checkpoint left it.

`latest.pt` is always a complete checkpoint: it is replaced atomically (engine/io.py), so a run killed
while writing it keeps the previous one. `after-<phase>.pt` keeps the state at the end of each phase.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from ..errors import CorruptFileError
from .io import ensure_writable_dir, remove_stale_temps, torch_save, write_bytes

LATEST = "latest.pt"


def serialize(payload: dict) -> bytes:
    """A checkpoint payload as bytes (what is written to disk, or kept in memory for rollbacks)."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def deserialize(data: bytes, map_location=None) -> dict:
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)


class Checkpointer:
    def __init__(self, directory):
        self.dir = Path(directory)

    @property
    def latest(self) -> Path:
        return self.dir / LATEST

    def exists(self) -> bool:
        return self.latest.is_file()

    def check_writable(self, need_bytes: int = 10 * 2**20) -> None:
        """Fail before training starts when the checkpoint folder cannot be written (DeepclustError)."""
        ensure_writable_dir(self.dir, need_bytes, what="checkpoint folder",
                            hint="set checkpoint_dir to another folder")
        remove_stale_temps(self.dir)  # leftovers of a write killed mid-way

    def save(self, payload: dict, phase_end: str | None = None) -> None:
        self.save_bytes(serialize(payload), phase_end)

    def save_bytes(self, data: bytes, phase_end: str | None = None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_bytes(self.latest, data)
        if phase_end is not None:
            write_bytes(self.dir / f"after-{phase_end}.pt", data)

    def load(self, map_location=None) -> dict:
        try:
            return torch.load(self.latest, map_location=map_location, weights_only=False)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise CorruptFileError(f"checkpoint {self.latest} could not be read ({e}); delete it to start "
                                   "over, or resume from an after-<phase>.pt file by copying it to latest.pt") from None


__all__ = ["Checkpointer", "LATEST", "serialize", "deserialize", "torch_save"]
