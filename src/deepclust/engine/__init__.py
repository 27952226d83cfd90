"""Shared machinery of every deep method: estimator base classes, data on the device, devices and
seeding, soft assignments and target distributions, training loops, checkpoints, atomic writes."""
from .base import BaseClusterer, estimator  # noqa: F401
from .deep import DeepClusterer, Fit  # noqa: F401
