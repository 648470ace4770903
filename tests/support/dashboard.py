"""Builders for dashboard tests and benchmarks: a library made by the real pipeline.

Generated videos (FFmpeg lavfi shots joined by hard cuts) go through ingest, encode and
scene detection; one video is left with its clips in review, another is auto-approved
and embedded with the tiny test CLIP model so the explorer has vectors to search.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mediaml.db import Database
from mediaml.db.clips import list_clips
from mediaml.pipeline import run_pipeline
from tests.support.media import Shot, make_multishot_video

# Neighbouring shots differ completely, so every join is a certain cut.
_CYCLE = ("testsrc2", "red", "smptebars", "teal", "mandelbrot", "rgbtestsrc", "zoneplate")
REVIEW_SOURCES = tuple(_CYCLE[i % len(_CYCLE)] for i in range(24))
# Two embedded videos, so the explorer's source-video filter and pages have something to do.
EXPLORE_SOURCES = {
    "explore": tuple(_CYCLE[i % len(_CYCLE)] for i in range(16)),
    "explore_b": tuple(_CYCLE[(i + 3) % len(_CYCLE)] for i in range(16)),
}


@dataclass(frozen=True)
class Reel:
    """A generated video: its file and where its shots start."""

    path: Path
    cuts: tuple[int, ...]
    frames: int


def make_reel(
    path: Path,
    sources: tuple[str, ...],
    *,
    shot_frames: int = 40,
    size: tuple[int, int] = (160, 90),
    hue_step: int = 0,
) -> Reel:
    """Write a video of ``sources`` shots of ``shot_frames`` frames each (25 fps, audio).

    ``hue_step`` turns shot ``i``'s hue by ``i * hue_step`` degrees, so shots of the same
    source still differ (no two clips embed to exactly the same vector).
    """
    shots = [
        Shot(s, shot_frames, filters=f"hue=h={i * hue_step}" if hue_step else "")
        for i, s in enumerate(sources)
    ]
    transitions = make_multishot_video(path, shots, size, 25)
    return Reel(path, tuple(t.frame for t in transitions), shot_frames * len(sources))


def clips_of(db: Database, video_id: int) -> list[dict[str, Any]]:
    """Live clips of a video in frame order."""
    with db.transaction() as conn:
        return list_clips(conn, video_id=video_id)


def build_library(
    db: Database,
    workdir: Path,
    *,
    explore: bool = True,
    review_sources: tuple[str, ...] = REVIEW_SOURCES,
) -> dict[str, int]:
    """Run the pipeline on generated reels with the process's settings, store and ``db``.

    Returns:
        ``{"review": video id with clips pending review, "explore": ..., "explore_b": ...}``
        (the embedded videos only when ``explore`` is true).

    Raises:
        AssertionError: a stage failed (the outcome table is in the message).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    ids: dict[str, int] = {}
    if explore:
        for name, sources in EXPLORE_SOURCES.items():
            reel = make_reel(
                workdir / f"{name}-reel.mp4", sources, shot_frames=20, hue_step=11 + len(ids)
            )
            outcome = run_pipeline([reel.path], auto_approve=True, progress=False, db=db)
            ids[name] = _video_id(db, reel.path, outcome)
    reel = make_reel(workdir / "review-reel.mp4", review_sources)
    outcome = run_pipeline([reel.path], until="review", progress=False, db=db)
    ids["review"] = _video_id(db, reel.path, outcome)
    return ids


def _video_id(db: Database, path: Path, outcome: pd.DataFrame) -> int:
    failed = outcome[outcome["result"].isin(["failed", "retry"])]
    assert failed.empty, f"pipeline failed on {path.name}:\n{failed.to_string()}"
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT id FROM source_videos WHERE source_uri LIKE %s ORDER BY id DESC LIMIT 1",
            (f"%{path.name}",),
        ).fetchone()
    assert row is not None, f"{path.name} was not ingested"
    return int(row["id"])
