"""Clustering heads attached to an embedding."""
from __future__ import annotations

import torch
from torch import nn

from ..engine.assignment import student_t, target_distribution


class ClusteringHead(nn.Module):
    """Trainable centres mu (k x d) giving the Student-t soft assignment q (DEC Eq. 1)."""

    def __init__(self, centers, alpha: float = 1.0):
        super().__init__()
        self.centers = nn.Parameter(torch.as_tensor(centers, dtype=torch.float32).clone())
        self.alpha = alpha

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return student_t(z, self.centers, self.alpha)


class MultiLevelHead(nn.Module):
    """One set of trainable centres per level of a cluster hierarchy (level 0 = the s clusters that
    label the data). forward(z) = the levels' Student-t assignments side by side (n x sum_l k_l), so
    KL(P || Q) on it is the sum of the levels' KL terms; `target(q)` = DEC's target per level;
    `labels(q)` = argmax of level 0; `centers` = level-0 centres (used by predict)."""

    def __init__(self, centers_per_level, alpha: float = 1.0):
        super().__init__()
        self.levels = nn.ParameterList([nn.Parameter(torch.as_tensor(c, dtype=torch.float32).clone())
                                        for c in centers_per_level])
        self.alpha = alpha

    @property
    def centers(self) -> torch.Tensor:
        return self.levels[0]

    @property
    def sizes(self) -> list[int]:
        return [int(c.shape[0]) for c in self.levels]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([student_t(z, c, self.alpha) for c in self.levels], dim=1)

    def blocks(self, q: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(q, self.sizes, dim=1))

    def target(self, q: torch.Tensor) -> torch.Tensor:
        return torch.cat([target_distribution(b) for b in self.blocks(q)], dim=1)

    def labels(self, q: torch.Tensor) -> torch.Tensor:
        return self.blocks(q)[0].argmax(1)


class RefreshedCentresHead(nn.Module):
    """Student-t assignment to centres that are not trained but replaced from outside (e.g. the means of
    a fresh partition at every target update); their number may change between replacements."""

    def __init__(self, centers, alpha: float = 1.0):
        super().__init__()
        self.register_buffer("centers", torch.as_tensor(centers, dtype=torch.float32).clone())
        self.alpha = alpha

    def set_centers(self, centers) -> None:
        self.centers = torch.as_tensor(centers, dtype=torch.float32, device=self.centers.device).clone()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return student_t(z, self.centers, self.alpha)
