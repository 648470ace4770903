"""Read the catalogue as DataFrames: videos, clips, cuts and pipeline status.

Column reference:

``videos()``: ``video_id, title, state, source_uri, frame_count, fps, duration_s, width,
height, has_audio, clips, last_error, retry_count, created_at``.

``clips()``: ``clip_id, video_id, title, state, start_frame, end_frame, frames,
start_time, end_time, duration_s, grouped_with, clip_key, keyframe_key, last_error,
retry_count, reviewed_by, is_demo`` — rendered in notebooks with a keyframe thumbnail;
at most 10,000 rows unless ``limit`` says otherwise (``iter_clips()`` pages through all).

``cuts(video)``: ``video_id, frame, time, kind, score, created_by``.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd
from psycopg.rows import tuple_row

from mediaml.db import Database, get_db
from mediaml.db.counts import LIVE_CLIPS, clip_counts, fold_live_clips_if_piled_up
from mediaml.errors import QueryError
from mediaml.states import CLIP_RETRY, CLIP_STATES, VIDEO_RETRY, VIDEO_STATES

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


# Each video's live clips come from the counts the triggers keep (``video_clip_counts``,
# about one row per video; see mediaml.db.counts), never from the clips: counting each
# video's entries in the index of live clips read a million entries at a million clips.
# The columns are the frame's own (fps divided here: the same correctly rounded double
# as float(Fraction)), read as tuples: a frame built from 10,000 dicts, with a Python
# fps per row, took half a second.
VIDEOS_SQL = (
    "SELECT v.id AS video_id, v.title, v.state, v.source_uri, v.frame_count,"
    " v.fps_num::float8 / v.fps_den AS fps, v.duration_s, v.width, v.height, v.has_audio,"
    " coalesce(k.n, 0) AS clips, v.last_error, v.retry_count, v.created_at"
    f" FROM source_videos v LEFT JOIN ({LIVE_CLIPS}) k ON k.video_id = v.id"
    " WHERE %(state)s::text IS NULL OR v.state = %(state)s"
    " ORDER BY v.id"
)


def videos(*, state: str | None = None, db: Database | None = None) -> pd.DataFrame:
    """Source videos with their state and live clip count. See the module doc for columns.

    Raises:
        QueryError: ``state`` is not a video state (the message lists them).
    """
    _check_states("video", [state] if state is not None else None, VIDEO_STATES)
    db = db or get_db()
    with db.transaction() as conn:
        cursor = conn.cursor(row_factory=tuple_row)
        rows = cursor.execute(VIDEOS_SQL, {"state": state}).fetchall()
        fold_live_clips_if_piled_up(conn)
    return pd.DataFrame(rows, columns=VIDEO_COLUMNS)


def _like_pattern(text: str) -> str:
    """``%text%`` for ILIKE, with the pattern characters in ``text`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_videos(
    text: str = "", *, limit: int = 50, include: int | None = None, db: Database | None = None
) -> tuple[list[tuple[int, str]], int]:
    """A page of source videos to choose from, for a chooser that stays light at any size.

    Args:
        text: part of a title (case-insensitive), or a video id; empty matches every video.
        limit: at most this many matches, in id order (a video whose id is ``text``
            comes first).
        include: a video id to return as well when it exists, matching or not (the
            one already chosen).
        db: the database (default: the process default).

    Returns:
        ``([(video_id, title), ...], total)``: the matches (with ``include`` first when it
        is not among them), and how many videos match in all, counted up to ``limit + 1``
        at most (``limit + 1`` means "more than ``limit``").
    """
    text = text.strip()
    number = int(text) if text.isdigit() and len(text) < 19 else None
    params = {
        "text": text,
        "pattern": _like_pattern(text),
        "id": number,
        "limit": max(0, int(limit)),
        "include": include,
    }
    match = "(%(text)s = '' OR v.title ILIKE %(pattern)s OR v.id = %(id)s)"
    db = db or get_db()
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT v.id, v.title FROM source_videos v WHERE " + match + " ORDER BY"
            " v.id = %(id)s DESC NULLS LAST, v.id LIMIT %(limit)s",
            params,
        ).fetchall()
        total = conn.execute(
            "SELECT count(*) AS n FROM (SELECT 1 FROM source_videos v WHERE "
            + match
            + " LIMIT %(limit)s + 1) m",
            params,
        ).fetchone()
        found = [(int(r["id"]), str(r["title"])) for r in rows]
        if include is not None and include not in {video for video, _ in found}:
            extra = conn.execute(
                "SELECT id, title FROM source_videos WHERE id = %s", (include,)
            ).fetchone()
            if extra is not None:
                found.insert(0, (int(extra["id"]), str(extra["title"])))
    return found, int(total["n"]) if total else 0


CLIPS_LIMIT = 10_000


class ClipsTruncatedWarning(UserWarning):
    """``clips()`` returned its default first page; more clips match."""


def clips(
    *,
    state: str | list[str] | None = None,
    video: int | None = None,
    include_archived: bool = False,
    limit: int | None = CLIPS_LIMIT,
    after: int | None = None,
    db: Database | None = None,
) -> ClipFrame:
    """Clips in video order, filtered by state(s) and video. See the module doc for columns.

    Large catalogues are read a page at a time: at most ``limit`` clips (10,000 by
    default; ``None`` for every clip, in one query), starting after the clip id ``after``
    in video order. When the default limit cuts the answer short, a
    :class:`ClipsTruncatedWarning` says how to get the rest, and ``frame.attrs["next_after"]``
    holds the id to pass as ``after`` for the next page (``None`` on the last page).
    :func:`iter_clips` walks every page lazily.

    Raises:
        QueryError: a state is not a clip state (the message lists them), ``limit`` is
            below 1, or ``after`` is not a clip id.
    """
    if limit is not None and limit < 1:
        raise QueryError(f"clips(limit={limit}): use a positive page size, or None for every clip")
    db = db or get_db()
    states = [state] if isinstance(state, str) else state
    _check_states("clip", states, CLIP_STATES)
    query, state_params = _clips_sql(states, include_archived)
    params = {
        **state_params,
        "video": video,
        "after": after,
        "fetch": None if limit is None else limit + 1,
    }
    with db.transaction() as conn:
        if (
            after is not None
            and not conn.execute("SELECT 1 FROM clips WHERE id = %s", (after,)).fetchone()
        ):
            raise QueryError(
                f"clips(after={after}): no clip has that id; pass the last clip_id of a page"
            )
        # Tuples, not dicts: a frame is built from 10,000 tuples in about 2/3 of the time.
        cursor = conn.cursor(row_factory=tuple_row)
        rows = cursor.execute(query, params).fetchall()
        names = [column.name for column in cursor.description or ()]
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if more else rows
    frame = pd.DataFrame(rows, columns=names)
    frame.insert(CLIP_COLUMNS.index("frames"), "frames", frame["end_frame"] - frame["start_frame"])
    frame.insert(
        CLIP_COLUMNS.index("duration_s"), "duration_s", frame["end_time"] - frame["start_time"]
    )
    out = ClipFrame(frame)
    out.attrs["next_after"] = int(frame["clip_id"].iat[-1]) if more else None
    if more and limit == CLIPS_LIMIT:
        warnings.warn(
            f"clips() returned the first {limit:,} matching clips; there are more. Pass "
            "limit=None for all of them at once, after=frame.attrs['next_after'] for the "
            "next page, or iterate with mediaml.catalog.iter_clips().",
            ClipsTruncatedWarning,
            stacklevel=2,
        )
    return out


# One statement: the page of clips (an index walk in video order, keyset-paged), then the
# middle keyframe of each clip on the page, one index lookup per clip (a join against
# every clip's keyframes read all of clip_artifacts: 1.6 s at a million clips).
#
# Clips in given states are read one state at a time, each from the index of clips by
# state in video order (``clips_state_order_idx``, migration 0015), and the states merged
# in video order: the walk reads only matching clips. A filter on the video-ordered index
# read every clip before the first match: the newest fifth of a million clips, waiting
# for review, took 1.1-1.5 s to show their first page.
_PAGE_COLUMNS = (
    "c.id AS clip_id, c.video_id, c.state, c.start_frame, c.end_frame, c.start_time,"
    " c.end_time, c.grouped_with, c.clip_key, c.last_error, c.retry_count, c.reviewed_by,"
    " c.is_demo"
)
_PAGE_WHERE = (
    " AND (%(video)s::bigint IS NULL OR c.video_id = %(video)s)"
    " AND (%(after)s::bigint IS NULL OR (c.video_id, c.start_frame, c.id) >"
    " (SELECT a.video_id, a.start_frame, a.id FROM clips a WHERE a.id = %(after)s))"
)
_CLIPS_PAGE = """
SELECT page.clip_id, page.video_id, v.title, page.state, page.start_frame, page.end_frame,
       page.start_time, page.end_time, page.grouped_with, page.clip_key, k.key AS keyframe_key,
       page.last_error, page.retry_count, page.reviewed_by, page.is_demo
FROM ({page} ORDER BY video_id, start_frame, clip_id LIMIT %(fetch)s) page
JOIN source_videos v ON v.id = page.video_id
LEFT JOIN LATERAL (
    SELECT m.key FROM (
        SELECT a.key, row_number() OVER (ORDER BY a.frame) - 1 AS i, count(*) OVER () AS n
        FROM clip_artifacts a
        WHERE a.clip_id = page.clip_id AND a.kind = 'keyframe'
    ) m
    WHERE m.i = m.n / 2
) k ON true
ORDER BY page.video_id, page.start_frame, page.clip_id
"""


def _clips_sql(states: list[str] | None, include_archived: bool) -> tuple[str, dict[str, str]]:
    """The page query for ``states`` (None: every live clip, or every clip with
    ``include_archived``) and the parameters naming the states."""
    if states is None:
        live = "true" if include_archived else "c.state <> 'archived'"
        page = f"SELECT {_PAGE_COLUMNS} FROM clips c WHERE {live}{_PAGE_WHERE}"
        return _CLIPS_PAGE.format(page=page), {}
    names = {f"state{i}": s for i, s in enumerate(dict.fromkeys(states))}
    # Each state's own ORDER BY and LIMIT make its arm an ordered walk of its index range
    # that the planner merges; arms merged as one UNION ALL were sorted whole instead.
    arms = [
        f"(SELECT {_PAGE_COLUMNS} FROM clips c WHERE c.state = %({name})s::text{_PAGE_WHERE}"
        " ORDER BY c.video_id, c.start_frame, c.id LIMIT %(fetch)s)"
        for name in names
    ] or [f"SELECT {_PAGE_COLUMNS} FROM clips c WHERE false"]
    page = "SELECT c.* FROM (" + " UNION ALL ".join(arms) + ") c"
    return _CLIPS_PAGE.format(page=page), names


def iter_clips(
    *,
    state: str | list[str] | None = None,
    video: int | None = None,
    include_archived: bool = False,
    page_size: int = CLIPS_LIMIT,
    db: Database | None = None,
) -> Iterator[ClipFrame]:
    """Every matching clip, one :func:`clips` page (a :class:`ClipFrame`) at a time, so a
    million clips never sit in memory at once.

    Example:
        >>> for page in mediaml.catalog.iter_clips(state="embedded"):
        ...     process(page)
    """
    after = None
    while True:
        page = clips(
            state=state,
            video=video,
            include_archived=include_archived,
            limit=page_size,
            after=after,
            db=db,
        )
        if len(page):
            yield page
        after = page.attrs["next_after"]
        if after is None:
            return


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


_FAILED_COLUMNS = "id, state, error_kind, retry_count, next_retry_at, last_error, updated_at"
# The latest failed items. The failed states are named (the video and clip retry maps'
# keys), so the state indexes find the few failed rows; a pattern on the state
# (``LIKE '%failed'``) read every clip, ~0.25 s at a million clips, on every status
# page refresh.
FAILED_ITEMS = (
    f"SELECT 'video' AS kind, {_FAILED_COLUMNS} FROM source_videos WHERE state = ANY(%s)"
    f" UNION ALL SELECT 'clip', {_FAILED_COLUMNS} FROM clips WHERE state = ANY(%s)"
    " ORDER BY updated_at DESC LIMIT 100"
)


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
        c = clip_counts(conn)  # kept by triggers: no pass over every clip
        failed = conn.execute(FAILED_ITEMS, (list(VIDEO_RETRY), list(CLIP_RETRY))).fetchall()
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
