"""The dispatcher: find, per stage, the items needing work and queue them once.

Each pass runs set-based statements only: one per in-flight state returns abandoned items
(lease expired: worker killed, machine lost) to their ready state; one query (on partial
indexes) finds transiently failed items whose next try is due, and one statement per such
failed state puts them back (:mod:`mediaml.pipeline.retry`); one per stage marks a batch
of ready items as queued (``enqueued_at``) and returns them. State changes go through :mod:`mediaml.db.transitions`. Rows are taken with
``FOR UPDATE SKIP LOCKED`` and only when not queued within the requeue window, so two
dispatchers running at once never queue an item twice. With nothing to do a pass is a
handful of index-only queries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mediaml.config import Settings
from mediaml.db import Database
from mediaml.db.transitions import plus_one, transition_all
from mediaml.embed.policy import default_model
from mediaml.pipeline.retry import retry_due
from mediaml.pipeline.stages import STAGES, Stage, release_states

log = logging.getLogger(__name__)

BATCH = 1000
LOST_WORKER = "the worker running this step stopped answering (killed or lost); retried"

Enqueue = Callable[[Stage, list[int]], None]
# Same expression as the *_dispatch_idx indexes of migration 0002: never queued sorts first.
_QUEUED_AT = "COALESCE(t.enqueued_at, '-infinity'::timestamptz)"


@dataclass
class DispatchStats:
    """What one dispatcher pass did."""

    queued: dict[str, int] = field(default_factory=dict)
    recovered: dict[str, int] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    statements: int = 0
    seconds: float = 0.0

    @property
    def total_queued(self) -> int:
        return sum(self.queued.values())

    def line(self) -> str:
        """The one log line per run that operators look for."""
        queued = ", ".join(f"{k}={v}" for k, v in self.queued.items() if v) or "nothing"
        recovered = ", ".join(f"{k}={v}" for k, v in self.recovered.items() if v) or "none"
        retried = ", ".join(f"{k}={v}" for k, v in self.retried.items() if v) or "none"
        return (
            f"dispatcher: queued {queued}; recovered expired leases: {recovered}; "
            f"retried transient failures: {retried}; "
            f"{self.statements} statements in {self.seconds * 1000:.1f} ms"
        )


def requeue_window(settings: Settings) -> float:
    """Seconds after which a queued-but-untouched item may be queued again (lost message)."""
    return max(settings.lease_seconds, 2 * settings.dispatch_interval)


def recover_expired(db: Database, stats: DispatchStats) -> None:
    """Return in-flight items whose lease ran out to the state they were claimed from."""
    with db.transaction() as conn:
        for (table, in_flight), to in release_states().items():
            rows = transition_all(
                conn,
                table,
                to,
                expect=in_flight,
                lease_expired=True,
                lease_owner=None,
                lease_expires_at=None,
                enqueued_at=None,
                retry_count=plus_one("retry_count"),
                last_error=LOST_WORKER,
            )
            stats.statements += 1
            if rows:
                stats.recovered[f"{table}:{in_flight}"] = len(rows)
                log.warning(
                    "lease expired on %d %s in %s; back to %s", len(rows), table, in_flight, to
                )


def retry_failed(db: Database, stats: DispatchStats) -> None:
    """Put transiently failed items whose next try is due back in their ready state."""
    with db.transaction() as conn:
        stats.retried = retry_due(conn)
    stats.statements += 1 + len(stats.retried)


def select_ready(
    db: Database,
    stage: Stage,
    settings: Settings,
    stats: DispatchStats,
    *,
    limit: int = BATCH,
    where: str = "",
    params: dict[str, Any] | None = None,
) -> list[int]:
    """Mark up to ``limit`` items ready for ``stage`` as queued now and return their ids."""
    extra = f" AND {stage.extra_where}" if stage.extra_where else ""
    extra += f" AND {where}" if where else ""
    query = (
        f"UPDATE {stage.table} SET enqueued_at = now() WHERE id IN ("
        f" SELECT t.id FROM {stage.table} AS t WHERE t.state = %(ready)s{extra}"
        f"  AND {_QUEUED_AT} < now() - make_interval(secs => %(window)s)"
        f"  ORDER BY {_QUEUED_AT} LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " RETURNING id"
    )
    values = {
        "ready": stage.ready,
        "window": requeue_window(settings),
        "limit": limit,
        "model": default_model(settings),
        "strategy": settings.embed_strategy,
        **(params or {}),
    }
    with db.transaction() as conn:
        rows = conn.execute(query, values).fetchall()
    stats.statements += 1
    return sorted(r["id"] for r in rows)


def dispatch(db: Database, settings: Settings, enqueue: Enqueue) -> DispatchStats:
    """One dispatcher pass over every stage; ``enqueue(stage, ids)`` sends the messages.

    If sending fails, the items' ``enqueued_at`` is cleared again so the next pass retries.
    """
    started = time.monotonic()
    stats = DispatchStats()
    recover_expired(db, stats)
    retry_failed(db, stats)
    for stage in STAGES:
        ids = select_ready(db, stage, settings, stats)
        stats.queued[stage.name] = len(ids)
        if not ids:
            continue
        try:
            enqueue(stage, ids)
        except Exception:
            with db.transaction() as conn:
                conn.execute(
                    f"UPDATE {stage.table} SET enqueued_at = NULL WHERE id = ANY(%s)", (ids,)
                )
            raise
    stats.seconds = time.monotonic() - started
    return stats


def mark_queued(db: Database, stage: Stage, ids: list[int]) -> None:
    """Record that ``ids`` were just queued for ``stage`` by someone other than a pass."""
    if ids:
        with db.transaction() as conn:
            conn.execute(
                f"UPDATE {stage.table} SET enqueued_at = now() WHERE id = ANY(%s) AND state = %s",
                (ids, stage.ready),
            )


def mark_unqueued(db: Database, stage: Stage, ids: list[int]) -> None:
    """Forget that ``ids`` were queued, so the next pass queues them (message was dropped)."""
    if ids:
        with db.transaction() as conn:
            conn.execute(
                f"UPDATE {stage.table} SET enqueued_at = NULL WHERE id = ANY(%s) AND state = %s",
                (ids, stage.ready),
            )
