"""Keyframes: which frames represent a clip, and pulling them out as JPEGs.

Extraction opens the video once (PyAV, in-process) and seeks to each requested frame. On
the all-intra proxy every frame is a keyframe, so each seek decodes exactly one frame;
requests close together are served by decoding forward instead of seeking again. This
beats one FFmpeg pass with a select filter (which decodes every frame of the video)
unless nearly every frame is wanted; see ``bench/keyframes.py``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from mediaml.errors import MediaError
from mediaml.media.ffmpeg import atomic_output
from mediaml.media.profiles import KEYFRAME_JPEG_QUALITY

STRATEGIES = ("multi", "midpoint")
DECODE_AHEAD_FRAMES = 12
"""Decode forward rather than seek when the next wanted frame is at most this far ahead."""


def keyframe_frames(start_frame: int, end_frame: int, strategy: str) -> list[int]:
    """The frames that represent the clip ``[start_frame, end_frame)``.

    With ``n = end_frame - start_frame``, the frame at fraction ``q`` of the clip is
    ``start_frame + floor(n * q)``: integer arithmetic, always inside ``[start, end)``.
    ``multi`` takes q = 1/4, 1/2, 3/4; ``midpoint`` takes q = 1/2. Short clips where these
    coincide give each frame once, in increasing order.

    Raises:
        MediaError: unknown strategy or empty clip.
    """
    if strategy not in STRATEGIES:
        raise MediaError(f"unknown keyframe strategy {strategy!r}; use one of {STRATEGIES}")
    n = end_frame - start_frame
    if start_frame < 0 or n <= 0:
        raise MediaError(f"a clip needs 0 <= start < end, not {start_frame}..{end_frame}")
    quarters = (1, 2, 3) if strategy == "multi" else (2,)
    return sorted({start_frame + (n * q) // 4 for q in quarters})


def _frame_index(frame: Any, start: int, tb: Fraction, fps: Fraction) -> int:
    return round((frame.pts - start) * tb * fps)


def extract_keyframes(
    video_path: str | os.PathLike[str],
    frames: Sequence[int],
    out_dir: str | os.PathLike[str],
    *,
    quality: int = KEYFRAME_JPEG_QUALITY,
) -> dict[int, Path]:
    """Write the given frames of a video as JPEGs ``<out_dir>/frame_<n>.jpg``.

    Args:
        video_path: a video whose frame rate is constant (the proxy).
        frames: frame numbers (0-based); duplicates are written once.
        out_dir: directory for the JPEGs (created if missing).
        quality: JPEG quality, 1 (worst) .. 95 (best).

    Returns:
        Frame number -> JPEG path, for every requested frame.

    Raises:
        MediaError: a frame lies outside the video, or the video cannot be decoded.
    """
    wanted = sorted({int(f) for f in frames})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not wanted:
        return {}
    if wanted[0] < 0:
        raise MediaError(f"frame {wanted[0]} is outside the video")
    try:
        container = av.open(os.fspath(video_path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open {video_path} for keyframes: {exc}") from exc
    result: dict[int, Path] = {}
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = Fraction(stream.time_base.numerator, stream.time_base.denominator)
        rate = stream.guessed_rate or stream.average_rate
        fps = Fraction(rate.numerator, rate.denominator)
        start = stream.start_time or 0
        decoder = None
        current = -1
        for target in wanted:
            if decoder is None or not current < target <= current + DECODE_AHEAD_FRAMES:
                container.seek(start + int(Fraction(target) / fps / tb), stream=stream, backward=True)
                decoder = container.decode(stream)
                current = -1
            frame = None
            for frame in decoder:
                current = _frame_index(frame, start, tb, fps)
                if current >= target:
                    break
            if frame is None or current != target:
                raise MediaError(f"frame {target} is outside {Path(video_path).name} or not decodable")
            path = out / f"frame_{target:07d}.jpg"
            image = frame.to_image()
            if frame.rotation:
                image = image.rotate(frame.rotation, expand=True)
            with atomic_output(path) as tmp:
                image.save(tmp, format="JPEG", quality=quality)
            result[target] = path
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot decode {video_path} for keyframes: {exc}") from exc
    finally:
        container.close()
    return result
