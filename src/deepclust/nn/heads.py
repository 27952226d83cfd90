"""Clustering heads attached to an embedding."""
from __future__ import annotations

import torch
from torch import nn

from ..engine.assignment import student_t


class ClusteringHead(nn.Module):
    """Trainable centres mu (k x d) giving the Student-t soft assignment q (DEC Eq. 1)."""

    def __init__(self, centers, alpha: float = 1.0):
        super().__init__()
        self.centers = nn.Parameter(torch.as_tensor(centers, dtype=torch.float32).clone())
        self.alpha = alpha

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return student_t(z, self.centers, self.alpha)
