"""Masquerade: face swapping with the classic deepfake autoencoder, labelled as synthetic by construction."""

__version__ = "0.1.0"
