"""Who holds which clip: short claims so two reviewers are never shown the same clip.

A clip shown to a reviewer is *claimed*: its ``lease_owner`` becomes
``review:<reviewer>`` and ``lease_expires_at`` a few minutes ahead. Other reviewers'
queries skip it (``FOR UPDATE SKIP LOCKED`` covers the instant of choosing; the claim
covers the minutes the clip is on screen). Acting on the clip clears the claim; a claim
left by a closed tab expires, and the clip is offered again. Workers' leases use the
same columns, but only on in-flight states, never on ``pending_review`` clips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from mediaml.db import leases
from mediaml.db.counts import clips_in_state
from mediaml.db.database import Connection
from mediaml.states import PENDING_REVIEW

# Long enough to watch a clip twice and decide; short enough that a closed tab's clip
# comes back soon.
CLAIM_SECONDS = 300


claim_owner = leases.review_owner


def claim_holder(clip: Mapping[str, Any], now: dt.datetime) -> str | None:
    """The reviewer whose claim on ``clip`` is active at ``now``, if any."""
    reviewer = leases.reviewer_of(clip.get("lease_owner"))
    expires = clip.get("lease_expires_at")
    return reviewer if reviewer is not None and expires is not None and expires > now else None


@dataclass(frozen=True)
class ReviewClip:
    """A clip as the review page shows it."""

    clip_id: int
    video_id: int
    title: str
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    fps_num: int
    fps_den: int
    previous_clip_id: int | None
    pending_count: int
    proxy_key: str | None

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    @property
    def frame_count(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def duration(self) -> float:
        return float(self.frame_count / self.fps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields plus the derived fps, frame count and duration."""
        return {
            **asdict(self),
            "fps": float(self.fps),
            "frame_count": self.frame_count,
            "duration": self.duration,
        }


# A pending clip nobody else holds: unclaimed, claimed by this reviewer, or claimed long
# enough ago that the claim expired.
_FREE = f"state = '{PENDING_REVIEW}' AND {leases.free('', 'owner')}"
# Review order: the reviewer's own live claims first, then video order. Two queries,
# each answered by an index walk that stops at the first rows it needs: the live leases
# (``clips_lease_idx``: only the few rows someone holds now) and the review queue
# (``clips_review_queue_idx``, pending clips in video order). One query ordering by
# "own claim first" sorted every pending clip (0.08 s at 20,000 pending, 0.8 s at
# 200,000) on every claim.
_OWN = f"""
    SELECT id FROM clips
    WHERE state = '{PENDING_REVIEW}' AND lease_owner = %(owner)s AND lease_expires_at > now()
    ORDER BY video_id, start_frame
"""
_QUEUE = f"SELECT id FROM clips WHERE {_FREE} ORDER BY video_id, start_frame"


def claim_next(conn: Connection, reviewer: str, *, prefer: int | None = None) -> ReviewClip | None:
    """Claim and describe the clip ``reviewer`` should see now.

    The reviewer's own active claim comes first (a reload shows the same clip), then
    ``prefer`` (the clip a merge, split or undo just produced) when it is pending and
    free, then the first free pending clip in video order. Rows another transaction is
    choosing right now are skipped, never waited for.

    Returns:
        The clip, or None when nothing is left to review.
    """
    owner = claim_owner(reviewer)
    row = None
    if prefer is not None:
        row = conn.execute(
            f"SELECT id FROM clips WHERE id = %(id)s AND {_FREE} FOR UPDATE SKIP LOCKED",
            {"id": prefer, "owner": owner},
        ).fetchone()
    for query in (_OWN, _QUEUE):
        if row is None:
            row = conn.execute(
                f"{query} LIMIT 1 FOR UPDATE SKIP LOCKED", {"owner": owner}
            ).fetchone()
    if row is None:
        return None
    leases.give_back(conn, "clips", owner, state=PENDING_REVIEW, keep=int(row["id"]))
    leases.claim(conn, "clips", owner, CLAIM_SECONDS, ids=[int(row["id"])], state=PENDING_REVIEW)
    return describe(conn, int(row["id"]))


def describe(conn: Connection, clip_id: int) -> ReviewClip | None:
    """The review view of one clip (None when it no longer exists)."""
    row = conn.execute(
        """
        SELECT c.id, c.video_id, v.title, c.start_frame, c.end_frame, c.start_time,
               c.end_time, v.fps_num, v.fps_den, v.proxy_key,
               (SELECT p.id FROM clips p WHERE p.video_id = c.video_id
                  AND p.end_frame = c.start_frame AND p.state <> 'archived') AS previous_id
        FROM clips c JOIN source_videos v ON v.id = c.video_id
        WHERE c.id = %s
        """,
        (clip_id,),
    ).fetchone()
    if row is None:
        return None
    return ReviewClip(
        clip_id=int(row["id"]),
        video_id=int(row["video_id"]),
        title=row["title"],
        start_frame=int(row["start_frame"]),
        end_frame=int(row["end_frame"]),
        start_time=float(row["start_time"]),
        end_time=float(row["end_time"]),
        fps_num=int(row["fps_num"] or 1),
        fps_den=int(row["fps_den"] or 1),
        previous_clip_id=row["previous_id"],
        pending_count=clips_in_state(conn, PENDING_REVIEW),
        proxy_key=row["proxy_key"],
    )


def release(conn: Connection, reviewer: str) -> int:
    """Drop every claim ``reviewer`` holds (a closed tab), returning how many."""
    return leases.give_back(conn, "clips", claim_owner(reviewer), state=PENDING_REVIEW)


def upcoming(conn: Connection, reviewer: str, limit: int) -> list[int]:
    """Ids of the pending clips ``reviewer`` is likely to see next (for prefetching):
    free or own-claimed, in review order, without claiming them."""
    params = {"owner": claim_owner(reviewer), "limit": limit}
    ids = [int(r["id"]) for r in conn.execute(f"{_OWN} LIMIT %(limit)s", params)]
    if len(ids) < limit:
        # The queue lists the reviewer's own claims too: ``limit`` rows cover both.
        ids += [int(r["id"]) for r in conn.execute(f"{_QUEUE} LIMIT %(limit)s", params)]
    return list(dict.fromkeys(ids))[:limit]
