"""Embedding backends, one per file; importing this package registers them by model name."""

from mediaml.embed.backends import clip_onnx, descriptor

__all__ = ["clip_onnx", "descriptor"]
