"""Shot detectors by name: the built-in one and plugins (entry-point group
``mediaml.detectors``).

The built-in detector (``mediaml``) runs fused into the proxy encode, so the pipeline
decodes each video once. A plugin detector is a :class:`Detector`: a name and a function
that reads a video file and returns its shot changes; the pipeline's detect stage runs it
on the all-intra proxy when ``MEDIAML_DETECTOR`` names it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from mediaml.errors import MediaError

BUILTIN = "mediaml"


@dataclass(frozen=True)
class Detector:
    """A shot detector.

    Attributes:
        name: what ``MEDIAML_DETECTOR`` and :func:`run_detector` call it.
        summary: one line for listings.
        detect: ``path -> DataFrame`` with a ``frame`` column (the first frame of each new
            shot, counting decoded frames from 0) and optionally ``kind`` (``cut``,
            ``dissolve`` or ``fade``; default ``cut``) and ``score`` (0..1; default 1).
    """

    name: str
    summary: str
    detect: Callable[[str], pd.DataFrame]


def _builtin(path: str) -> pd.DataFrame:
    from mediaml.media.detect import detect_cuts

    return detect_cuts(path)


def detectors() -> dict[str, Detector]:
    """The built-in detector and every installed plugin detector, by name."""
    from mediaml.plugins import DETECTORS, load_plugins

    found: dict[str, Detector] = load_plugins(DETECTORS, Detector)
    found[BUILTIN] = Detector(BUILTIN, "built-in hard cut, dissolve and fade detector", _builtin)
    return found


def run_detector(name: str, path: str | os.PathLike[str]) -> pd.DataFrame:
    """Shot changes in the video at ``path`` found by the detector called ``name``.

    Returns:
        ``frame`` (int), ``kind`` and ``score`` columns, one row per shot change, sorted.

    Raises:
        MediaError: the detector is unknown, or it returned something that is not a
            list of frames.
    """
    known = detectors()
    if name not in known:
        raise MediaError(
            f"unknown shot detector {name!r}; known: {', '.join(sorted(known))} "
            "(plugins add detectors through the mediaml.detectors entry point)"
        )
    found = known[name].detect(os.fspath(path))
    if not isinstance(found, pd.DataFrame) or "frame" not in found.columns:
        raise MediaError(
            f"shot detector {name!r} returned {type(found).__name__}; it must return a "
            "DataFrame with a 'frame' column"
        )
    frame = pd.DataFrame(
        {
            "frame": found["frame"].astype("int64"),
            "kind": found["kind"].astype(str) if "kind" in found.columns else "cut",
            "score": found["score"].astype(float) if "score" in found.columns else 1.0,
        }
    )
    return frame.sort_values("frame", ignore_index=True)
