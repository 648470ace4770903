"""The Huey tasks: thin wrappers that call the pipeline and chain the next stage.

Each task is declared on its queue (see ``QUEUES`` in :mod:`mediaml.config`):
stage tasks on the stage's queue, the dispatcher on ``background_jobs``, the playback
cache cleanup on ``maintenance``, temp clip prefetch on ``temp_clips``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from mediaml.config import get_settings
from mediaml.db import get_db
from mediaml.jobs.hueys import HUEYS
from mediaml.pipeline import runner
from mediaml.pipeline.dispatcher import dispatch, mark_queued, mark_unqueued
from mediaml.pipeline.stages import STAGES, STAGES_BY_NAME, Stage, next_stage
from mediaml.storage import get_store

log = logging.getLogger("mediaml.jobs")


def context() -> runner.StageContext:
    """The stage context of this process."""
    return runner.StageContext(get_db(), get_store(), get_settings())


def enqueue(stage: Stage, ids: list[int]) -> None:
    """Send one message per item to the stage's queue."""
    task = STAGE_TASKS[stage.queue]
    for item_id in ids:
        task(stage.name, item_id)


def run_stage(stage_name: str, item_id: int) -> str:
    """Run one stage on one item (with more ready items, for stages that work in bulk:
    see ``BATCH_STEPS``), then queue whatever comes next for each.

    Returns:
        ``item_id``'s result.
    """
    from mediaml.pipeline.steps import BATCH_STEPS, STEPS

    stage = STAGES_BY_NAME[stage_name]
    ctx = context()
    if stage.name in BATCH_STEPS:
        step, claim_size = BATCH_STEPS[stage.name]
        outcomes = runner.run_batch(ctx, stage, item_id, step, claim_size(ctx))
    else:
        outcomes = [runner.run_item(ctx, stage, item_id, STEPS[stage.name])]
    for outcome in outcomes:
        _after(ctx, stage, outcome, took_message=outcome.item_id == item_id)
    return outcomes[0].result


def _after(
    ctx: runner.StageContext, stage: Stage, outcome: runner.Outcome, took_message: bool
) -> None:
    """Log one item's outcome and queue what comes next for it."""
    item_id = outcome.item_id
    log.info(
        "%s %s %s: %s in %.2fs%s",
        stage.name,
        stage.table,
        item_id,
        outcome.result,
        outcome.seconds,
        f" ({outcome.error})" if outcome.error else "",
    )
    if outcome.result == "done":
        after = next_stage(stage)
        if after is not None:
            mark_queued(ctx.db, after, [item_id])
            enqueue(after, [item_id])
        if stage.name == "detect":
            after_detect(item_id)
    # A transient failure ("retry") waits in its failed state until next_retry_at; the
    # dispatcher's pass queues it then, so no delayed message is left in a queue.
    elif outcome.result == "released":  # this worker is stopping: hand it to another one
        mark_queued(ctx.db, stage, [item_id])
        enqueue(stage, [item_id])
    elif took_message and runner.shutting_down.is_set():
        # A stopping worker took the message but did not run it: let the next dispatcher
        # pass queue the item again right away instead of after the requeue window.
        mark_unqueued(ctx.db, stage, [item_id])


def discard_stage_messages(items: Iterable[tuple[str, int]]) -> int:
    """Delete the queued messages that would run ``(stage name, item id)`` pairs.

    Used when those items were processed somewhere else (``run_pipeline`` in-process), so
    the queues hold real work only. Messages a consumer is taking right now are skipped
    (they find the item done and exit). Returns how many were deleted.
    """
    wanted = set(items)
    if not wanted:
        return 0
    queues = sorted({STAGES_BY_NAME[name].queue for name, _ in wanted})
    with get_db().transaction() as conn:
        rows = conn.execute(
            "SELECT id, queue, data FROM huey_task WHERE queue = ANY(%s) FOR UPDATE SKIP LOCKED",
            (queues,),
        ).fetchall()
        stale = [r["id"] for r in rows if _stage_item(r["queue"], bytes(r["data"])) in wanted]
        if stale:
            conn.execute("DELETE FROM huey_task WHERE id = ANY(%s)", (stale,))
    return len(stale)


def _stage_item(queue: str, data: bytes) -> tuple[str, int] | None:
    """The ``(stage name, item id)`` a stage message runs (None for other messages)."""
    message = HUEYS[queue].serializer.deserialize(data)
    if message.name.endswith(f".{STAGE_TASKS[queue].name}") and len(message.args) == 2:
        return (str(message.args[0]), int(message.args[1]))
    return None


def after_detect(video_id: int) -> None:
    """Warm the playback cache for the first clips reviewers will open."""
    from mediaml.db.clips import list_clips

    with get_db().transaction() as conn:
        clips = list_clips(conn, video_id=video_id, state="pending_review")
    if clips:
        prefetch_temp_clips([c["id"] for c in clips[:5]])


STAGE_TASKS = {
    queue: HUEYS[queue].task(name=f"run_stage.{queue}")(run_stage)
    for queue in sorted({s.queue for s in STAGES})
}


def record_run(job: str, stats: dict[str, Any]) -> None:
    """Remember a periodic job's run for the status page and the operator."""
    with get_db().transaction() as conn:
        conn.execute(
            "INSERT INTO job_runs (job, node, finished_at, stats) VALUES (%s, %s, now(), %s)",
            (job, runner.NODE_ID, json.dumps(stats)),
        )


@HUEYS["background_jobs"].task(name="dispatcher")
def dispatcher() -> dict[str, int]:
    """Queue every item that needs a stage (runs every MEDIAML_DISPATCH_INTERVAL)."""
    stats = dispatch(get_db(), get_settings(), enqueue)
    log.info(stats.line())
    record_run(
        "dispatcher",
        {
            "queued": stats.total_queued,
            **stats.queued,
            "recovered": sum(stats.recovered.values()),
            "statements": stats.statements,
        },
    )
    return stats.queued


@HUEYS["background_jobs"].task(name="update_maps")
def update_maps(model: str | None = None, strategy: str | None = None) -> dict[str, Any]:
    """Place newly embedded clips on the explore maps (runs every MEDIAML_MAP_INTERVAL,
    and when the dashboard finds a map missing)."""
    from mediaml.projections import update_maps as update

    done = update(model=model, strategy=strategy)
    placed = sum(r["placed"] for r in done.values())
    record_run("update_maps", {"placed": placed, "maps": len(done)})
    return done


@HUEYS["maintenance"].task(name="playback_cache_cleanup")
def playback_cache_cleanup() -> dict[str, Any]:
    """Apply the playback cache rules (runs every MEDIAML_CLEANUP_INTERVAL)."""
    from mediaml.pipeline.cleanup import cleanup_playback_cache

    stats = cleanup_playback_cache(get_settings())
    record_run("playback_cache_cleanup", stats.as_dict())
    return stats.as_dict()


@HUEYS["temp_clips"].task(name="prefetch_temp_clips")
def prefetch_temp_clips(clip_ids: list[int]) -> int:
    """Cut temp clips for review playback ahead of time; returns how many were made."""
    from mediaml.review.playback import prefetch

    return int(prefetch(clip_ids))


@HUEYS["default"].task(name="ingest")
def ingest_task(sources: list[str]) -> list[int]:
    """Register sources as videos and queue their download."""
    from mediaml.pipeline.ingest import ingest

    frame = ingest(sources)
    ids = [int(i) for i in frame.loc[frame["video_id"].notna(), "video_id"]]
    queue_downloads(ids)
    return ids


def queue_downloads(video_ids: list[int]) -> list[int]:
    """Send new videos to the workers now instead of at the next dispatcher pass.

    Only videos waiting for download and not already queued are sent, so calling this
    twice queues nothing twice. Returns the ids sent.
    """
    from mediaml.pipeline.dispatcher import DispatchStats, select_ready

    stage = STAGES_BY_NAME["download"]
    ready = select_ready(
        get_db(),
        stage,
        get_settings(),
        DispatchStats(),
        where="t.id = ANY(%(ids)s)",
        params={"ids": video_ids},
    )
    enqueue(stage, ready)
    return ready
