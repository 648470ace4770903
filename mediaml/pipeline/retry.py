"""Retrying failed videos and clips: the policy, the automatic retries and the manual one.

A failed item carries ``error_kind``:

- ``transient`` (network, storage, a busy database): retried automatically. The failing
  step sets ``next_retry_at`` with a growing delay (:func:`backoff_seconds`: 10 s, 40 s,
  160 s, ... capped at :data:`MAX_DELAY`); the dispatcher's pass every minute moves the
  items whose time has come back to their ready state (:func:`retry_due`) and queues
  them. After :data:`MAX_ATTEMPTS` tries the item becomes permanent.
- ``permanent`` (bad media, a bug, too many tries): waits for a person, who fixes the
  cause and calls :func:`retry` (``mediaml retry``, the status page's retry button).

A worker killed mid-step is recovered by the dispatcher when its lease expires
(:func:`mediaml.pipeline.dispatcher.recover_expired`), also without a person.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mediaml.db import Database, get_db
from mediaml.db.database import Connection
from mediaml.db.transitions import transition_all
from mediaml.states import CLIP_RETRY, VIDEO_RETRY

TRANSIENT = "transient"
PERMANENT = "permanent"
MAX_ATTEMPTS = 8
"""Tries of a transiently failing item before it waits for a person (about 2.5 h)."""
MAX_DELAY = 3600.0
"""The longest wait between two automatic tries, in seconds."""

_MACHINES = {"source_videos": VIDEO_RETRY, "clips": CLIP_RETRY}
_KINDS = {"videos": ("source_videos",), "clips": ("clips",), "all": ("source_videos", "clips")}


def backoff_seconds(attempt: int) -> float:
    """Delay before automatic retry number ``attempt`` (1-based): 10 s, 40 s, 160 s, ...
    never more than :data:`MAX_DELAY`."""
    return min(float(10 * 4 ** max(attempt - 1, 0)), MAX_DELAY)


# Which failed states have a retry due, per table: one statement that reads only the
# partial *_retry_idx indexes, so an idle dispatcher pass pays almost nothing for retries.
_DUE = " UNION ALL ".join(
    f"SELECT '{table}' AS tbl, state FROM {table} WHERE next_retry_at <= now() GROUP BY state"
    for table in _MACHINES
)


def retry_due(conn: Connection) -> dict[str, int]:
    """Move transiently failed items whose next try is due back to their ready state.

    Set-based: one query finds the failed states with due items, then one statement per
    such state moves them. Returns ``{"table:failed_state": n}`` for the states moved.
    """
    moved: dict[str, int] = {}
    for due in conn.execute(_DUE).fetchall():
        table, failed = due["tbl"], due["state"]
        to = _MACHINES[table].get(failed)
        if to is None:  # not a failed state (cannot happen: only failures get a time)
            continue
        rows = transition_all(
            conn,
            table,
            to,
            expect=failed,
            where="t.next_retry_at <= now()",
            next_retry_at=None,
            enqueued_at=None,
        )
        moved[f"{table}:{failed}"] = len(rows)
    return moved


def retry(
    what: str = "all", ids: Sequence[int] | None = None, *, db: Database | None = None
) -> pd.DataFrame:
    """Put failed items back in the state before the stage that failed (a person's retry).

    Args:
        what: ``videos``, ``clips`` or ``all``.
        ids: only these ids (of the chosen kind); all failed items when None.

    Returns:
        One row per re-queued item: ``kind``, ``id``, ``from_state``, ``to_state``,
        ``last_error``. The dispatcher (or ``run_pipeline``) picks them up.
    """
    if what not in _KINDS:
        raise ValueError(f"what must be one of {', '.join(_KINDS)}, not {what!r}")
    db = db or get_db()
    rows = []
    with db.transaction() as conn:
        for table in _KINDS[what]:
            for failed, to in _MACHINES[table].items():
                moved = transition_all(
                    conn,
                    table,
                    to,
                    expect=failed,
                    ids=None if ids is None else list(ids),
                    returning="t.id, t.last_error",
                    retry_count=0,
                    error_kind=None,
                    next_retry_at=None,
                    enqueued_at=None,
                )
                rows += [
                    {
                        "kind": "video" if table == "source_videos" else "clip",
                        "id": r["id"],
                        "from_state": failed,
                        "to_state": to,
                        "last_error": r["last_error"],
                    }
                    for r in moved
                ]
    return pd.DataFrame(rows, columns=["kind", "id", "from_state", "to_state", "last_error"])
