"""Clip artifacts (keyframe JPEGs and thumbnails) records."""

from __future__ import annotations

from typing import Any

from mediaml.db.database import Connection


def upsert_artifact(
    conn: Connection, clip_id: int, kind: str, frame: int, key: str
) -> dict[str, Any]:
    """Record an artifact; re-recording the same (clip, kind, frame) updates its key."""
    row = conn.execute(
        "INSERT INTO clip_artifacts (clip_id, kind, frame, key) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (clip_id, kind, frame) DO UPDATE SET key = EXCLUDED.key RETURNING *",
        (clip_id, kind, frame, key),
    ).fetchone()
    assert row is not None
    return row


def list_artifacts(conn: Connection, clip_id: int, kind: str = "keyframe") -> list[dict[str, Any]]:
    """A clip's artifacts of one kind, in frame order."""
    return conn.execute(
        "SELECT * FROM clip_artifacts WHERE clip_id = %s AND kind = %s ORDER BY frame",
        (clip_id, kind),
    ).fetchall()
