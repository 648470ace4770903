"""Cut clips out of renditions: frame-exact stream copy from the proxy, or re-encode.

The proxy is all-intra, so a stream copy can start at any frame: the input seek lands on
the exact frame (every frame is a keyframe) and ``-frames:v`` stops after exactly the
clip's frames. Nothing is decoded or encoded, so a review clip costs about as much as
copying its bytes.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import pandas as pd

from mediaml.db.clips import DetectedCut
from mediaml.errors import MediaError
from mediaml.media.ffmpeg import atomic_output, run_ffmpeg
from mediaml.media.probe import probe
from mediaml.media.profiles import EXPORT_PROFILES, TEMP_CLIP

CLIP_TIMEOUT_S = 120.0
"""A stream copy of one clip that takes longer than this is stuck."""


def _seek_time(frame: int, fps: Fraction) -> str:
    """Seconds to seek to so FFmpeg lands on ``frame``: rounded *up* to the microsecond.

    FFmpeg seeks to the last keyframe at or before the (microsecond) time it is given;
    rounding down could land one frame early on rates like 30000/1001.
    """
    micros = math.ceil(Fraction(frame) / fps * 1_000_000)
    return f"{micros / 1_000_000:.6f}"


def cut_clip(
    proxy_path: str | os.PathLike[str],
    start_frame: int,
    end_frame: int,
    out_path: str | os.PathLike[str],
    *,
    fps: Fraction | None = None,
    nice: int = 0,
) -> Path:
    """Copy frames ``[start_frame, end_frame)`` of the all-intra proxy to ``out_path``.

    Args:
        proxy_path: the proxy made by `encode` (every frame a keyframe).
        start_frame: first frame of the clip.
        end_frame: frame after the clip's last (exclusive).
        out_path: the clip to write (``.mp4``).
        fps: the proxy's frame rate; when not given it is probed, and the range is
            checked against the proxy's length.
        nice: run FFmpeg this much lower in CPU priority (background prefetching).

    Returns:
        ``out_path``.

    Raises:
        MediaError: the frame range is empty, negative or (when probed) past the end,
            or FFmpeg failed.
    """
    if not 0 <= start_frame < end_frame:
        raise MediaError(f"a clip needs 0 <= start < end, not frames {start_frame}..{end_frame}")
    if fps is None:
        info = probe(proxy_path)
        if end_frame > info.frame_count:
            raise MediaError(
                f"frames {start_frame}..{end_frame} run past the end of "
                f"{Path(proxy_path).name} ({info.frame_count} frames)"
            )
        fps = info.fps
    frames = end_frame - start_frame
    duration = Fraction(frames) / fps
    out = Path(out_path)
    with atomic_output(out) as tmp:
        run_ffmpeg(
            [
                *("-ss", _seek_time(start_frame, fps)),
                *("-i", os.fspath(proxy_path)),
                *("-map", "0:v:0", "-map", "0:a:0?"),
                *("-frames:v", str(frames), "-t", f"{float(duration):.6f}"),
                *TEMP_CLIP.args(audio=True),
                str(tmp),
            ],
            timeout=CLIP_TIMEOUT_S,
            nice=nice,
        )
    return out


def export_clip(
    master_path: str | os.PathLike[str],
    start_time: float,
    end_time: float,
    out_path: str | os.PathLike[str],
    *,
    profile: str = "quality",
) -> Path:
    """Export ``[start_time, end_time)`` seconds of the master to ``out_path``.

    Args:
        master_path: the master made by `encode`.
        start_time: start, in seconds.
        end_time: end, in seconds (exclusive).
        out_path: the file to write (``.mp4``).
        profile: a key of `profiles.EXPORT_PROFILES`: ``quality`` re-encodes (frame
            accurate); ``copy`` stream-copies (frame-exact only from the all-intra proxy).

    Returns:
        ``out_path``.

    Raises:
        MediaError: unknown profile, empty range, or FFmpeg failed.
    """
    if profile not in EXPORT_PROFILES:
        raise MediaError(
            f"unknown export profile {profile!r}; use one of {sorted(EXPORT_PROFILES)}"
        )
    if not 0 <= start_time < end_time:
        raise MediaError(f"an export needs 0 <= start < end, not {start_time}..{end_time}")
    spec = EXPORT_PROFILES[profile]
    duration = end_time - start_time
    out = Path(out_path)
    with atomic_output(out) as tmp:
        run_ffmpeg(
            [
                *("-ss", f"{start_time:.6f}", "-i", os.fspath(master_path)),
                *("-map", "0:v:0", "-map", "0:a:0?", "-t", f"{duration:.6f}"),
                *spec.args(audio=True),
                str(tmp),
            ],
            timeout=CLIP_TIMEOUT_S + 20 * duration,
            duration=duration,
        )
    return out


def cuts_to_detected(cuts: pd.DataFrame) -> list[DetectedCut]:
    """Rows of a `detect_cuts` frame as the data layer's `DetectedCut` records."""
    return [
        DetectedCut(int(row.frame), str(row.kind), float(row.score))
        for row in cuts.itertuples(index=False)
    ]
