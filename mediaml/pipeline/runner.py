"""Run one stage on one item: claim it, keep its lease alive, finish, fail or release.

Claiming is one atomic state change (``ready -> in_flight`` with this node as lease
owner), so two workers given the same item never both run it: the loser returns
``"skipped"``. While the step runs, a heartbeat thread extends the lease; if the worker
dies, the lease runs out and the dispatcher hands the item to someone else; if the
heartbeat finds the lease taken, the step stops at its next check (``check_shutdown`` /
``check_lease``) and its result is not recorded. Every step
is idempotent (deterministic keys, upserts), so a re-run duplicates nothing.

Outcomes:
    ``done``      the step succeeded; the next stage is queued by the caller.
    ``skipped``   the item was not in the stage's ready state (done or claimed elsewhere).
    ``retry``     a transient error; the item waits in the stage's failed state until
                  ``next_retry_at``, when the dispatcher puts it back (no person needed).
    ``failed``    a permanent error, or too many transient ones; ``last_error`` says why
                  and the item waits for a person (``mediaml retry``).
    ``released``  the worker is shutting down; the item is back in its ready state.
"""

from __future__ import annotations

import dataclasses
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
from psycopg import sql

from mediaml.config import Settings
from mediaml.db import Database, leases
from mediaml.db.transitions import seconds_from_now, transition_all
from mediaml.embed.policy import default_model
from mediaml.errors import MediamlError
from mediaml.pipeline.retry import MAX_ATTEMPTS, PERMANENT, TRANSIENT, backoff_seconds
from mediaml.pipeline.stages import Stage
from mediaml.storage import ObjectStore

log = logging.getLogger(__name__)

NODE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

# Set by the worker runner on SIGTERM/SIGINT; steps that loop check it.
shutting_down = threading.Event()


class TransientError(MediamlError):
    """A failure worth retrying later (network blip, storage hiccup, busy database)."""


class ShutdownRequested(MediamlError):
    """The worker is stopping; the item is released for another worker."""


class LeaseLost(MediamlError):
    """Another worker holds the item now (this one's lease ran out); the step stops."""


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
    lease_lost: threading.Event = field(default_factory=threading.Event)

    def check_shutdown(self) -> None:
        """Before starting long work: stop if the worker is stopping or the lease is lost.

        Raises:
            ShutdownRequested: the worker is stopping (the item is released).
            LeaseLost: another worker holds the item now.
        """
        self.check_lease()
        if shutting_down.is_set():
            raise ShutdownRequested("worker is shutting down")

    def check_lease(self) -> None:
        """Before storing finished work: stop only if another worker holds the item.

        A stopping worker still stores what it finished (SIGTERM must not throw away an
        encode that completed inside the grace period).

        Raises:
            LeaseLost: the heartbeat found the lease taken by another worker.
        """
        if self.lease_lost.is_set():
            raise LeaseLost("lease lost while running; another worker owns the item")


Step = Callable[[StageContext, dict[str, Any]], dict[str, Any] | None]
# A step over several claimed items at once: each item's error, or None when it succeeded.
BatchStep = Callable[[StageContext, list[dict[str, Any]]], dict[int, Exception | None]]


@dataclass(frozen=True)
class Outcome:
    """What happened when a stage ran on an item."""

    stage: str
    item_id: int
    result: str
    seconds: float
    error: str | None = None
    retry_in: float | None = None


class _Heartbeat(threading.Thread):
    """Renews the lease while a step runs; sets ``lost`` when another worker has it."""

    def __init__(self, ctx: StageContext, stage: Stage, item_id: int) -> None:
        super().__init__(name=f"heartbeat-{stage.name}-{item_id}", daemon=True)
        self.ctx, self.stage, self.item_id = ctx, stage, item_id
        self.stop_event = threading.Event()
        self.lost = ctx.lease_lost

    def run(self) -> None:
        lease = self.ctx.settings.lease_seconds
        while not self.stop_event.wait(heartbeat_interval(lease)):
            try:
                with self.ctx.db.transaction() as conn:
                    held = leases.renew(
                        conn,
                        self.stage.table,
                        self.item_id,
                        self.ctx.node,
                        lease,
                        state=self.stage.in_flight,
                    )
            except psycopg.Error as exc:
                log.warning("heartbeat for %s %s failed: %s", self.stage.name, self.item_id, exc)
                continue
            if not held:
                log.warning(
                    "%s of %s %s: lease lost (another worker took it); stopping the step",
                    self.stage.name,
                    self.stage.table,
                    self.item_id,
                )
                self.lost.set()
                return


def heartbeat_interval(lease_seconds: float) -> float:
    """How often a running step renews its lease: three chances before it runs out."""
    return max(lease_seconds / 3, 0.2)


def claim(ctx: StageContext, stage: Stage, item_id: int) -> dict[str, Any] | None:
    """Atomically take ``item_id`` for ``stage``; None when it is not ready for it."""
    with ctx.db.transaction() as conn:
        rows = leases.claim(
            conn,
            stage.table,
            ctx.node,
            ctx.settings.lease_seconds,
            ids=[item_id],
            state=stage.ready,
            to_state=stage.in_flight,
            where=stage.extra_where,
            params={
                "model": default_model(ctx.settings),
                "strategy": ctx.settings.embed_strategy,
            },
        )
    return rows[0] if rows else None


def claim_batch(ctx: StageContext, stage: Stage, item_id: int, limit: int) -> list[dict[str, Any]]:
    """Atomically take ``item_id`` and, when it was ready, up to ``limit - 1`` other items
    ready for ``stage`` (lowest ids first; rows other workers hold or lock are passed over).

    Returns:
        The claimed rows, ``item_id``'s first; empty when ``item_id`` was not ready.
    """
    params = {"model": default_model(ctx.settings), "strategy": ctx.settings.embed_strategy}

    def take(conn: Any, ids: list[int]) -> list[dict[str, Any]]:
        return leases.claim(
            conn,
            stage.table,
            ctx.node,
            ctx.settings.lease_seconds,
            ids=ids,
            state=stage.ready,
            to_state=stage.in_flight,
            where=stage.extra_where,
            params=params,
        )

    with ctx.db.transaction() as conn:
        claimed = take(conn, [item_id])
        if not claimed or limit <= 1:
            return claimed
        extra = f" AND ({stage.extra_where})" if stage.extra_where else ""
        rows = conn.execute(
            sql.SQL(
                "SELECT t.id FROM {} AS t WHERE t.state = %(_state)s AND {}{}"
                " ORDER BY t.id LIMIT %(_more)s FOR UPDATE SKIP LOCKED"
            ).format(
                sql.Identifier(stage.table),
                sql.SQL(leases.free("t")),
                sql.SQL(extra),
            ),
            {**params, "_state": stage.ready, "_more": limit - 1},
        ).fetchall()
        if rows:
            claimed += take(conn, [int(r["id"]) for r in rows])
    return claimed


def _finish(ctx: StageContext, stage: Stage, item_id: int, to: str, **fields: Any) -> bool:
    """Leave the in-flight state if this node still holds the lease."""
    return item_id in _finish_all(ctx, stage, [item_id], to, **fields)


def _finish_all(
    ctx: StageContext, stage: Stage, item_ids: list[int], to: str, **fields: Any
) -> set[int]:
    """Move the items this node still holds the lease on out of the in-flight state,
    in one statement.

    Returns:
        The ids that moved; the others were taken over by another worker.
    """
    if not item_ids:
        return set()
    with ctx.db.transaction() as conn:
        moved = transition_all(
            conn,
            stage.table,
            to,
            expect=stage.in_flight,
            ids=item_ids,
            owner=ctx.node,
            lease_owner=None,
            lease_expires_at=None,
            **fields,
        )
    return {int(row["id"]) for row in moved}


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

    # The step sees this item's own lease flag, set by its heartbeat.
    ctx = dataclasses.replace(ctx, lease_lost=threading.Event())
    heartbeat = _Heartbeat(ctx, stage, item_id)
    heartbeat.start()
    try:
        with ctx.store.pinned():  # cached inputs stay on disk while the step runs
            fields = step(ctx, row) or {}
    except Exception as exc:
        if isinstance(exc, LeaseLost) or ctx.lease_lost.is_set():
            return outcome("skipped", "lease lost while running; another worker owns the item")
        if isinstance(exc, ShutdownRequested) or shutting_down.is_set():
            # Stopped on purpose (or its FFmpeg was killed at shutdown): not the item's fault.
            _finish(ctx, stage, item_id, stage.release_state, enqueued_at=None)
            return outcome("released", "worker shut down before finishing")
        return _failure(ctx, stage, row, exc, outcome)
    finally:
        heartbeat.stop_event.set()

    done = _finish(
        ctx,
        stage,
        item_id,
        stage.done,
        last_error=None,
        error_kind=None,
        next_retry_at=None,
        enqueued_at=None,
        **fields,
    )
    if not done:
        return outcome("skipped", "lease lost while running; another worker owns the item")
    return outcome("done")


def run_batch(
    ctx: StageContext, stage: Stage, item_id: int, step: BatchStep, limit: int
) -> list[Outcome]:
    """Claim ``item_id`` and up to ``limit - 1`` other items ready for ``stage``, run
    ``step`` on them together and record each item's result, as :func:`run_item` does
    for one (each claimed item keeps its own lease, heartbeat, outcome and error).

    For stages whose work is cheaper in bulk: the embed stage runs the model once on the
    keyframes of several clips instead of once per clip. The other items' queued
    messages then find them done and are skipped.

    Returns:
        One outcome per claimed item, ``item_id``'s first; only ``item_id``'s
        (``skipped``) when it was not ready, and then nothing else is claimed.
    """
    started = time.monotonic()

    def outcome(
        item: int, result: str, error: str | None = None, retry_in: float | None = None
    ) -> Outcome:
        return Outcome(stage.name, item, result, time.monotonic() - started, error, retry_in)

    if shutting_down.is_set():
        return [outcome(item_id, "skipped", "worker is shutting down")]
    try:
        rows = claim_batch(ctx, stage, item_id, limit)
    except psycopg.Error as exc:
        return [outcome(item_id, "skipped", f"could not claim: {exc}")]
    if not rows:
        return [outcome(item_id, "skipped")]

    ctx = dataclasses.replace(ctx, lease_lost=threading.Event())
    heartbeats = [_Heartbeat(ctx, stage, int(row["id"])) for row in rows]
    for heartbeat in heartbeats:
        heartbeat.start()
    try:
        with ctx.store.pinned():
            errors = step(ctx, rows)
    except Exception as exc:
        errors = {int(row["id"]): exc for row in rows}
    finally:
        for heartbeat in heartbeats:
            heartbeat.stop_event.set()

    # The items that succeeded leave the in-flight state together: one statement for
    # the whole claim, not a round trip per item.
    done = _finish_all(
        ctx,
        stage,
        [int(row["id"]) for row in rows if errors.get(int(row["id"])) is None],
        stage.done,
        last_error=None,
        error_kind=None,
        next_retry_at=None,
        enqueued_at=None,
    )
    results: list[Outcome] = []
    for row in rows:
        item = int(row["id"])
        error = errors.get(item)

        def item_outcome(
            result: str, message: str | None = None, retry_in: float | None = None, item=item
        ) -> Outcome:
            return outcome(item, result, message, retry_in)

        if error is None:
            lost = "lease lost while running; another worker owns the item"
            results.append(item_outcome("done") if item in done else item_outcome("skipped", lost))
        elif isinstance(error, (LeaseLost, ShutdownRequested)) or shutting_down.is_set():
            # Stopped on purpose or overtaken: give the item back (a no-op if not held).
            _finish(ctx, stage, item, stage.release_state, enqueued_at=None)
            results.append(item_outcome("released", "worker stopped before finishing"))
        else:
            results.append(_failure(ctx, stage, row, error, item_outcome))
    return results


def _failure(
    ctx: StageContext,
    stage: Stage,
    row: dict[str, Any],
    exc: Exception,
    outcome: Callable[..., Outcome],
) -> Outcome:
    """Record a failed step in the stage's failed state with its kind.

    Transient errors get ``next_retry_at`` (the dispatcher retries them then); permanent
    ones, and transient ones that failed :data:`~mediaml.pipeline.retry.MAX_ATTEMPTS`
    times, wait for a person.
    """
    item_id = row["id"]
    attempts = int(row["retry_count"]) + 1
    transient = isinstance(exc, TRANSIENT_EXCEPTIONS)
    if transient:
        message = f"{type(exc).__name__}: {exc}"
    elif isinstance(exc, MediamlError):
        message = str(exc)
    else:  # a bug: record it on the item, keep the worker alive
        message = f"unexpected {type(exc).__name__}: {exc}"
        log.error(
            "%s of %s %s crashed:\n%s",
            stage.name,
            stage.table,
            item_id,
            "".join(traceback.format_exception(exc)),
        )
    retry = transient and attempts < MAX_ATTEMPTS
    delay = backoff_seconds(attempts) if retry else None
    if transient and not retry:
        message = f"gave up after {attempts} tries: {message}"
    _finish(
        ctx,
        stage,
        item_id,
        stage.failed,
        last_error=_clip(message),
        retry_count=attempts,
        error_kind=TRANSIENT if retry else PERMANENT,
        next_retry_at=seconds_from_now(delay) if delay is not None else None,
    )
    if delay is not None:
        log.info(
            "%s of %s %s will retry in %gs: %s", stage.name, stage.table, item_id, delay, message
        )
        return outcome("retry", message, delay)
    log.warning("%s of %s %s failed: %s", stage.name, stage.table, item_id, message)
    return outcome("failed", message)


def release_held(ctx: StageContext) -> list[tuple[str, int]]:
    """Put every item this node holds back in its ready state (used at shutdown)."""
    from mediaml.pipeline.stages import release_states

    released: list[tuple[str, int]] = []
    with ctx.db.transaction() as conn:
        for (table, in_flight), to in release_states().items():
            rows = transition_all(
                conn,
                table,
                to,
                expect=in_flight,
                owner=ctx.node,
                lease_owner=None,
                lease_expires_at=None,
                enqueued_at=None,
            )
            released += [(table, r["id"]) for r in rows]
    return released


def _clip(message: str, limit: int = 2000) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
