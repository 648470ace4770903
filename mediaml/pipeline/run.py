"""Run the pipeline in this process: for notebooks, the CLI and the demo.

The same stage table, claims and steps as the queued workers, called synchronously, so
an in-process run and a worker never process one item twice (the claim decides).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import TqdmWarning

from mediaml.config import get_settings
from mediaml.db import Database, get_db
from mediaml.embed.policy import default_model, require_model
from mediaml.pipeline.dispatcher import DispatchStats, recover_expired
from mediaml.pipeline.retry import retry_due
from mediaml.pipeline.runner import Outcome, StageContext, run_item
from mediaml.pipeline.stages import STAGES, Stage
from mediaml.storage import get_store

with warnings.catch_warnings():
    # Without ipywidgets a notebook gets text progress bars, which is fine; tqdm would
    # otherwise print a warning (with a path into site-packages) on every first import.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

# Where a run may stop: the last stage it runs.
UNTIL = {
    "downloaded": "download",
    "encoded": "encode",
    "review": "detect",
    "exported": "export",
    "keyframed": "keyframes",
    "embedded": "backfill",
}
OUTCOME_COLUMNS = ["stage", "table", "item_id", "result", "seconds", "error"]


def _ready_ids(ctx: StageContext, stage: Stage, videos: list[int] | None) -> list[int]:
    where = ["t.state = %(ready)s"]
    if stage.extra_where:
        where.append(stage.extra_where)
    if videos is not None:
        where.append(
            ("t.id" if stage.table == "source_videos" else "t.video_id") + " = ANY(%(videos)s)"
        )
    with ctx.db.transaction() as conn:
        rows = conn.execute(
            f"SELECT t.id FROM {stage.table} AS t WHERE {' AND '.join(where)} ORDER BY t.id",
            {
                "ready": stage.ready,
                "videos": videos,
                "model": default_model(ctx.settings),
                "strategy": ctx.settings.embed_strategy,
            },
        ).fetchall()
    return [r["id"] for r in rows]


def approve_pending(db: Database, videos: list[int] | None, reviewer: str) -> list[int]:
    """Approve every clip waiting for review that no reviewer holds, recorded in the audit
    log as ``reviewer`` (see :func:`mediaml.review.actions.approve_all`)."""
    from mediaml.review.actions import approve_all

    return approve_all(reviewer, videos=videos, db=db)


def _discard_queued(rows: list[dict[str, Any]]) -> None:
    """Drop the queued messages for the items this run processed (``mediaml ingest``
    queued them for the workers), so the queues and ``mediaml status`` show real work."""
    from mediaml.jobs.tasks import discard_stage_messages

    processed = {
        (r["stage"], int(r["item_id"]))
        for r in rows
        if r["item_id"] is not None and r["result"] in ("done", "failed", "retry")
    }
    discard_stage_messages(processed)


def run_pipeline(
    sources: str | Path | Iterable[str | Path] | None = None,
    *,
    until: str = "embedded",
    auto_approve: bool = False,
    reviewer: str = "auto-approve",
    progress: bool = True,
    db: Database | None = None,
) -> pd.DataFrame:
    """Ingest ``sources`` (if given) and run every stage on them in this process.

    Args:
        sources: paths, folders, globs or URLs; None runs whatever is waiting,
            including items a killed run left in flight once their lease
            (``MEDIAML_LEASE_SECONDS``) has run out.
        until: last state to reach: ``downloaded``, ``encoded``, ``review`` (clips
            created, waiting for review), ``exported``, ``keyframed`` or ``embedded``.
        auto_approve: approve new clips instead of waiting for a reviewer.
        reviewer: the name recorded for automatic approvals.
        progress: show a progress bar.

    Returns:
        One row per stage run: ``stage``, ``table``, ``item_id``, ``result`` (done,
        failed, retry, skipped), ``seconds``, ``error``. Ingest errors appear with stage
        ``ingest``.

    Example:
        >>> mediaml.run_pipeline("clips/*.mp4", auto_approve=True)
    """
    if until not in UNTIL:
        raise ValueError(f"until must be one of {', '.join(UNTIL)}, not {until!r}")
    db = db or get_db()
    ctx = StageContext(db, get_store(), get_settings())
    if until == "embedded":
        # Decide (and load) the embedding model once, before any clip is embedded: a
        # missing model is one error here, not one per clip.
        require_model(ctx.settings)
    rows: list[dict[str, Any]] = []
    videos: list[int] | None = None
    if sources is not None:
        from mediaml.pipeline.ingest import ingest

        frame = ingest(sources, db=db)
        videos = [int(v) for v in frame["video_id"].dropna()]
        for r in frame.itertuples():
            if r.error:
                rows.append(
                    {
                        "stage": "ingest",
                        "table": "source_videos",
                        "item_id": None,
                        "result": "failed",
                        "seconds": 0.0,
                        "error": f"{r.source}: {r.error}",
                    }
                )
    last = [s.name for s in STAGES].index(UNTIL[until])
    stages = STAGES[: last + 1]
    from mediaml.pipeline.steps import STEPS

    bar = tqdm(desc="pipeline", unit="step", disable=not progress)
    try:
        while True:
            did_work = False
            # Items a killed run or worker left in flight, once their lease has run out
            # (with no worker running, nothing else would take them up again).
            recover_expired(db, DispatchStats())
            with db.transaction() as conn:
                retry_due(conn)  # transient failures whose next try has come
            for stage in stages:
                if stage.table == "clips" and auto_approve:
                    approve_pending(db, videos, reviewer)
                ids = _ready_ids(ctx, stage, videos)
                bar.total = (bar.total or 0) + len(ids)
                for item_id in ids:
                    bar.set_postfix_str(f"{stage.name} {item_id}")
                    outcome: Outcome = run_item(ctx, stage, item_id, STEPS[stage.name])
                    rows.append(
                        {
                            "stage": outcome.stage,
                            "table": stage.table,
                            "item_id": outcome.item_id,
                            "result": outcome.result,
                            "seconds": round(outcome.seconds, 3),
                            "error": outcome.error,
                        }
                    )
                    bar.update(1)
                    did_work = did_work or outcome.result == "done"
            if not did_work:
                break
    finally:
        bar.close()
        _discard_queued(rows)
    frame = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    frame["item_id"] = frame["item_id"].astype("Int64")
    return frame
