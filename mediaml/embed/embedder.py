"""The embedder interface and the registry of embedding backends by model name.

An :class:`Embedder` turns images (and, when it has a text tower, texts) into
L2-normalised ``float32`` vectors. Work is split in two so batches can be pipelined:
:meth:`Embedder.prepare` is the per-image CPU work (decode is done before it; resize,
normalise, compute features) and is safe to run in worker threads;
:meth:`Embedder.infer` turns a stacked batch of prepared inputs into vectors.

Backends register themselves by model name when ``mediaml.embed.backends`` is imported.
A model name always means one model: there is no fallback from a missing model to
another one, because ``model_name`` is what records which model made a stored vector.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mediaml.config import get_settings
from mediaml.embed.images import ImageLike
from mediaml.errors import ModelError


class Embedder(ABC):
    """A loaded embedding model.

    Attributes:
        name: the registered model name, stored with every vector.
        version: identifies the weights (stored as ``model_version``).
        dim: length of every vector.
        has_text: whether :meth:`embed_texts` works.
        batch_size: how many images :meth:`infer` takes at once on the batch path.
        decode_edge: the shortest edge :meth:`prepare` needs from an image file; JPEG
            files are then decoded at a reduced size that keeps at least this much
            (see :func:`~mediaml.embed.images.load_image`). None: full size.
        rendition: the name of the model-sized rendition this model embeds from
            (:meth:`render` makes it, :meth:`prepare_rendition` reads it), or None
            when it has none. Models whose preprocessing makes the same rendition
            share the name, so a stored rendition serves each of them.
    """

    name: str
    version: str
    dim: int
    has_text: bool = False
    batch_size: int = 32
    decode_edge: int | None = None
    rendition: str | None = None

    @abstractmethod
    def prepare(self, image: Image.Image) -> np.ndarray:
        """The model input for one decoded image (CPU work, thread-safe)."""

    def render(self, image: Image.Image) -> Image.Image:
        """The model-sized rendition of a fully decoded image: the 8-bit pixels
        :meth:`prepare` would compute the model input from (thread-safe).

        Raises:
            ModelError: this model has no rendition (:attr:`rendition` is None).
        """
        raise ModelError(f"model {self.name} has no model-sized rendition")

    def prepare_rendition(self, rendered: Image.Image) -> np.ndarray:
        """The model input for a rendition :meth:`render` made: the same array
        :meth:`prepare` gives for the image it was made from (thread-safe).

        Raises:
            MediaError: the image is not this model's rendition (wrong size).
            ModelError: this model has no rendition.
        """
        raise ModelError(f"model {self.name} has no model-sized rendition")

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Vectors for a stacked batch of :meth:`prepare` outputs.

        Returns:
            ``float32 (n, dim)``, every row of unit length.
        """

    def embed_images(self, images: Sequence[ImageLike]) -> np.ndarray:
        """Embed images given as paths, PIL images or arrays.

        Args:
            images: any number of images, including none.

        Returns:
            ``float32 (len(images), dim)``, L2-normalised rows in input order.

        Raises:
            MediaError: an image cannot be read; nothing is returned for the others.
        """
        from mediaml.embed.batching import embed_all

        return embed_all(self, images)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts with the model's text tower.

        Raises:
            ModelError: this model has no text tower.
        """
        raise ModelError(
            f"model {self.name} has no text tower, so it cannot embed or search text; "
            "use a CLIP model for text search"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} v{self.version} dim={self.dim}>"


@dataclass(frozen=True)
class Backend:
    """A registered model name: how to load it and how to tell whether it can be."""

    name: str
    summary: str
    load: Callable[[], Embedder]
    # (available, reason) without raising and without network access.
    check: Callable[[], tuple[bool, str]]


_BACKENDS: dict[str, Backend] = {}
_LOADED: dict[tuple[str, str], Embedder] = {}
_LOCK = threading.Lock()


def register(backend: Backend) -> None:
    """Make a model name loadable with :func:`get_embedder`."""
    _BACKENDS[backend.name] = backend


def backends() -> dict[str, Backend]:
    """Every model name that can be used: the built-in backends and installed plugins
    (entry-point group ``mediaml.embedders``, see :mod:`mediaml.plugins`)."""
    import mediaml.embed.backends  # noqa: F401  (registers the built-in backends)
    from mediaml.plugins import EMBEDDERS, load_plugins

    for plugin in load_plugins(EMBEDDERS, Backend).values():
        # A plugin never replaces a built-in model: a name means one model.
        _BACKENDS.setdefault(plugin.name, plugin)
    return dict(_BACKENDS)


def _backend(name: str) -> Backend:
    import mediaml.embed.backends  # noqa: F401  (registers the built-in backends)

    # Plugins are looked for only when a name is not known yet, so the hot path of an
    # embedding run does not scan installed packages.
    known = _BACKENDS if name in _BACKENDS else backends()
    if name not in known:
        raise ModelError(
            f"unknown embedding model {name!r}; known models: {', '.join(known)} "
            "(plugins add models through the mediaml.embedders entry point)"
        )
    return known[name]


def resolve_model_name(name: str | None) -> str:
    """``name``, or the default model (``MEDIAML_EMBED_MODEL``, ``auto`` resolved) when None."""
    from mediaml.embed.policy import default_model

    return name if name is not None else default_model()


def get_embedder(name: str | Embedder | None = None) -> Embedder:
    """The loaded embedder for a model name, loaded once per process.

    Args:
        name: a registered model name; None means ``MEDIAML_EMBED_MODEL``. An
            :class:`Embedder` is returned as is.

    Raises:
        ModelError: the name is unknown, or its files are missing and cannot be
            downloaded (the message names the folder and the files it expects).
    """
    if isinstance(name, Embedder):
        return name
    model = resolve_model_name(name)
    backend = _backend(model)
    # Models are found through MEDIAML_MODEL_DIR, so a change of folder is a new model.
    key = (model, str(get_settings().models_dir))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = backend.load()
        return _LOADED[key]


def model_available(name: str | None = None) -> tuple[bool, str]:
    """Whether a model can be loaded right now without network access, and why.

    Never raises and never downloads: a notebook or the demo uses it to pick a model
    and to tell the user why.

    Returns:
        ``(True, where it is)`` or ``(False, what is missing and where it was looked for)``.
    """
    model = resolve_model_name(name)
    known = backends()
    if model not in known:
        return False, f"unknown embedding model {model!r}; known models: {', '.join(known)}"
    return known[model].check()


def embed_images(images: Sequence[ImageLike], model: str | None = None) -> np.ndarray:
    """Embed images with a model (default ``MEDIAML_EMBED_MODEL``).

    Args:
        images: file paths, PIL images or numpy arrays.
        model: a registered model name.

    Returns:
        ``float32 (len(images), dim)``, L2-normalised.

    Raises:
        MediaError: an image cannot be read.
        ModelError: the model cannot be loaded.
    """
    return get_embedder(model).embed_images(images)


def embed_texts(texts: Sequence[str], model: str | None = None) -> np.ndarray:
    """Embed texts with a model's text tower (default ``MEDIAML_EMBED_MODEL``).

    Texts longer than the model's context (77 tokens for CLIP) are truncated.

    Returns:
        ``float32 (len(texts), dim)``, L2-normalised.

    Raises:
        ModelError: the model has no text tower or cannot be loaded.
    """
    if isinstance(texts, str):
        texts = [texts]
    return get_embedder(model).embed_texts(texts)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as ``float32``.

    Raises:
        ModelError: a row is zero or not finite (the model produced garbage).
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if vectors.size and (not np.isfinite(norms).all() or (norms == 0).any()):
        raise ModelError("the model returned a zero or non-finite vector; the model file is broken")
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)
