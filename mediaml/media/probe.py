"""Probe a media file: exact frame rate, frame count, size, rotation, codecs.

Probing uses PyAV (FFmpeg's libraries in-process; there is no ffprobe binary here). It
demuxes only the first couple of seconds and the last group of pictures, never decodes
the whole file, so it stays fast on long videos while still catching truncated files.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from mediaml.errors import MediaError

STILL_IMAGE_CODECS = frozenset(
    {"png", "mjpeg", "jpegls", "bmp", "gif", "webp", "tiff", "jpeg2000", "ppm", "pgm", "qoi"}
)
"""Codecs that, with a single frame, mean the file is a picture, not a video."""

VFR_SAMPLE_PACKETS = 120
"""Video packets inspected at the start for varying frame durations."""

VFR_TOLERANCE = 0.02
"""Relative spread of frame durations above which a stream counts as variable rate."""

TRUNCATION_TOLERANCE_S = 0.5
"""How far short of its stated duration a stream may end before it counts as truncated."""

MIN_SIDE = 2
"""The fewest pixels a side may have: H.264 4:2:0 (master, proxy) needs two."""


@dataclass(frozen=True)
class VideoInfo:
    """What mediaml needs to know about a video file.

    ``fps`` is exact (e.g. ``Fraction(30000, 1001)``) and is what all frame/time maths use;
    ``width``/``height`` are the display size, after ``rotation`` is applied.
    """

    fps: Fraction
    duration: float
    frame_count: int
    width: int
    height: int
    rotation: int
    video_codec: str
    audio_codec: str | None
    has_audio: bool
    pix_fmt: str
    variable_frame_rate: bool
    size_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """Plain values (``fps`` as ``fps_num``/``fps_den`` plus a float ``fps``)."""
        data = dataclasses.asdict(self)
        data["fps"] = float(self.fps)
        data["fps_num"] = self.fps.numerator
        data["fps_den"] = self.fps.denominator
        return data


def _open(path: Path, name: str) -> Any:
    if not path.exists():
        raise MediaError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise MediaError(f"{name} is empty (0 bytes): re-download or re-copy the file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"{name} is not a readable media file ({exc.strerror or exc}): "
            "check it is a complete video"
        ) from exc


def _exact_fps(stream: Any) -> Fraction:
    """The container's nominal rate when it agrees with the average, else the average."""
    guessed = stream.guessed_rate or stream.base_rate
    average = stream.average_rate
    if guessed and average and abs(float(guessed) / float(average) - 1) < 0.005:
        return Fraction(guessed.numerator, guessed.denominator)
    rate = average or guessed
    if not rate:
        raise MediaError("the video stream has no frame rate: re-encode it with a fixed fps")
    return Fraction(rate.numerator, rate.denominator).limit_denominator(1001)


def _frame_durations_vary(container: Any, stream: Any) -> bool:
    """True when the first packets' timestamps are not evenly spaced."""
    pts: list[int] = []
    for packet in container.demux(stream):
        if packet.pts is not None:
            pts.append(packet.pts)
        if len(pts) >= VFR_SAMPLE_PACKETS:
            break
    pts.sort()
    steps = [b - a for a, b in itertools.pairwise(pts) if b > a]
    if len(steps) < 2:
        return False
    mean = sum(steps) / len(steps)
    return (max(steps) - min(steps)) > VFR_TOLERANCE * mean + 1


def _check_complete(container: Any, stream: Any, name: str, duration: float) -> None:
    """Demux the last group of pictures and check the data reaches the stated end.

    Raises:
        MediaError: the data stops well before the stated end or the last packet is cut.
    """
    tb = stream.time_base
    start = stream.start_time or 0
    target = start + int(max(0.0, duration - 1.0) / tb)
    try:
        container.seek(target, stream=stream, backward=True, any_frame=False)
        last_end = None
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            if packet.is_corrupt:
                raise MediaError(f"{name} is truncated or corrupt near its end: re-copy it")
            end = packet.pts + (packet.duration or 0)
            last_end = end if last_end is None else max(last_end, end)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{name} is truncated or corrupt: {exc}") from exc
    if last_end is None or float((last_end - start) * tb) < duration - TRUNCATION_TOLERANCE_S:
        raise MediaError(f"{name} is truncated (its data stops before its stated end)")


def probe(path: str | os.PathLike[str], *, name: str | None = None) -> VideoInfo:
    """Describe the video file at ``path``.

    Args:
        path: a local media file.
        name: what messages call the file (default: its name; an upload's temporary
            file is named after the user's file).

    Returns:
        Its `VideoInfo`.

    Raises:
        MediaError: the file is missing, empty, not media, truncated, audio-only, a
            still image or under 2 pixels wide or high.
    """
    path = Path(path)
    name = name or path.name
    container = _open(path, name)
    try:
        return _probe_open(container, path, name)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{name} cannot be read ({exc}): check it is a complete video") from exc
    finally:
        container.close()


def _probe_open(container: Any, path: Path, name: str) -> VideoInfo:
    # Cover art (a song's album picture) is a one-picture "video" stream, not a video.
    moving = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    if not moving:
        kind = "an audio-only file" if container.streams.audio else "not a video"
        if container.streams.video:
            kind += " (its only picture is cover art)"
        raise MediaError(f"{name} is {kind}: mediaml needs a video stream")
    stream = moving[0]
    ctx = stream.codec_context
    codec = ctx.name
    if 0 < min(ctx.width, ctx.height) < MIN_SIDE:
        raise MediaError(
            f"{name} is {ctx.width}x{ctx.height} pixels, too small to encode: mediaml needs "
            f"at least {MIN_SIDE}x{MIN_SIDE}"
        )
    audio = container.streams.audio[0] if container.streams.audio else None
    if codec in STILL_IMAGE_CODECS and (stream.frames or 0) <= 1 and not stream.duration:
        raise MediaError(f"{name} is a still image ({codec}), not a video")

    fps = _exact_fps(stream)
    if stream.duration:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1e6
    else:
        raise MediaError(f"{name} has no duration: it may be a still image or a broken stream")
    if codec in STILL_IMAGE_CODECS and duration <= float(1 / fps) + 1e-6:
        raise MediaError(f"{name} is a still image ({codec}), not a video")

    frame_count = stream.frames or round(duration * fps)
    variable = _frame_durations_vary(container, stream)
    if not variable and stream.average_rate:
        variable = abs(float(stream.average_rate) / float(fps) - 1) > VFR_TOLERANCE
    _check_complete(container, stream, name, duration)

    container.seek(stream.start_time or 0, stream=stream, backward=True)
    try:
        first = next(container.decode(stream))
    except (StopIteration, av.error.FFmpegError) as exc:
        raise MediaError(
            f"{name} has no decodable video frame: check it is a complete video"
        ) from exc
    rotation = round(-(first.rotation or 0) / 90) * 90 % 360 if first.rotation else 0
    width, height = ctx.width, ctx.height
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        fps=fps,
        duration=duration,
        frame_count=int(frame_count),
        width=int(width),
        height=int(height),
        rotation=int(rotation),
        video_codec=codec,
        audio_codec=audio.codec_context.name if audio is not None else None,
        has_audio=audio is not None,
        pix_fmt=str(ctx.format.name if ctx.format else first.format.name),
        variable_frame_rate=bool(variable),
        size_bytes=path.stat().st_size,
    )
