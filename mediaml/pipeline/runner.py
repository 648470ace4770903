"""Run one stage on one item: claim it, keep its lease alive, finish, fail or release.

Claiming is one atomic state change (``ready -> in_flight`` with this node as lease
owner), so two workers given the same item never both run it: the loser returns
``"skipped"``. While the step runs, a heartbeat thread extends the lease; if the worker
dies, the lease runs out and the dispatcher hands the item to someone else. Every step
is idempotent (deterministic keys, upserts), so a re-run duplicates nothing.

Outcomes:
    ``done``      the step succeeded; the next stage is queued by the caller.
    ``skipped``   the item was not in the stage's ready state (done or claimed elsewhere).
    ``retry``     a transient error; the item is back in its ready state with a delay.
    ``failed``    a permanent error, or too many transient ones; ``last_error`` says why.
    ``released``  the worker is shutting down; the item is back in its ready state.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import requests

from mediaml.config import Settings
from mediaml.db import Database
from mediaml.db.transitions import transition
from mediaml.errors import MediamlError
from mediaml.pipeline.stages import Stage
from mediaml.storage import ObjectStore

log = logging.getLogger(__name__)

MAX_TRANSIENT_ATTEMPTS = 4
NODE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

# Set by the worker runner on SIGTERM/SIGINT; steps that loop check it.
shutting_down = threading.Event()


class TransientError(MediamlError):
    """A failure worth retrying later (network blip, storage hiccup, busy database)."""


class ShutdownRequested(MediamlError):
    """The worker is stopping; the item is released for another worker."""


TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    TransientError,
    psycopg.OperationalError,
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)


@dataclass
class StageContext:
    """What a step needs: where things are, who is running it, and its lease."""

    db: Database
    store: ObjectStore
    settings: Settings
    node: str = NODE_ID
    stats: dict[str, Any] = field(default_factory=dict)

    def check_shutdown(self) -> None:
        """Raise :class:`ShutdownRequested` when the worker is stopping."""
        if shutting_down.is_set():
            raise ShutdownRequested("worker is shutting down")


Step = Callable[[StageContext, dict[str, Any]], dict[str, Any] | None]


@dataclass(frozen=True)
class Outcome:
    """What happened when a stage ran on an item."""

    stage: str
    item_id: int
    result: str
    seconds: float
    error: str | None = None
    retry_in: float | None = None


def backoff_seconds(attempt: int) -> float:
    """Delay before transient retry number ``attempt`` (1-based): 10 s, 40 s, 160 s..."""
    return float(10 * 4 ** max(attempt - 1, 0))


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: StageContext, stage: Stage, item_id: int) -> None:
        super().__init__(name=f"heartbeat-{stage.name}-{item_id}", daemon=True)
        self.ctx, self.stage, self.item_id = ctx, stage, item_id
        self.stop_event = threading.Event()
        self.lost = False

    def run(self) -> None:
        lease = self.ctx.settings.lease_seconds
        while not self.stop_event.wait(max(lease / 3, 0.2)):
            try:
                with self.ctx.db.transaction() as conn:
                    row = conn.execute(
                        f"UPDATE {self.stage.table} SET lease_expires_at ="
                        " now() + make_interval(secs => %s)"
                        " WHERE id = %s AND state = %s AND lease_owner = %s RETURNING id",
                        (lease, self.item_id, self.stage.in_flight, self.ctx.node),
                    ).fetchone()
                if row is None:
                    self.lost = True
                    return
            except psycopg.Error as exc:
                log.warning("heartbeat for %s %s failed: %s", self.stage.name, self.item_id, exc)


def claim(ctx: StageContext, stage: Stage, item_id: int) -> dict[str, Any] | None:
    """Atomically take ``item_id`` for ``stage``; None when it is not ready for it."""
    params: dict[str, Any] = {
        "id": item_id,
        "ready": stage.ready,
        "in_flight": stage.in_flight,
        "node": ctx.node,
        "lease": ctx.settings.lease_seconds,
        "model": ctx.settings.embed_model,
        "strategy": ctx.settings.embed_strategy,
    }
    extra = f" AND {stage.extra_where}" if stage.extra_where else ""
    with ctx.db.transaction() as conn:
        return conn.execute(
            f"UPDATE {stage.table} AS t SET state = %(in_flight)s, lease_owner = %(node)s,"
            " lease_expires_at = now() + make_interval(secs => %(lease)s)"
            f" WHERE t.id = %(id)s AND t.state = %(ready)s{extra} RETURNING t.*",
            params,
        ).fetchone()


def _finish(ctx: StageContext, stage: Stage, item_id: int, to: str, **fields: Any) -> bool:
    """Leave the in-flight state if this node still holds the lease."""
    with ctx.db.transaction() as conn:
        owner = conn.execute(
            f"SELECT lease_owner FROM {stage.table} WHERE id = %s AND state = %s FOR UPDATE",
            (item_id, stage.in_flight),
        ).fetchone()
        if owner is None or owner["lease_owner"] != ctx.node:
            return False
        transition(
            conn,
            stage.table,
            item_id,
            to,
            expect=stage.in_flight,
            lease_owner=None,
            lease_expires_at=None,
            **fields,
        )
        return True


def run_item(ctx: StageContext, stage: Stage, item_id: int, step: Step) -> Outcome:
    """Claim ``item_id`` for ``stage``, run ``step`` on it and record the result.

    Never raises for a problem with the item itself: the outcome says what happened and
    ``last_error`` on the item says why, so one bad item never stops a worker.
    """
    started = time.monotonic()

    def outcome(result: str, error: str | None = None, retry_in: float | None = None) -> Outcome:
        return Outcome(stage.name, item_id, result, time.monotonic() - started, error, retry_in)

    if shutting_down.is_set():
        return outcome("skipped", "worker is shutting down")
    try:
        row = claim(ctx, stage, item_id)
    except psycopg.Error as exc:
        return outcome("skipped", f"could not claim: {exc}")
    if row is None:
        return outcome("skipped")

    heartbeat = _Heartbeat(ctx, stage, item_id)
    heartbeat.start()
    try:
        with ctx.store.pinned():  # cached inputs stay on disk while the step runs
            fields = step(ctx, row) or {}
    except Exception as exc:
        if isinstance(exc, ShutdownRequested) or shutting_down.is_set():
            # Stopped on purpose (or its FFmpeg was killed at shutdown): not the item's fault.
            _finish(ctx, stage, item_id, stage.release_state, enqueued_at=None)
            return outcome("released", "worker shut down before finishing")
        return _failure(ctx, stage, row, exc, outcome)
    finally:
        heartbeat.stop_event.set()

    if not _finish(ctx, stage, item_id, stage.done, last_error=None, enqueued_at=None, **fields):
        return outcome("skipped", "lease lost while running; another worker owns the item")
    return outcome("done")


def _failure(
    ctx: StageContext,
    stage: Stage,
    row: dict[str, Any],
    exc: Exception,
    outcome: Callable[..., Outcome],
) -> Outcome:
    """Record a failed step: retry later if transient, else the stage's failed state."""
    item_id = row["id"]
    attempts = int(row["retry_count"]) + 1
    if isinstance(exc, TRANSIENT_EXCEPTIONS) and attempts < MAX_TRANSIENT_ATTEMPTS:
        message = f"{type(exc).__name__}: {exc}"
        delay = backoff_seconds(attempts)
        _finish_retry(ctx, stage, item_id, message, attempts, delay)
        log.info(
            "%s of %s %s will retry in %gs: %s", stage.name, stage.table, item_id, delay, message
        )
        return outcome("retry", message, delay)
    if isinstance(exc, (MediamlError, *TRANSIENT_EXCEPTIONS)):
        message = str(exc) if isinstance(exc, MediamlError) else f"{type(exc).__name__}: {exc}"
        log.warning("%s of %s %s failed: %s", stage.name, stage.table, item_id, message)
    else:  # a bug: record it on the item, keep the worker alive
        message = f"unexpected {type(exc).__name__}: {exc}"
        log.error(
            "%s of %s %s crashed:\n%s",
            stage.name,
            stage.table,
            item_id,
            "".join(traceback.format_exception(exc)),
        )
    _finish(ctx, stage, item_id, stage.failed, last_error=_clip(message), retry_count=attempts)
    return outcome("failed", message)


def _finish_retry(
    ctx: StageContext, stage: Stage, item_id: int, message: str, attempts: int, delay: float
) -> None:
    with ctx.db.transaction() as conn:
        conn.execute(
            f"UPDATE {stage.table} SET state = %s, lease_owner = NULL, lease_expires_at = NULL,"
            " last_error = %s, retry_count = %s,"
            " enqueued_at = now() + make_interval(secs => %s)"
            " WHERE id = %s AND state = %s AND lease_owner = %s",
            (
                stage.release_state,
                _clip(message),
                attempts,
                delay,
                item_id,
                stage.in_flight,
                ctx.node,
            ),
        )


def release_held(ctx: StageContext) -> list[tuple[str, int]]:
    """Put every item this node holds back in its ready state (used at shutdown)."""
    from mediaml.pipeline.stages import release_states

    released: list[tuple[str, int]] = []
    with ctx.db.transaction() as conn:
        for (table, in_flight), to in release_states().items():
            rows = conn.execute(
                f"UPDATE {table} SET state = %s, lease_owner = NULL, lease_expires_at = NULL,"
                " enqueued_at = NULL WHERE state = %s AND lease_owner = %s RETURNING id",
                (to, in_flight, ctx.node),
            ).fetchall()
            released += [(table, r["id"]) for r in rows]
    return released


def _clip(message: str, limit: int = 2000) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
