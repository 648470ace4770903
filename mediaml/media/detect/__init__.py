"""Shot-boundary detection: hard cuts, dissolves and fades, streaming.

`detect_cuts` runs standalone on any file; `mediaml.media.encode` runs the same
`ShotDetector` fused into the proxy encode (one decode feeds both).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from mediaml.errors import MediaError
from mediaml.media.detect.decide import Event
from mediaml.media.detect.detector import ShotDetector
from mediaml.media.detect.params import ANALYSIS_SIZE, DetectorParams
from mediaml.media.detect.stream import (
    COLUMNS,
    SCORE_COLUMNS,
    events_frame,
    run_standalone,
    scores_frame,
)
from mediaml.media.probe import VideoInfo


def detect_cuts(
    path: str | os.PathLike[str],
    *,
    timeout: float | None = None,
    progress: Callable[[float], None] | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Find the shot changes in the video at ``path``.

    Args:
        path: any video FFmpeg can decode.
        timeout: seconds after which decoding is abandoned (default: 60 s plus 1 s per
            10 s of video).
        progress: called with the fraction done.
        **params: overrides of `DetectorParams` fields (the defaults need no tuning).

    Returns:
        One row per shot change: ``frame`` (first frame of the new shot, counting decoded
        frames from 0), ``time`` (``frame / fps``, seconds), ``kind`` (``cut``,
        ``dissolve`` or ``fade``; gradual ones are placed at the middle of the
        transition) and ``score`` (0..1, how strong the change is).

    Raises:
        MediaError: the file cannot be read as a video, or a parameter is unknown.
    """
    detector, info = _run(path, timeout, progress, params, keep_scores=False)
    return events_frame(detector.events, info.fps)


def detect_scores(
    path: str | os.PathLike[str],
    *,
    timeout: float | None = None,
    progress: Callable[[float], None] | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Per-frame scores and decisions behind `detect_cuts`, for plotting why a cut was
    (or was not) found. Same arguments as `detect_cuts`; it runs the same detector.

    Returns:
        One row per decoded frame: ``frame``, ``time``; ``score`` (change from the
        previous frame, 0..1) and its parts ``colour`` (histogram distance) and
        ``structure`` (motion-compensated structure distance); ``level`` (the busier
        side's usual change) and ``cut_bar`` (the score a cut needs there by the usual
        rule: the larger of ``cut_threshold`` and ``cut_ratio * level + cut_margin``);
        ``neighbours`` (the larger adjacent step) and ``dominance`` (``score`` over it:
        a cut is one dominant step); ``candidate`` (passed every cut test), ``edge``
        (the first or last big step of a burst of motion, a candidate though no peak,
        see `decide.burst_edges`), ``flash``
        (a candidate whose picture came back within ``flash_frames``, or otherwise
        found no cut: motion blur, a steady move, a sweep past the lens; "came back"
        needs some block of the picture unchanged across the step or across the
        matching pair, not just shapes a wide motion search lines up); ``still``
        (for a candidate in a burst of motion, how many of its 12 blocks are unchanged
        across the step; ``still_blocks`` or more: something swept past part of the
        picture, no cut; 0 where not checked);
        ``gradual`` (largest dissolve contrast over the scales; a dissolve needs
        ``gradual_threshold``); ``dark`` (black frame), ``luma`` and ``spread`` (luma
        mean and standard deviation, 0..255); ``kind`` (``cut``, ``dissolve`` or
        ``fade`` on the frames `detect_cuts` reports, else empty).

    Raises:
        MediaError: as `detect_cuts`.
    """
    detector, info = _run(path, timeout, progress, params, keep_scores=True)
    return scores_frame(detector, info.fps)


def _run(
    path: str | os.PathLike[str],
    timeout: float | None,
    progress: Callable[[float], None] | None,
    params: dict[str, Any],
    *,
    keep_scores: bool,
) -> tuple[ShotDetector, VideoInfo]:
    fields = {f.name for f in dataclasses.fields(DetectorParams)}
    unknown = set(params) - fields
    if unknown:
        raise MediaError(
            f"unknown detector parameter(s) {sorted(unknown)}; known: {sorted(fields)}"
        )
    return run_standalone(
        os.fspath(path),
        DetectorParams(**params),
        timeout=timeout,
        progress=progress,
        keep_scores=keep_scores,
    )


__all__ = [
    "ANALYSIS_SIZE",
    "COLUMNS",
    "SCORE_COLUMNS",
    "DetectorParams",
    "Event",
    "ShotDetector",
    "detect_cuts",
    "detect_scores",
]
