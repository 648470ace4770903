"""Embeddings and search: image (and text) vectors for clips, stored and searched with pgvector.

Models, by name (``MEDIAML_EMBED_MODEL`` picks the default):

* ``clip-vit-base-patch32`` — CLIP ViT-B/32 in ONNX Runtime, files in the
  ``Xenova/clip-vit-base-patch32`` layout under ``MEDIAML_MODEL_DIR``, else downloaded
  once from the Hugging Face Hub. Images and text.
* ``clip-vit-base-patch32-int8`` — the same with int8-quantised weights.
* ``mediaml-descriptor-v1`` — weight-free colour/layout/edge descriptor that runs
  anywhere; images only.

Example::

    from mediaml import embed
    ok, why = embed.model_available("clip-vit-base-patch32")
    vectors = embed.embed_images(["a.jpg", "b.jpg"], model="mediaml-descriptor-v1")
    embed.embed_clips(None, [(clip_id, keyframe_paths)], model="mediaml-descriptor-v1")
    embed.similar(clip_id, k=24, model="mediaml-descriptor-v1")
"""

# The built-in backends register first, so the subpackage `mediaml.embed.backends` is
# already imported when the name `backends` is bound to the function below (importing a
# subpackage later would otherwise rebind the name to the module).
import mediaml.embed.backends as _builtin_backends  # noqa: F401
from mediaml.embed.clips import EmbedReport, embed_clip, embed_clips
from mediaml.embed.embedder import (
    Embedder,
    backends,
    embed_images,
    embed_texts,
    get_embedder,
    model_available,
)
from mediaml.embed.export import embeddings, variants
from mediaml.embed.search import random_clip, search_text, similar
from mediaml.embed.store import upsert_embeddings
from mediaml.embed.strategies import STRATEGIES, vectors_for_strategy
from mediaml.embed.warm import warm_search

__all__ = [
    "STRATEGIES",
    "EmbedReport",
    "Embedder",
    "backends",
    "embed_clip",
    "embed_clips",
    "embed_images",
    "embed_texts",
    "embeddings",
    "get_embedder",
    "model_available",
    "random_clip",
    "search_text",
    "similar",
    "upsert_embeddings",
    "variants",
    "vectors_for_strategy",
    "warm_search",
]
