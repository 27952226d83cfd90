"""Checkpoints: the whole training state (networks, optimisers, tensors, phase cursor, RNG states) in
one atomically written file, so a killed run resumes exactly where the last checkpoint left it."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CorruptFileError
from .io import torch_save

LATEST = "latest.pt"


class Checkpointer:
    def __init__(self, directory):
        self.dir = Path(directory)

    @property
    def latest(self) -> Path:
        return self.dir / LATEST

    def exists(self) -> bool:
        return self.latest.is_file()

    def save(self, payload: dict, phase_end: str | None = None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        torch_save(self.latest, payload)
        if phase_end is not None:
            torch_save(self.dir / f"after-{phase_end}.pt", payload)

    def load(self, map_location=None) -> dict:
        try:
            return torch.load(self.latest, map_location=map_location, weights_only=False)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise CorruptFileError(f"checkpoint {self.latest} could not be read ({e}); delete it to start "
                                   "over, or resume from an after-<phase>.pt file by copying it to latest.pt") from None
