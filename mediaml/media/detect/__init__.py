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
from mediaml.media.detect.stream import COLUMNS, events_frame, run_standalone
from mediaml.media.probe import probe


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
    fields = {f.name for f in dataclasses.fields(DetectorParams)}
    unknown = set(params) - fields
    if unknown:
        raise MediaError(
            f"unknown detector parameter(s) {sorted(unknown)}; known: {sorted(fields)}"
        )
    info = probe(path)
    detector = run_standalone(
        os.fspath(path),
        DetectorParams(**params),
        timeout=timeout if timeout is not None else 60 + info.duration / 10,
        progress=progress,
        duration=info.duration,
    )
    return events_frame(detector.events, info.fps)


__all__ = [
    "ANALYSIS_SIZE",
    "COLUMNS",
    "DetectorParams",
    "Event",
    "ShotDetector",
    "detect_cuts",
]
