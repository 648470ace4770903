"""Pipelined batches: decode and preprocess the next batches in a thread pool while the
model runs the current one.

Decoding JPEGs and resizing them (PIL) release the GIL, and so does ONNX Runtime, so on
a small machine the model and the image work overlap instead of taking turns. Images
are loaded in the worker threads too, so only paths cross the pool, not pixels. A
keyframe given with its model-sized rendition (:mod:`mediaml.embed.renditions`) is read
from the rendition, which leaves almost all of the CPU to the model.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from mediaml.embed.embedder import Embedder
from mediaml.embed.renditions import EmbedInput, Rendition, model_input
from mediaml.errors import MediamlError


@dataclass
class Batch:
    """The result of one model run: vectors for the items that loaded, errors for the rest."""

    indices: list[int]
    vectors: np.ndarray
    errors: dict[int, MediamlError] = field(default_factory=dict)


# How much lower than the caller the preparing threads run (Linux nice steps).
PREPARE_NICENESS = 10


def _lower_priority() -> None:
    """Make the calling worker thread yield the CPU to the model's threads.

    ONNX Runtime splits each operator across all cores and waits for the slowest
    thread; a decoding thread that preempts one of them stalls the whole operator.
    At a lower priority the decoders mostly run in the gaps the runtime leaves
    (between operators, while results are stored), which is where overlap pays.
    On Linux a thread id can be reniced on its own; elsewhere this is a no-op.
    """
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + PREPARE_NICENESS))
    except (AttributeError, OSError):
        # Not Linux, or not permitted: threads keep the default priority.
        pass


def _collect(
    embedder: Embedder,
    items: Sequence[EmbedInput],
    chunk: range,
    futures: list[Future[np.ndarray]],
) -> dict[int, np.ndarray | MediamlError]:
    """The prepared inputs (or errors) of one batch, helping the preparing threads.

    The model needs this batch now. Items no preparing thread has started yet are
    prepared here, in the caller's thread and at its priority, from the end of the
    batch while the threads work from its start: on a busy machine the low-priority
    threads can be starved for seconds, and the model must not wait for them. Items
    already started are waited for.
    """
    out: dict[int, np.ndarray | MediamlError] = {}
    for index, future in reversed(list(zip(chunk, futures, strict=True))):
        if future.cancel():
            try:
                out[index] = model_input(embedder, items[index])
            except MediamlError as exc:
                out[index] = exc
    for index, future in zip(chunk, futures, strict=True):
        if index not in out:
            try:
                out[index] = future.result()
            except MediamlError as exc:
                out[index] = exc
    return out


def embed_batches(
    embedder: Embedder,
    items: Sequence[EmbedInput],
    *,
    batch_size: int | None = None,
    workers: int | None = None,
    prefetch: int = 2,
) -> Iterator[Batch]:
    """Embed ``items`` batch by batch, preparing ahead in a thread pool.

    Args:
        embedder: the model.
        items: image paths, PIL images or arrays, or keyframes with their renditions.
        batch_size: images per model run (default ``embedder.batch_size``).
        workers: preparing threads (default: one per CPU).
        prefetch: how many batches to prepare ahead, in low-priority threads, while
            the model runs; 0 prepares each batch when the model needs it (the
            threads and the caller together), never alongside the model. A single
            batch is always prepared that way: there is nothing to overlap it with.

    Yields:
        One :class:`Batch` per model run, in input order. An item that cannot be read
        appears in ``errors`` (a :class:`~mediaml.errors.MediamlError`) instead of
        stopping the others.
    """
    size = max(1, batch_size or embedder.batch_size)
    chunks = [range(start, min(start + size, len(items))) for start in range(0, len(items), size)]
    if not chunks:
        return
    # One batch has nothing to overlap with (the pipeline embeds a clip's few keyframes
    # at a time): it is prepared at full priority, never by threads waiting behind others.
    ahead = max(0, prefetch) if len(chunks) > 1 else 0
    pool = ThreadPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        thread_name_prefix="embed-prepare",
        # Threads that prepare while the model runs yield the CPU to it; without
        # overlap they only share it with the caller, at its priority.
        initializer=_lower_priority if ahead else None,
    )
    try:
        in_flight: deque[list[Future[np.ndarray]]] = deque()
        submitted = 0

        def submit_next() -> None:
            nonlocal submitted
            chunk = chunks[submitted]
            in_flight.append([pool.submit(model_input, embedder, items[i]) for i in chunk])
            submitted += 1

        for number, chunk in enumerate(chunks):
            # This batch and the next ``ahead`` ones are being prepared.
            while submitted < len(chunks) and submitted <= number + ahead:
                submit_next()
            futures = in_flight.popleft()
            prepared = _collect(embedder, items, chunk, futures)
            inputs: list[np.ndarray] = []
            indices: list[int] = []
            errors: dict[int, MediamlError] = {}
            for index in chunk:
                result = prepared[index]
                if isinstance(result, MediamlError):
                    errors[index] = result
                else:
                    inputs.append(result)
                    indices.append(index)
            if inputs:
                vectors = embedder.infer(np.stack(inputs))
            else:
                vectors = np.empty((0, embedder.dim), dtype=np.float32)
            yield Batch(indices, vectors, errors)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def embed_all(embedder: Embedder, items: Sequence[EmbedInput]) -> np.ndarray:
    """Every item's vector, in order; the first unreadable item raises its error.

    Returns:
        ``float32 (len(items), dim)``; ``(0, dim)`` for no items.

    Raises:
        MediaError: an item cannot be read.
    """
    if isinstance(items, (str, os.PathLike, Image.Image, Rendition)) or (
        isinstance(items, np.ndarray) and items.ndim in (2, 3)
    ):
        # One image where a sequence was expected (a 4-D array is a batch of images).
        items = [items]
    out = np.empty((len(items), embedder.dim), dtype=np.float32)
    for batch in embed_batches(embedder, items):
        if batch.errors:
            raise batch.errors[min(batch.errors)]
        out[batch.indices] = batch.vectors
    return out
