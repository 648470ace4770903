"""Model-sized renditions of keyframes: embedding without decoding and resizing 720p JPEGs.

A model's exact input for a keyframe is computed from a small 8-bit image: the keyframe
resized and centre-cropped (224 x 224 for CLIP, :meth:`Embedder.render`). The keyframe
stage stores that image next to each keyframe as a lossless PNG, made from the keyframe
JPEG decoded at full size. The model input read back from it is, bit for bit, the exact
preprocessing of the keyframe (:meth:`Embedder.prepare_rendition`), and reading it costs
about 2 ms of CPU instead of the ~8-12 ms of decoding and resizing a 720p JPEG, CPU that
a small machine otherwise takes from the model.

A rendition is named for the preprocessing that made it (:attr:`Embedder.rendition`),
and its object key carries the name (:func:`mediaml.storage.keys.rendition_key`), so a
model whose preprocessing differs never reads it: it embeds from the keyframe itself.
Keyframes without a rendition (catalogues made before renditions, or keyframes extracted
while the model could not be loaded) are embedded from the keyframe as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediaml.embed.embedder import Embedder
from mediaml.embed.images import ImageLike, load_image
from mediaml.errors import MediaError, ModelError
from mediaml.files import atomic_path

RENDITION_SUFFIX = ".png"
"""Renditions are PNG: lossless, half a 720p keyframe JPEG's size, ~2 ms to read."""
_PNG_LEVEL = 1  # as small as the default level on photos, and several times faster to write


@dataclass(frozen=True)
class Rendition:
    """A keyframe to embed together with its stored rendition.

    Attributes:
        path: the rendition file (:func:`write_rendition` wrote it).
        name: the rendition name it was made for (:attr:`Embedder.rendition`).
        keyframe: the keyframe it was made from, which a model with another rendition
            name (or none) embeds instead; None when only the rendition's model will
            embed it (the pipeline then does not fetch the keyframe).
    """

    path: Path
    name: str
    keyframe: ImageLike | None = None


EmbedInput = ImageLike | Rendition
"""What the batch path embeds: an image, or a keyframe with its rendition."""


def write_rendition(embedder: Embedder, keyframe: ImageLike, out: Path) -> Path:
    """Write ``embedder``'s rendition of ``keyframe`` to ``out`` (PNG, atomically).

    The keyframe is decoded at full size, so the rendition is the exact one.

    Returns:
        ``out``.

    Raises:
        MediaError: the keyframe cannot be read.
        ModelError: the model has no rendition.
    """
    if embedder.rendition is None:
        raise ModelError(f"model {embedder.name} has no model-sized rendition")
    rendered = embedder.render(load_image(keyframe))
    with atomic_path(out) as tmp:
        rendered.save(tmp, format="PNG", compress_level=_PNG_LEVEL)
    return out


def model_input(embedder: Embedder, item: EmbedInput) -> np.ndarray:
    """The model input of one item: from its rendition when it is ``embedder``'s, else
    from the image (JPEG files decoded at reduced size, see :attr:`Embedder.decode_edge`).

    Raises:
        MediaError: the file cannot be read, a rendition has the wrong size, or it is
            another model's and its keyframe was not given.
    """
    if isinstance(item, Rendition):
        if item.name == embedder.rendition:
            return embedder.prepare_rendition(load_image(item.path))
        if item.keyframe is None:
            raise MediaError(
                f"{item.path} is a {item.name} rendition, which model {embedder.name} does "
                "not read; embed the keyframe it was made from"
            )
        item = item.keyframe
    return embedder.prepare(load_image(item, embedder.decode_edge))
