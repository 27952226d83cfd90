"""Reusable network blocks: fully connected and convolutional autoencoders, clustering heads."""
from .autoencoders import ConvAutoencoder, MLPAutoencoder, mlp, xavier_init  # noqa: F401
from .heads import ClusteringHead  # noqa: F401
