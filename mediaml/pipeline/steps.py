"""The work each stage does on one item. Steps are idempotent: keys are deterministic,
puts replace, database writes are upserts or guarded by "already done" checks, so a
step re-run after a crash duplicates nothing.

A step receives the claimed row and returns the columns to set on it when the stage
finishes (the runner sets them together with the state change).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediaml import media
from mediaml.db.artifacts import list_artifacts, upsert_artifact
from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import get_video
from mediaml.embed.policy import default_model
from mediaml.errors import MediaError, MediamlError
from mediaml.media.detectors import BUILTIN as BUILTIN_DETECTOR
from mediaml.media.detectors import run_detector
from mediaml.pipeline import fetch
from mediaml.pipeline.ingest import title_of
from mediaml.pipeline.progress import StageProgress
from mediaml.pipeline.runner import BatchStep, StageContext, Step
from mediaml.storage import ObjectStore, keys

if TYPE_CHECKING:
    from mediaml.embed import Embedder
    from mediaml.embed.renditions import Rendition

log = logging.getLogger(__name__)


@contextmanager
def workdir(ctx: StageContext, label: str) -> Iterator[Path]:
    """A private scratch directory under the cache dir, removed afterwards."""
    path = ctx.settings.cache_dir / "work" / f"{label}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _store_file(ctx: StageContext, local: Path, key: str, *, ours: bool = True) -> None:
    """Store ``local`` under ``key`` and keep it in the object cache for later stages
    (linked when it is our own scratch file, copied when it is not: ``ours=False``)."""
    ctx.store.put(local, key)
    ctx.store.remember(local, key, link=ours)


# ------------------------------------------------------------------------ videos


def download(ctx: StageContext, video: dict[str, Any]) -> dict[str, Any]:
    """Copy or download the source into the store as ``originals/...`` (an upload is
    already stored and is adopted as it is). Web pages fetched with yt-dlp give the video
    its real title, which then names its keys."""
    uri = video["source_uri"]
    kind = fetch.source_kind(uri)
    if kind == "upload":
        key = fetch.upload_key_of(uri)
        if not ctx.store.exists(key):
            raise MediaError(f"upload {key} is missing from the object store; upload it again")
        return {"original_key": key, "size_bytes": ctx.store.size(key)}
    title = video["title"]
    if kind == "local":
        key = keys.original_key(video["id"], title, fetch.filename_of(uri))
        path = fetch.local_source_path(uri)
        if not path.is_file():
            raise MediaError(f"source file {path} does not exist (moved or deleted?)")
        if path.stat().st_size == 0:
            raise MediaError(f"source file {path} is empty (0 bytes)")
        _store_file(ctx, path, key, ours=False)  # the user's file: never linked or touched
        return {"original_key": key, "size_bytes": path.stat().st_size}
    progress = StageProgress(ctx.db, video["id"], "download", ctx.node)
    progress.start()
    with workdir(ctx, f"download-{video['id']}") as tmp:
        fetched = fetch.fetch_source(
            uri,
            tmp / fetch.filename_of(uri),
            ctx.settings,
            progress=progress.bytes,
            cancelled=ctx.check_shutdown,
        )
        fields: dict[str, Any] = {}
        if fetched.title and title == title_of(uri):  # keep a title someone chose
            title = fields["title"] = fetched.title[:500]
        key = keys.original_key(video["id"], title, fetched.path.name)
        size = fetched.path.stat().st_size
        _store_file(ctx, fetched.path, key)
    progress(1.0)
    return {**fields, "original_key": key, "size_bytes": size}


# FFmpeg's encoder already uses every core; two encodes at once on one machine only
# thrash (measured: 2 parallel 720p encodes took 1.36x as long as the same two in a row).
# Other media work (exports, keyframes, embeddings) keeps running beside an encode.
_ENCODE_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 1) // 4))


def encode(ctx: StageContext, video: dict[str, Any]) -> dict[str, Any]:
    """Make the master and the all-intra proxy; shot detection runs inside the encode."""
    # Progress 0 from the claim on, also while waiting for an encode slot (the stored
    # value is otherwise still the download's 100 %).
    progress = StageProgress(ctx.db, video["id"], "encode", ctx.node)
    progress.start()
    with _ENCODE_SLOTS:
        ctx.check_shutdown()
        return _encode(ctx, video, progress)


def _encode(ctx: StageContext, video: dict[str, Any], progress: StageProgress) -> dict[str, Any]:
    original = ctx.store.local_path(video["original_key"])
    master_key = keys.master_key(video["id"], video["title"])
    proxy_key = keys.proxy_key(video["id"], video["title"])
    with workdir(ctx, f"encode-{video['id']}") as tmp:
        # The built-in detector runs inside the encode (one decode); a plugin detector
        # runs in the detect stage instead.
        fused = ctx.settings.detector == BUILTIN_DETECTOR
        result = media.encode(
            original, tmp / "master.mp4", tmp / "proxy.mp4", detect=fused, progress=progress
        )
        # A finished encode is stored even when the worker is stopping; only a lost
        # lease (another worker has the video now) discards it.
        ctx.check_lease()
        _store_file(ctx, tmp / "master.mp4", master_key)
        _store_file(ctx, tmp / "proxy.mp4", proxy_key)
    proxy = result.proxy
    metadata = dict(video.get("metadata") or {})
    metadata["source"] = _jsonable(result.source.as_dict())
    metadata["master_reused"] = bool(result.master_reused)
    if result.cuts is not None:
        metadata["detected_cuts"] = [
            [int(r.frame), str(r.kind), float(r.score)] for r in result.cuts.itertuples()
        ]
    return {
        "master_key": master_key,
        "proxy_key": proxy_key,
        "fps_num": proxy.fps.numerator,
        "fps_den": proxy.fps.denominator,
        "frame_count": proxy.frame_count,
        "duration_s": proxy.duration,
        "width": proxy.width,
        "height": proxy.height,
        "has_audio": proxy.has_audio,
        "metadata": _json(metadata),
    }


def detect(ctx: StageContext, video: dict[str, Any]) -> dict[str, Any]:
    """Persist the cuts found during encoding (or detect them now) and create the clips."""
    found = (video.get("metadata") or {}).get("detected_cuts")
    if ctx.settings.detector != BUILTIN_DETECTOR:
        found = None  # cuts from an encode made before MEDIAML_DETECTOR was changed
    if found is None:
        frame = run_detector(ctx.settings.detector, ctx.store.local_path(video["proxy_key"]))
        found = [[int(r.frame), str(r.kind), float(r.score)] for r in frame.itertuples()]
    cuts = [DetectedCut(int(f), str(k), float(s)) for f, k, s in found]
    ctx.check_lease()
    with ctx.db.transaction() as conn:
        clips = create_initial_clips(
            conn, video["id"], cuts, is_demo=bool((video.get("metadata") or {}).get("demo"))
        )
    ctx.stats["clips"] = len(clips)
    return {}


# ------------------------------------------------------------------------- clips


def _video_of(ctx: StageContext, clip: dict[str, Any]) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return get_video(conn, clip["video_id"])


def export(ctx: StageContext, clip: dict[str, Any]) -> dict[str, Any]:
    """Write the clip's own file: stream copy from the proxy, or re-encode the master."""
    video = _video_of(ctx, clip)
    key = keys.clip_key(
        video["id"], video["title"], clip["id"], clip["start_frame"], clip["end_frame"]
    )
    with workdir(ctx, f"export-{clip['id']}") as tmp:
        out = tmp / "clip.mp4"
        if ctx.settings.export_profile == "master_quality":
            media.export_clip(
                ctx.store.local_path(video["master_key"]),
                clip["start_time"],
                clip["end_time"],
                out,
            )
        else:
            media.cut_clip(
                ctx.store.local_path(video["proxy_key"]),
                clip["start_frame"],
                clip["end_frame"],
                out,
                fps=Fraction(video["fps_num"], video["fps_den"]),
            )
        ctx.check_lease()
        ctx.store.put(out, key)
    return {"clip_key": key}


def keyframe_strategy(embed_strategy: str) -> str:
    """The keyframe strategy an embedding strategy needs."""
    return "midpoint" if embed_strategy == "keyframe_single" else "multi"


def _rendering_model(ctx: StageContext) -> Embedder | None:
    """The default model, when it can be loaded without a download and has a
    model-sized rendition for the keyframe stage to store; None otherwise."""
    from mediaml.embed import get_embedder, model_available

    name = default_model(ctx.settings)
    available, why = model_available(name)
    if not available:
        log.info("keyframes without renditions: model %s is not available (%s)", name, why)
        return None
    embedder = get_embedder(name)
    return embedder if embedder.rendition is not None else None


def keyframes(ctx: StageContext, clip: dict[str, Any]) -> dict[str, Any]:
    """Extract the clip's keyframes from the all-intra proxy and store them as artifacts,
    each with the default model's rendition of it (:mod:`mediaml.embed.renditions`)
    when the model has one."""
    from mediaml.embed.renditions import write_rendition

    video = _video_of(ctx, clip)
    frames = media.keyframe_frames(
        clip["start_frame"], clip["end_frame"], keyframe_strategy(ctx.settings.embed_strategy)
    )
    model = _rendering_model(ctx)
    with workdir(ctx, f"keyframes-{clip['id']}") as tmp:
        images = media.extract_keyframes(ctx.store.local_path(video["proxy_key"]), frames, tmp)
        ctx.check_lease()
        stored = []
        for frame in frames:
            if model is not None and model.rendition is not None:
                # Stored before the keyframe is recorded: a recorded keyframe's rendition
                # is already in the store when the embed stage looks for it.
                rendition = write_rendition(model, images[frame], tmp / f"r{frame}.png")
                name = keys.rendition_key(video["id"], clip["id"], frame, model.rendition)
                _store_file(ctx, rendition, name)
            key = keys.keyframe_key(video["id"], clip["id"], frame)
            _store_file(ctx, images[frame], key)
            stored.append((frame, key))
    with ctx.db.transaction() as conn:
        for frame, key in stored:
            upsert_artifact(conn, clip["id"], "keyframe", frame, key)
    return {}


def keyframe_inputs(
    store: ObjectStore, clip: dict[str, Any], artifacts: list[dict[str, Any]], model: Embedder
) -> list[Path | Rendition]:
    """Local files of a clip's keyframes for ``model``: the stored rendition of each
    keyframe when the store has ``model``'s (the keyframe itself is then not fetched),
    else the keyframe."""
    from mediaml.embed.renditions import Rendition

    inputs: list[Path | Rendition] = []
    for artifact in artifacts:
        if model.rendition is not None:
            name = model.rendition
            key = keys.rendition_key(clip["video_id"], clip["id"], artifact["frame"], name)
            if store.exists(key):
                inputs.append(Rendition(store.local_path(key), name))
                continue
        inputs.append(store.local_path(artifact["key"]))
    return inputs


def embed_clips_step(ctx: StageContext, clips: list[dict[str, Any]]) -> dict[int, Exception | None]:
    """Embed several claimed clips with the default model and strategy (upsert): their
    keyframes (renditions when stored) go through the model in shared batches.

    Returns:
        Each clip's error (no keyframes, unreadable keyframe) or None when it is stored.
    """
    from mediaml.embed import embed_clips, get_embedder

    model = get_embedder(default_model(ctx.settings))
    with ctx.db.transaction() as conn:
        artifacts = {clip["id"]: list_artifacts(conn, clip["id"], "keyframe") for clip in clips}
    errors: dict[int, Exception | None] = {}
    items = []
    for clip in clips:
        if not artifacts[clip["id"]]:
            errors[clip["id"]] = MediaError(
                f"clip {clip['id']} has no keyframes; retry it to re-extract them"
            )
            continue
        try:
            items.append(
                (clip["id"], keyframe_inputs(ctx.store, clip, artifacts[clip["id"]], model))
            )
        except MediamlError as exc:  # a keyframe missing from the store: this clip only
            errors[clip["id"]] = exc
    ctx.check_lease()
    report = embed_clips(ctx.db, items, model=model, strategy=ctx.settings.embed_strategy)
    for clip_id, message in report.failed.items():
        errors[clip_id] = MediaError(message)
    return {clip["id"]: errors.get(clip["id"]) for clip in clips}


def embed(ctx: StageContext, clip: dict[str, Any]) -> dict[str, Any]:
    """Embed one clip's keyframes (renditions when stored) with the default model and
    strategy (upsert)."""
    error = embed_clips_step(ctx, [clip])[clip["id"]]
    if error is not None:
        raise error
    return {}


def embed_claim_size(ctx: StageContext) -> int:
    """How many clips the embed stage claims at once: enough keyframes to fill one
    model batch (3 a clip, 1 for ``keyframe_single``)."""
    from mediaml.embed import get_embedder

    model = get_embedder(default_model(ctx.settings))
    per_clip = 1 if ctx.settings.embed_strategy == "keyframe_single" else 3
    return max(1, model.batch_size // per_clip)


# Stages that claim several items at once and run one step over them: the step, and how
# many items to claim (see mediaml.pipeline.runner.run_batch).
BATCH_STEPS: dict[str, tuple[BatchStep, Callable[[StageContext], int]]] = {
    "embed": (embed_clips_step, embed_claim_size),
    "backfill": (embed_clips_step, embed_claim_size),
}

STEPS: dict[str, Step] = {
    "download": download,
    "encode": encode,
    "detect": detect,
    "export": export,
    "keyframes": keyframes,
    "embed": embed,
    "backfill": embed,
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _json(value: dict[str, Any]) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(_jsonable(value))
