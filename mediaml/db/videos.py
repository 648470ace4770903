"""Source video records."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from mediaml.db.database import Connection
from mediaml.errors import NotFoundError, required


def create_video(
    conn: Connection, title: str, source_uri: str, **fields: Any
) -> tuple[dict[str, Any], bool]:
    """Insert a source video, or return the existing one with the same ``source_uri``.

    Returns:
        ``(row, created)``; ``created`` is False when the video was already known.
    """
    if "metadata" in fields:
        fields["metadata"] = Jsonb(fields["metadata"])
    columns = ["title", "source_uri", *fields]
    query = sql.SQL(
        "INSERT INTO source_videos ({}) VALUES ({}) ON CONFLICT (source_uri) DO NOTHING RETURNING *"
    ).format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
    )
    row = conn.execute(
        query, {"title": title[:500] or "untitled", "source_uri": source_uri, **fields}
    ).fetchone()
    if row is not None:
        return row, True
    existing = conn.execute(
        "SELECT * FROM source_videos WHERE source_uri = %s", (source_uri,)
    ).fetchone()
    return required(existing, f"the video row for {source_uri}"), False


def get_video(conn: Connection, video_id: int, *, lock: bool = False) -> dict[str, Any]:
    """One source video by id (``lock`` takes a row lock until the transaction ends).

    Raises:
        NotFoundError: no such video.
    """
    query = "SELECT * FROM source_videos WHERE id = %s" + (" FOR UPDATE" if lock else "")
    row = conn.execute(query, (video_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"video {video_id} does not exist")
    return row


def update_video(conn: Connection, video_id: int, **fields: Any) -> dict[str, Any]:
    """Set columns of a video other than its state (state goes through ``transition``)."""
    if "state" in fields:
        raise ValueError("change a video's state with mediaml.db.transitions.transition()")
    if "metadata" in fields:
        fields["metadata"] = Jsonb(fields["metadata"])
    query = sql.SQL("UPDATE source_videos SET {} WHERE id = %(_id)s RETURNING *").format(
        sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in fields
        )
    )
    row = conn.execute(query, {**fields, "_id": video_id}).fetchone()
    if row is None:
        raise NotFoundError(f"video {video_id} does not exist")
    return row


def list_videos(conn: Connection, state: str | None = None) -> list[dict[str, Any]]:
    """Every source video, optionally only those in ``state``, oldest first."""
    if state is None:
        return conn.execute("SELECT * FROM source_videos ORDER BY id").fetchall()
    return conn.execute(
        "SELECT * FROM source_videos WHERE state = %s ORDER BY id", (state,)
    ).fetchall()


def delete_video(conn: Connection, video_id: int) -> None:
    """Delete a video with its cuts, clips, artifacts and embeddings (the audit stays)."""
    conn.execute("DELETE FROM source_videos WHERE id = %s", (video_id,))


def recent_videos(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The ``limit`` newest videos with what an ingest screen shows: state, progress
    (while downloading or encoding), last error, and clips waiting for review.

    One index scan on the primary key plus a count per returned video, so it stays cheap
    at any catalogue size; the ingest page polls it.
    """
    return conn.execute(
        "SELECT v.id, v.title, v.source_uri, v.state, v.progress, v.last_error,"
        " v.retry_count, v.duration_s, v.updated_at,"
        " (SELECT count(*) FROM clips c WHERE c.video_id = v.id"
        "   AND c.state = 'pending_review') AS pending_clips,"
        " (SELECT min(c.id) FROM clips c WHERE c.video_id = v.id"
        "   AND c.state = 'pending_review') AS first_pending_clip"
        " FROM source_videos v ORDER BY v.id DESC LIMIT %s",
        (limit,),
    ).fetchall()
