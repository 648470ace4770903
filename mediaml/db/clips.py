"""Cuts and clips records: the cut operations applied in one transaction each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from mediaml import cutmath
from mediaml.db.database import Connection
from mediaml.db.transitions import transition_all
from mediaml.db.videos import get_video
from mediaml.errors import IllegalTransitionError, InvalidCutError, NotFoundError, required
from mediaml.states import ARCHIVED, CLIP_IN_FLIGHT, PENDING_REVIEW, allowed_sources


@dataclass(frozen=True)
class DetectedCut:
    """A cut as the detector reports it."""

    frame: int
    kind: str = "cut"
    score: float | None = None


@dataclass(frozen=True)
class AppliedCutChange:
    """What a cut operation did to the database."""

    cuts: tuple[int, ...]
    archived: tuple[dict[str, Any], ...]
    created: tuple[dict[str, Any], ...]


def video_fps(video: dict[str, Any]) -> Fraction:
    """The stored, authoritative frame rate of a probed video."""
    if not video.get("fps_num") or not video.get("frame_count"):
        raise InvalidCutError(f"video {video['id']} has not been probed yet (no fps/frame count)")
    return Fraction(video["fps_num"], video["fps_den"])


def get_clip(conn: Connection, clip_id: int, *, lock: bool = False) -> dict[str, Any]:
    """One clip by id.

    Raises:
        NotFoundError: no such clip.
    """
    query = "SELECT * FROM clips WHERE id = %s" + (" FOR UPDATE" if lock else "")
    row = conn.execute(query, (clip_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"clip {clip_id} does not exist")
    return row


def list_clips(
    conn: Connection,
    *,
    state: str | Sequence[str] | None = None,
    video_id: int | None = None,
    include_archived: bool = False,
) -> list[dict[str, Any]]:
    """Clips in video order, filtered by state(s) and/or video."""
    where: list[str] = ["true"]
    params: list[Any] = []
    if state is not None:
        where.append("state = ANY(%s)")
        params.append([state] if isinstance(state, str) else list(state))
    elif not include_archived:
        where.append("state <> 'archived'")
    if video_id is not None:
        where.append("video_id = %s")
        params.append(video_id)
    return conn.execute(
        f"SELECT * FROM clips WHERE {' AND '.join(where)} ORDER BY video_id, start_frame, id",
        params,
    ).fetchall()


def list_cuts(conn: Connection, video_id: int) -> list[dict[str, Any]]:
    """The current cuts of a video, in frame order."""
    return conn.execute(
        "SELECT * FROM cuts WHERE video_id = %s ORDER BY frame", (video_id,)
    ).fetchall()


def _insert_clips(
    conn: Connection, video: dict[str, Any], segments: Iterable[cutmath.Segment], **extra: Any
) -> list[dict[str, Any]]:
    fps = video_fps(video)
    rows = []
    for start, end in segments:
        row = conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time, state,"
            " is_demo) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
            (
                video["id"],
                start,
                end,
                cutmath.frame_to_time(start, fps),
                cutmath.frame_to_time(end, fps),
                PENDING_REVIEW,
                extra.get("is_demo", False),
            ),
        ).fetchone()
        rows.append(required(row, "the inserted clip row"))
    return rows


def create_initial_clips(
    conn: Connection, video_id: int, detected: Iterable[DetectedCut], *, is_demo: bool = False
) -> list[dict[str, Any]]:
    """Record detected cuts and the clips between them, once per video.

    Idempotent: if the video already has cuts or clips, nothing is written and its live
    clips are returned, so a re-run of scene detection never duplicates anything.
    """
    video = get_video(conn, video_id, lock=True)
    existing = list_clips(conn, video_id=video_id, include_archived=True)
    if existing:
        return [c for c in existing if c["state"] != ARCHIVED]
    frame_count = int(video["frame_count"] or 0)
    by_frame: dict[int, DetectedCut] = {}
    for cut in detected:
        if 0 < cut.frame < frame_count:
            by_frame.setdefault(cut.frame, cut)
    frames = cutmath.normalize_cuts(by_frame, frame_count)
    for f in frames:
        c = by_frame[f]
        conn.execute(
            "INSERT INTO cuts (video_id, frame, kind, score) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (video_id, frame) DO NOTHING",
            (video_id, f, c.kind, c.score),
        )
    return _insert_clips(conn, video, cutmath.clips_from_cuts(frames, frame_count), is_demo=is_demo)


def apply_cut_change(
    conn: Connection,
    video_id: int,
    compute: Any,
    *,
    created_by: str = "review",
) -> AppliedCutChange:
    """Apply a pure cut operation to a video's stored cuts and clips.

    ``compute(cuts, frame_count) -> CutChange`` runs on the current cuts read under a
    lock on the video row, so concurrent cut operations on one video serialise. The
    clips it replaces are archived (refused if a worker holds one of them) and the new
    ones inserted in ``pending_review``.
    """
    video = get_video(conn, video_id, lock=True)
    frame_count = int(video["frame_count"] or 0)
    current = tuple(r["frame"] for r in list_cuts(conn, video_id))
    change: cutmath.CutChange = compute(current, frame_count)
    live = {(c["start_frame"], c["end_frame"]): c for c in list_clips(conn, video_id=video_id)}
    archived = []
    for seg in change.archived:
        clip = live.get(seg)
        if clip is None:
            raise InvalidCutError(
                f"video {video_id} has no live clip for frames {seg[0]}..{seg[1] - 1}; "
                "its clips no longer match its cuts"
            )
        if clip["state"] in CLIP_IN_FLIGHT:
            raise IllegalTransitionError(
                f"clip {clip['id']} is being processed ({clip['state']}); try again when it is done"
            )
        archived.append(clip)
    # Archiving is always allowed outside in-flight states (see mediaml.states).
    transition_all(
        conn,
        "clips",
        ARCHIVED,
        expect=allowed_sources("clips", ARCHIVED),
        ids=[int(c["id"]) for c in archived],
        grouped_with=None,
    )
    old, new = set(current), set(change.cuts)
    for f in old - new:
        conn.execute("DELETE FROM cuts WHERE video_id = %s AND frame = %s", (video_id, f))
    for f in new - old:
        conn.execute(
            "INSERT INTO cuts (video_id, frame, kind, created_by) VALUES (%s, %s, 'manual', %s)",
            (video_id, f, created_by),
        )
    created = _insert_clips(conn, video, change.created)
    return AppliedCutChange(change.cuts, tuple(archived), tuple(created))


def add_cut(
    conn: Connection, video_id: int, frame: int, *, created_by: str = "review"
) -> AppliedCutChange:
    """Split the clip containing ``frame`` at ``frame``."""
    return apply_cut_change(
        conn, video_id, lambda c, n: cutmath.add_cut(c, frame, n), created_by=created_by
    )


def remove_cut(
    conn: Connection, video_id: int, frame: int, *, created_by: str = "review"
) -> AppliedCutChange:
    """Merge the two clips that meet at ``frame``."""
    return apply_cut_change(
        conn, video_id, lambda c, n: cutmath.remove_cut(c, frame, n), created_by=created_by
    )


def move_cut(
    conn: Connection, video_id: int, frame: int, to: int, *, created_by: str = "review"
) -> AppliedCutChange:
    """Move the cut at ``frame`` to ``to``."""
    return apply_cut_change(
        conn, video_id, lambda c, n: cutmath.move_cut(c, frame, to, n), created_by=created_by
    )


def previous_clip(conn: Connection, clip: dict[str, Any]) -> dict[str, Any] | None:
    """The live clip that ends where ``clip`` starts, if any."""
    return conn.execute(
        "SELECT * FROM clips WHERE video_id = %s AND end_frame = %s AND state <> 'archived'",
        (clip["video_id"], clip["start_frame"]),
    ).fetchone()
