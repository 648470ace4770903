"""mediaml: turn raw video into reviewed, searchable clips.

Everything a notebook needs is importable from here; nothing has to be started first
(with no ``DATABASE_URL`` an embedded PostgreSQL is started on first use)::

    import mediaml
    mediaml.run_pipeline("footage/*.mp4", until="review")   # ingest, encode, detect shots
    mediaml.clips(state="pending_review")                    # DataFrame with thumbnails
    mediaml.similar(clip_id=3, k=12)                         # nearest clips by embedding
    mediaml.reel([3, 7, 9], "reel.mp4", crossfade=0.5)         # clips joined into one MP4
"""

from __future__ import annotations

from typing import Any

# Callable: mediaml.review(clip_id, "approve", reviewer="ana"); also mediaml.review.undo(...).
from mediaml import review
from mediaml.catalog import clips, cuts, status, videos
from mediaml.db import connect
from mediaml.errors import MediamlError
from mediaml.exchange import export_parquet, import_parquet
from mediaml.pipeline import ingest, retry, run_pipeline

__version__ = "0.1.0"

# Heavier parts load on first use, so `import mediaml` stays quick.
_LAZY = {
    "probe": "mediaml.media",
    "detect_cuts": "mediaml.media",
    "detect_scores": "mediaml.media",
    "cut_clip": "mediaml.media",
    "keyframes": "mediaml.media",
    "embed_images": "mediaml.embed",
    "embed_texts": "mediaml.embed",
    "similar": "mediaml.embed",
    "search_text": "mediaml.embed",
    "random_clip": "mediaml.embed",
    "embeddings": "mediaml.embed",
    "warm_search": "mediaml.embed",
    "reel": "mediaml.reels",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return getattr(module, "extract_keyframes" if name == "keyframes" else name)
    raise AttributeError(f"module 'mediaml' has no attribute {name!r}")


__all__ = [
    "MediamlError",
    "__version__",
    "clips",
    "connect",
    "cut_clip",
    "cuts",
    "detect_cuts",
    "detect_scores",
    "embed_images",
    "embed_texts",
    "embeddings",
    "export_parquet",
    "import_parquet",
    "ingest",
    "keyframes",
    "probe",
    "random_clip",
    "reel",
    "retry",
    "review",
    "run_pipeline",
    "search_text",
    "similar",
    "status",
    "videos",
    "warm_search",
]
