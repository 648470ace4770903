"""Clip artifacts (keyframe JPEGs and thumbnails) records."""

from __future__ import annotations

from typing import Any

from mediaml.db.database import Connection
from mediaml.errors import required


def upsert_artifact(
    conn: Connection, clip_id: int, kind: str, frame: int, key: str
) -> dict[str, Any]:
    """Record an artifact; re-recording the same (clip, kind, frame) updates its key."""
    row = conn.execute(
        "INSERT INTO clip_artifacts (clip_id, kind, frame, key) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (clip_id, kind, frame) DO UPDATE SET key = EXCLUDED.key RETURNING *",
        (clip_id, kind, frame, key),
    ).fetchone()
    return required(row, "the upserted artifact row")


def list_artifacts(conn: Connection, clip_id: int, kind: str = "keyframe") -> list[dict[str, Any]]:
    """A clip's artifacts of one kind, in frame order."""
    return conn.execute(
        "SELECT * FROM clip_artifacts WHERE clip_id = %s AND kind = %s ORDER BY frame",
        (clip_id, kind),
    ).fetchall()


def middle_keyframes(conn: Connection, clip_ids: list[int]) -> dict[int, str]:
    """The key of each clip's middle keyframe (its thumbnail), for the clips that have one."""
    rows = conn.execute(
        "SELECT DISTINCT ON (a.clip_id) a.clip_id, a.key FROM clip_artifacts a"
        " JOIN clips c ON c.id = a.clip_id"
        " WHERE a.clip_id = ANY(%s) AND a.kind = 'keyframe'"
        " ORDER BY a.clip_id, abs(a.frame - (c.start_frame + c.end_frame) / 2), a.frame",
        (list(clip_ids),),
    ).fetchall()
    return {int(r["clip_id"]): r["key"] for r in rows}
