"""The review audit log: the one function that appends a ``review_actions`` row.

The table is append-only (a trigger refuses UPDATE and DELETE). Every writer — the
review actions, undo, automatic approval by ``run_pipeline(auto_approve=True)`` — records
through :func:`record_review_action`, so every row has the same shape: ``before`` and
``after`` hold ``{"clip": snapshot}`` (plus ``"previous"`` for merges and groups, or the
cut that was added or removed).
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from mediaml.db.database import Connection
from mediaml.errors import ReviewError, required


def record_review_action(
    conn: Connection,
    *,
    clip_id: int,
    video_id: int,
    action: str,
    actor: str,
    before: Any,
    after: Any,
    undoes: int | None = None,
) -> int:
    """Append one audit row in the caller's transaction; returns its id.

    Raises:
        ReviewError: ``actor`` is empty (every row names who acted).
    """
    if not actor:
        raise ReviewError("an audit row needs the name of who acted")
    row = conn.execute(
        "INSERT INTO review_actions (clip_id, video_id, action, actor, before, after, undoes)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (clip_id, video_id, action, actor, Jsonb(before), Jsonb(after), undoes),
    ).fetchone()
    return int(required(row, "the id of the recorded action")["id"])
