"""A clip's place in its video, for deciding with context: its neighbours and every cut.

One indexed query (``clips (video_id, start_frame)``) reads the live clips of the clip's
video; the previous and next clips are the ones that end where it starts and start where
it ends. Thumbnails come from stored keyframes when a neighbour has them (clips reviewed
earlier and processed); otherwise the page shows the neighbour's first frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from mediaml.db.artifacts import middle_keyframes
from mediaml.db.database import Database, get_db
from mediaml.errors import NotFoundError

# A video cut into more clips than this is drawn from its first clips around the current
# one; the timeline stays one query and one small message at any video length.
TIMELINE_LIMIT = 2000


@dataclass(frozen=True)
class Segment:
    """One live clip on the timeline."""

    clip_id: int
    start_frame: int
    end_frame: int
    state: str
    poster_key: str | None = None


@dataclass(frozen=True)
class ClipContext:
    """Where a clip sits in its video.

    Attributes:
        clip_id: the clip.
        video_id: its video; frame_count: the video's length in frames; fps_num/fps_den:
            its frame rate.
        segments: live clips of the video in frame order (at most ``TIMELINE_LIMIT``,
            centred on the clip); their boundaries are the video's cuts.
        previous: the live clip ending where this one starts (None: first clip).
        next: the live clip starting where this one ends (None: last clip).
        truncated: the video has more clips than ``segments`` holds.
    """

    clip_id: int
    video_id: int
    frame_count: int
    fps_num: int
    fps_den: int
    segments: tuple[Segment, ...]
    previous: Segment | None
    next: Segment | None
    truncated: bool = False

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields plus the float fps."""
        return {**asdict(self), "fps": float(self.fps)}


def clip_context(clip_id: int, *, db: Database | None = None) -> ClipContext:
    """The neighbours and timeline of ``clip_id`` (which may be archived: then its
    neighbours are the live clips touching its frames).

    Raises:
        NotFoundError: the clip no longer exists.
    """
    with (db or get_db()).transaction() as conn:
        row = conn.execute(
            "SELECT c.video_id, c.start_frame, c.end_frame, v.frame_count, v.fps_num, v.fps_den"
            " FROM clips c JOIN source_videos v ON v.id = c.video_id WHERE c.id = %s",
            (clip_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"clip {clip_id} does not exist (its video may have been deleted)")
        video_id, start, end = int(row["video_id"]), int(row["start_frame"]), int(row["end_frame"])
        half = TIMELINE_LIMIT // 2
        rows = conn.execute(
            """
            (SELECT id, start_frame, end_frame, state FROM clips
              WHERE video_id = %(v)s AND start_frame < %(s)s AND state <> 'archived'
              ORDER BY start_frame DESC LIMIT %(half)s)
            UNION ALL
            (SELECT id, start_frame, end_frame, state FROM clips
              WHERE video_id = %(v)s AND start_frame >= %(s)s AND state <> 'archived'
              ORDER BY start_frame LIMIT %(half)s)
            """,
            {"v": video_id, "s": start, "half": half + 1},
        ).fetchall()
        rows.sort(key=lambda r: int(r["start_frame"]))
        truncated = len(rows) > TIMELINE_LIMIT
        previous = next((r for r in rows if int(r["end_frame"]) == start), None)
        following = next((r for r in rows if int(r["start_frame"]) == end), None)
        neighbours = [int(r["id"]) for r in (previous, following) if r is not None]
        posters = middle_keyframes(conn, neighbours) if neighbours else {}
    frames = int(row["frame_count"] or (rows[-1]["end_frame"] if rows else end))

    def segment(r: dict[str, Any] | None, *, poster: bool = False) -> Segment | None:
        if r is None:
            return None
        return Segment(
            int(r["id"]),
            int(r["start_frame"]),
            int(r["end_frame"]),
            str(r["state"]),
            posters.get(int(r["id"])) if poster else None,
        )

    segments = tuple(s for s in (segment(r) for r in rows[:TIMELINE_LIMIT]) if s is not None)
    return ClipContext(
        clip_id=clip_id,
        video_id=video_id,
        frame_count=frames,
        fps_num=int(row["fps_num"] or 1),
        fps_den=int(row["fps_den"] or 1),
        segments=segments,
        previous=segment(previous, poster=True),
        next=segment(following, poster=True),
        truncated=truncated,
    )
