"""Embedding clips from their keyframes and storing the result: one clip, or many at speed.

:func:`embed_clips` is the throughput path the pipeline and notebooks use: keyframes of
all clips flow through one pipelined batch stream (decode/preprocess ahead in a thread
pool while ONNX Runtime runs the current batch), and the finished clips of each batch
are written in one transaction. A clip whose keyframes cannot be read is reported in
the result and the others go on.

A keyframe may be given as a :class:`~mediaml.embed.renditions.Rendition` (the keyframe
with its stored model-sized rendition): the model then reads the rendition, which gives
the exact preprocessing of the keyframe for a fraction of the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mediaml.db.database import Connection, Database, get_db
from mediaml.embed.batching import embed_all, embed_batches
from mediaml.embed.embedder import Embedder, get_embedder
from mediaml.embed.renditions import Rendition
from mediaml.embed.store import upsert_many
from mediaml.embed.strategies import keyframes_for_strategy, resolve_strategy, vectors_for_strategy
from mediaml.errors import MediaError


@dataclass
class EmbedReport:
    """What :func:`embed_clips` did.

    Attributes:
        model: the model name the vectors were stored under.
        strategy: the generation strategy.
        rows: rows written per embedded clip.
        failed: an error message per clip that could not be embedded.
    """

    model: str
    strategy: str
    rows: dict[int, int] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return sum(self.rows.values())


def _no_keyframes(clip_id: int) -> str:
    return f"clip {clip_id} has no keyframes to embed; extract its keyframes first"


def embed_clip(
    conn: Connection,
    clip_id: int,
    keyframe_paths: Sequence[Path | Rendition],
    *,
    model: str | Embedder | None = None,
    strategy: str | None = None,
) -> int:
    """Embed one clip's keyframes and store the vectors (replacing earlier ones).

    Args:
        conn: a connection inside the caller's transaction.
        clip_id: the clip.
        keyframe_paths: its keyframe images in frame order (each a path, or a
            :class:`Rendition` with its keyframe); ``keyframe_single`` uses the middle one.
        model: a model name (default ``MEDIAML_EMBED_MODEL``) or a loaded embedder.
        strategy: the generation strategy (default ``MEDIAML_EMBED_STRATEGY``).

    Returns:
        The number of rows written.

    Raises:
        MediaError: no keyframes, or one cannot be read.
        ModelError: the model cannot be loaded, or its dimension differs from the
            vectors stored under its name.
        NotFoundError: the clip does not exist.
    """
    embedder = get_embedder(model)
    strategy = resolve_strategy(strategy)
    selected = keyframes_for_strategy(list(keyframe_paths), strategy)
    if not selected:
        raise MediaError(_no_keyframes(clip_id))
    vectors = vectors_for_strategy(embed_all(embedder, selected), strategy)
    return upsert_many(conn, [(clip_id, vectors)], embedder, strategy)


def embed_clips(
    db: Database | None,
    items: Sequence[tuple[int, Sequence[Path | Rendition]]],
    *,
    model: str | Embedder | None = None,
    strategy: str | None = None,
    progress: Callable[[int], object] | None = None,
    batch_size: int | None = None,
) -> EmbedReport:
    """Embed many clips' keyframes with pipelined batches and store them in bulk.

    Args:
        db: the database (None: the process default).
        items: ``(clip_id, keyframes in frame order)`` per clip; a keyframe is a path,
            or a :class:`Rendition` with its keyframe.
        model: a model name (default ``MEDIAML_EMBED_MODEL``) or a loaded embedder.
        strategy: the generation strategy (default ``MEDIAML_EMBED_STRATEGY``).
        progress: called with the number of clips just finished (e.g. a tqdm bar's
            ``update``), after each batch is stored.
        batch_size: images per model run (default: the model's).

    Returns:
        An :class:`EmbedReport`: rows per stored clip, and a message per clip that
        failed (no keyframes, unreadable image) — those are not stored.

    Raises:
        ModelError: the model cannot be loaded or does not match what is stored.
        NotFoundError: a clip does not exist.
    """
    database = db if db is not None else get_db()
    embedder = get_embedder(model)
    strategy = resolve_strategy(strategy)
    report = EmbedReport(model=embedder.name, strategy=strategy)

    owners: list[int] = []  # flattened image index -> position of its clip in `items`
    paths: list[Path | Rendition] = []
    remaining: list[int] = []  # images still to come per clip
    for position, (clip_id, keyframes) in enumerate(items):
        selected = keyframes_for_strategy(list(keyframes), strategy)
        if not selected:
            report.failed[int(clip_id)] = _no_keyframes(int(clip_id))
        owners.extend([position] * len(selected))
        paths.extend(selected)
        remaining.append(len(selected))
    if progress is not None and report.failed:
        progress(len(report.failed))

    vectors: dict[int, dict[int, np.ndarray]] = {}
    for batch in embed_batches(embedder, paths, batch_size=batch_size):
        finished: list[int] = []
        for index, vector in zip(batch.indices, batch.vectors, strict=True):
            position = owners[index]
            vectors.setdefault(position, {})[index] = vector
        for index, error in batch.errors.items():
            clip_id = int(items[owners[index]][0])
            report.failed.setdefault(clip_id, str(error))
        for index in sorted({*batch.indices, *batch.errors}):
            position = owners[index]
            remaining[position] -= 1
            if remaining[position] == 0:
                finished.append(position)
        ready: list[tuple[int, np.ndarray]] = []
        for position in finished:
            clip_id = int(items[position][0])
            parts = vectors.pop(position, {})
            if clip_id in report.failed:
                continue
            stacked = np.stack([parts[i] for i in sorted(parts)])
            ready.append((clip_id, vectors_for_strategy(stacked, strategy)))
        if ready:
            with database.transaction() as conn:
                upsert_many(conn, ready, embedder, strategy)
            for clip_id, rows in ready:
                report.rows[clip_id] = len(rows)
        if progress is not None and finished:
            progress(len(finished))
    return report
