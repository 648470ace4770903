"""Cut maths: cut points are the source of truth, clips are the segments between them.

A video of ``frame_count`` frames with cut frames ``c1 < c2 < ... < ck`` (each the first
frame of a new shot, strictly inside the video) has the clips
``[0, c1), [c1, c2), ..., [ck, frame_count)``. They tile the video: no gaps, no
overlaps, none empty. Every operation here is pure, validates its input and reports the
segments it replaces (to archive) and the ones it creates, so the data layer can apply
it in one transaction.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from mediaml.errors import InvalidCutError

Segment = tuple[int, int]  # [start_frame, end_frame)


@dataclass(frozen=True)
class CutChange:
    """The result of a cut operation."""

    cuts: tuple[int, ...]
    archived: tuple[Segment, ...]
    created: tuple[Segment, ...]


def normalize_cuts(cuts: Iterable[int], frame_count: int) -> tuple[int, ...]:
    """Sort and de-duplicate ``cuts``, dropping the video boundaries 0 and ``frame_count``.

    Raises:
        InvalidCutError: a cut lies outside the video or ``frame_count`` is not positive.
    """
    if frame_count <= 0:
        raise InvalidCutError(f"a video needs at least one frame, not {frame_count}")
    result = sorted({int(c) for c in cuts} - {0, frame_count})
    for c in result:
        if not 0 < c < frame_count:
            raise InvalidCutError(f"cut at frame {c} is outside the video (0..{frame_count - 1})")
    return tuple(result)


def clips_from_cuts(cuts: Iterable[int], frame_count: int) -> list[Segment]:
    """The segments ``[start, end)`` that ``cuts`` divide a ``frame_count``-frame video into."""
    bounds = (0, *normalize_cuts(cuts, frame_count), frame_count)
    return list(itertools.pairwise(bounds))


def segment_of(cuts: tuple[int, ...], frame_count: int, frame: int) -> Segment:
    """The clip segment containing ``frame``."""
    if not 0 <= frame < frame_count:
        raise InvalidCutError(f"frame {frame} is outside the video (0..{frame_count - 1})")
    i = bisect_left(cuts, frame + 1)
    start = cuts[i - 1] if i > 0 else 0
    end = cuts[i] if i < len(cuts) else frame_count
    return (start, end)


def add_cut(cuts: Iterable[int], frame: int, frame_count: int) -> CutChange:
    """Split the clip containing ``frame`` so that ``frame`` starts a new clip.

    Raises:
        InvalidCutError: ``frame`` is on a boundary, outside the video or already a cut.
    """
    current = normalize_cuts(cuts, frame_count)
    if not 0 < frame < frame_count:
        raise InvalidCutError(
            f"a cut must lie strictly inside the video (1..{frame_count - 1}), not at {frame}"
        )
    if frame in current:
        raise InvalidCutError(f"there is already a cut at frame {frame}")
    start, end = segment_of(current, frame_count, frame)
    return CutChange(
        cuts=tuple(sorted((*current, frame))),
        archived=((start, end),),
        created=((start, frame), (frame, end)),
    )


def remove_cut(cuts: Iterable[int], frame: int, frame_count: int) -> CutChange:
    """Merge the two clips that meet at ``frame``.

    Raises:
        InvalidCutError: there is no cut at ``frame``.
    """
    current = normalize_cuts(cuts, frame_count)
    if frame not in current:
        raise InvalidCutError(f"there is no cut at frame {frame} to remove")
    left = segment_of(current, frame_count, frame - 1)
    right = segment_of(current, frame_count, frame)
    return CutChange(
        cuts=tuple(c for c in current if c != frame),
        archived=(left, right),
        created=((left[0], right[1]),),
    )


def move_cut(cuts: Iterable[int], frame: int, to: int, frame_count: int) -> CutChange:
    """Move the cut at ``frame`` to ``to``, between its neighbouring cuts.

    Raises:
        InvalidCutError: no cut at ``frame``, ``to`` equals ``frame``, or ``to`` would
            empty a clip or cross a neighbouring cut.
    """
    current = normalize_cuts(cuts, frame_count)
    if frame not in current:
        raise InvalidCutError(f"there is no cut at frame {frame} to move")
    if to == frame:
        raise InvalidCutError(f"the cut is already at frame {frame}")
    left = segment_of(current, frame_count, frame - 1)
    right = segment_of(current, frame_count, frame)
    if not left[0] < to < right[1]:
        raise InvalidCutError(
            f"a cut at {frame} can move within {left[0] + 1}..{right[1] - 1} "
            f"without emptying a clip, not to {to}"
        )
    return CutChange(
        cuts=tuple(sorted((*(c for c in current if c != frame), to))),
        archived=(left, right),
        created=((left[0], to), (to, right[1])),
    )


# ------------------------------------------------------------------ frames and time


def frame_to_time(frame: int, fps: Fraction) -> float:
    """Seconds at which ``frame`` starts, using the file's exact frame rate."""
    return float(Fraction(frame) / fps)


def time_to_frame(seconds: float, fps: Fraction) -> int:
    """The frame shown at ``seconds`` (rounded to the nearest frame start)."""
    return round(Fraction(seconds).limit_denominator(10**9) * fps)


def split_frame(start_frame: int, end_frame: int, offset_seconds: float, fps: Fraction) -> int:
    """Turn a time offset within a clip into the absolute frame a split would start.

    Raises:
        InvalidCutError: the frame does not lie strictly inside the clip.
    """
    frame = start_frame + time_to_frame(offset_seconds, fps)
    if not start_frame < frame < end_frame:
        raise InvalidCutError(
            f"a split must fall strictly inside the clip (frames {start_frame + 1}.."
            f"{end_frame - 1}); offset {offset_seconds:.3f}s is frame {frame}"
        )
    return frame
