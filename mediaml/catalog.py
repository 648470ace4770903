"""Read the catalogue as DataFrames: videos, clips, cuts and pipeline status.

Column reference:

``videos()``: ``video_id, title, state, source_uri, frame_count, fps, duration_s, width,
height, has_audio, clips, last_error, retry_count, created_at``.

``clips()``: ``clip_id, video_id, title, state, start_frame, end_frame, frames,
start_time, end_time, duration_s, grouped_with, clip_key, keyframe_key, last_error,
retry_count, reviewed_by, is_demo`` — rendered in notebooks with a keyframe thumbnail.

``cuts(video)``: ``video_id, frame, time, kind, score, created_by``.
"""

from __future__ import annotations

import base64
import html
import io
from fractions import Fraction
from typing import Any

import pandas as pd

from mediaml.db import Database, get_db
from mediaml.errors import QueryError
from mediaml.states import CLIP_STATES, VIDEO_STATES

VIDEO_COLUMNS = [
    "video_id",
    "title",
    "state",
    "source_uri",
    "frame_count",
    "fps",
    "duration_s",
    "width",
    "height",
    "has_audio",
    "clips",
    "last_error",
    "retry_count",
    "created_at",
]
CLIP_COLUMNS = [
    "clip_id",
    "video_id",
    "title",
    "state",
    "start_frame",
    "end_frame",
    "frames",
    "start_time",
    "end_time",
    "duration_s",
    "grouped_with",
    "clip_key",
    "keyframe_key",
    "last_error",
    "retry_count",
    "reviewed_by",
    "is_demo",
]
CUT_COLUMNS = ["video_id", "frame", "time", "kind", "score", "created_by"]
THUMB_WIDTH = 96
MAX_THUMBS = 60


class ClipFrame(pd.DataFrame):
    """A DataFrame of clips that shows a keyframe thumbnail per row in notebooks."""

    @property
    def _constructor(self) -> type[ClipFrame]:
        return ClipFrame

    def _repr_html_(self) -> str | None:
        if "keyframe_key" not in self.columns or self.empty:
            return super()._repr_html_()
        head = pd.DataFrame(self.head(MAX_THUMBS))
        # Titles, URIs and errors come from file names and web pages: every column is
        # escaped; only the thumbnail markup built here is trusted.
        shown = pd.DataFrame(
            {html.escape(str(c)): head[c] for c in head.columns if c != "keyframe_key"}
        )
        text = {str(c): _escape_cell for c in shown.columns if not _markup_free(shown[c])}
        shown.insert(0, "thumbnail", [_thumbnail_html(k) for k in head["keyframe_key"]])
        table = shown.to_html(escape=False, index=False, formatters=text)
        more = (
            f"<p>{len(self) - MAX_THUMBS} more rows not shown</p>" if len(self) > MAX_THUMBS else ""
        )
        return f"<div>{table}{more}</div>"


def _markup_free(column: pd.Series) -> bool:
    """Numbers, booleans and times cannot hold markup; anything else may."""
    dtype = column.dtype
    return bool(
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    )


def _escape_cell(value: Any) -> str:
    return html.escape(str(value))


def _thumbnail_html(key: Any) -> str:
    if not isinstance(key, str):
        return ""
    from PIL import Image

    from mediaml.errors import MediamlError
    from mediaml.storage import get_store

    store = get_store()
    try:
        with store.pinned(), Image.open(store.local_path(key)) as img:
            img.thumbnail((THUMB_WIDTH, THUMB_WIDTH))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG", quality=70)
    except (MediamlError, OSError):
        return ""
    data = base64.b64encode(buf.getvalue()).decode()
    return (
        f'<img src="data:image/jpeg;base64,{data}" alt="{html.escape(key)}" width="{THUMB_WIDTH}">'
    )


def _check_states(kind: str, given: list[str] | None, known: tuple[str, ...]) -> None:
    unknown = [s for s in given or [] if s not in known]
    if unknown:
        raise QueryError(
            f"unknown {kind} state {', '.join(map(repr, unknown))}; {kind} states are: "
            + ", ".join(known)
        )


def videos(*, state: str | None = None, db: Database | None = None) -> pd.DataFrame:
    """Source videos with their state and live clip count. See the module doc for columns.

    Raises:
        QueryError: ``state`` is not a video state (the message lists them).
    """
    _check_states("video", [state] if state is not None else None, VIDEO_STATES)
    db = db or get_db()
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT v.*, (SELECT count(*) FROM clips c WHERE c.video_id = v.id"
            "  AND c.state <> 'archived') AS clips"
            " FROM source_videos v WHERE %(state)s::text IS NULL OR v.state = %(state)s"
            " ORDER BY v.id",
            {"state": state},
        ).fetchall()
    for r in rows:
        r["video_id"] = r["id"]
        r["fps"] = float(Fraction(r["fps_num"], r["fps_den"])) if r["fps_num"] else None
    return pd.DataFrame(rows, columns=VIDEO_COLUMNS)


def clips(
    *,
    state: str | list[str] | None = None,
    video: int | None = None,
    include_archived: bool = False,
    db: Database | None = None,
) -> ClipFrame:
    """Clips in video order, filtered by state(s) and video. See the module doc for columns.

    Raises:
        QueryError: a state is not a clip state (the message lists them).
    """
    db = db or get_db()
    states = [state] if isinstance(state, str) else state
    _check_states("clip", states, CLIP_STATES)
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT c.*, v.title,"
            " (SELECT a.key FROM clip_artifacts a WHERE a.clip_id = c.id AND a.kind = 'keyframe'"
            "  ORDER BY a.frame OFFSET (SELECT count(*) / 2 FROM clip_artifacts b"
            "   WHERE b.clip_id = c.id AND b.kind = 'keyframe') LIMIT 1) AS keyframe_key"
            " FROM clips c JOIN source_videos v ON v.id = c.video_id"
            " WHERE (%(states)s::text[] IS NULL OR c.state = ANY(%(states)s))"
            "  AND (%(video)s::bigint IS NULL OR c.video_id = %(video)s)"
            "  AND (%(archived)s OR %(states)s::text[] IS NOT NULL OR c.state <> 'archived')"
            " ORDER BY c.video_id, c.start_frame, c.id",
            {"states": states, "video": video, "archived": include_archived},
        ).fetchall()
    for r in rows:
        r["clip_id"] = r["id"]
        r["frames"] = r["end_frame"] - r["start_frame"]
        r["duration_s"] = r["end_time"] - r["start_time"]
    return ClipFrame(pd.DataFrame(rows, columns=CLIP_COLUMNS))


def cuts(video: int, *, db: Database | None = None) -> pd.DataFrame:
    """The current cuts of a video (each the first frame of a new shot)."""
    db = db or get_db()
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT k.video_id, k.frame, k.frame::float8 * v.fps_den / v.fps_num AS time,"
            " k.kind, k.score, k.created_by FROM cuts k JOIN source_videos v ON v.id = k.video_id"
            " WHERE k.video_id = %s ORDER BY k.frame",
            (video,),
        ).fetchall()
    return pd.DataFrame(rows, columns=CUT_COLUMNS)


def status(*, db: Database | None = None) -> dict[str, Any]:
    """Counts per state for videos and clips, failed items, queue depths, last job runs.

    Each failed item has ``error_kind``: ``transient`` ones are retried automatically at
    ``next_retry_at``; ``permanent`` ones wait for a person (``mediaml retry``).
    """
    db = db or get_db()
    with db.transaction() as conn:
        v = {
            r["state"]: r["n"]
            for r in conn.execute("SELECT state, count(*) AS n FROM source_videos GROUP BY state")
        }
        c = {
            r["state"]: r["n"]
            for r in conn.execute("SELECT state, count(*) AS n FROM clips GROUP BY state")
        }
        columns = "id, state, error_kind, retry_count, next_retry_at, last_error, updated_at"
        failed = conn.execute(
            f"SELECT 'video' AS kind, {columns} FROM source_videos WHERE state LIKE '%%failed'"
            f" UNION ALL SELECT 'clip', {columns} FROM clips WHERE state LIKE '%%failed'"
            " ORDER BY updated_at DESC LIMIT 100"
        ).fetchall()
        queues = {
            r["queue"]: r["n"]
            for r in conn.execute("SELECT queue, count(*) AS n FROM huey_task GROUP BY queue")
        }
        runs = {
            r["job"]: r
            for r in conn.execute(
                "SELECT DISTINCT ON (job) job, node, finished_at, stats FROM job_runs"
                " ORDER BY job, started_at DESC"
            )
        }
    from mediaml.config import QUEUE_NAMES

    return {
        "videos": {s: v.get(s, 0) for s in VIDEO_STATES},
        "clips": {s: c.get(s, 0) for s in CLIP_STATES},
        "failed": [
            {
                **f,
                "updated_at": f["updated_at"].isoformat(),
                "next_retry_at": f["next_retry_at"].isoformat() if f["next_retry_at"] else None,
            }
            for f in failed
        ],
        "queues": {q: queues.get(q, 0) for q in QUEUE_NAMES},
        "last_runs": {
            job: {
                "node": r["node"],
                "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None,
                "stats": r["stats"],
            }
            for job, r in runs.items()
        },
    }


def clip_details(clip_ids: list[int], *, db: Database | None = None) -> dict[int, dict[str, Any]]:
    """A few facts per clip for display: ``clip_id, video_id, title, state, start_frame,
    end_frame, duration_s, has_proxy``. Unknown ids are simply absent."""
    if not clip_ids:
        return {}
    db = db or get_db()
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT c.id AS clip_id, c.video_id, v.title, c.state, c.start_frame, c.end_frame,"
            " c.end_time - c.start_time AS duration_s, v.proxy_key IS NOT NULL AS has_proxy"
            " FROM clips c JOIN source_videos v ON v.id = c.video_id WHERE c.id = ANY(%s)",
            (list(clip_ids),),
        ).fetchall()
    return {int(r["clip_id"]): r for r in rows}
