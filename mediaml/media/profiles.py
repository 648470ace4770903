"""Encoding profiles, as data: the one place that says how each rendition is made.

Each `Profile` holds the FFmpeg output arguments for one kind of file. The functions
below turn a probed source into the few numbers a profile needs (proxy size and frame
rate, whether the source can serve as master), so they are pure and testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from mediaml.media.probe import VideoInfo


@dataclass(frozen=True)
class Profile:
    """FFmpeg output arguments for one kind of rendition."""

    name: str
    video: tuple[str, ...]
    audio: tuple[str, ...]
    container: tuple[str, ...] = ("-movflags", "+faststart")
    description: str = ""

    def args(self, *, audio: bool) -> list[str]:
        """The output arguments; ``audio=False`` drops audio (``-an``)."""
        return [*self.video, *(self.audio if audio else ("-an",)), *self.container]


MASTER = Profile(
    "master",
    video=("-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p"),
    audio=("-c:a", "aac", "-b:a", "192k"),
    description="archival/export quality: H.264 CRF 18, normal GOP, AAC, faststart",
)
MASTER_REMUX = Profile(
    "master_remux",
    video=("-c:v", "copy"),
    audio=("-c:a", "copy"),
    description="a source already H.264 and <= 1080p, remuxed (stream copy + faststart)",
)
PROXY = Profile(
    "proxy",
    # -g 1: every frame is an IDR keyframe, so any frame can be cut or seeked exactly.
    video=(
        *("-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-pix_fmt", "yuv420p"),
        *("-g", "1", "-bf", "0", "-fps_mode", "cfr"),
    ),
    audio=("-c:a", "aac", "-b:a", "128k", "-ac", "2"),
    description="review proxy: H.264 <= 720p, all-intra, CRF 28, AAC, faststart, constant fps",
)
TEMP_CLIP = Profile(
    "temp_clip",
    video=("-c:v", "copy"),
    audio=("-c:a", "copy"),
    container=("-movflags", "+faststart", "-avoid_negative_ts", "make_zero"),
    description="review playback clip: stream copy from the all-intra proxy (frame-exact)",
)
EXPORT_PROFILES: dict[str, Profile] = {
    "quality": Profile(
        "quality",
        video=("-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p"),
        audio=("-c:a", "aac", "-b:a", "192k"),
        description="export: re-encode from the master (frame-accurate, high quality)",
    ),
    "copy": Profile(
        "copy",
        video=("-c:v", "copy"),
        audio=("-c:a", "copy"),
        container=TEMP_CLIP.container,
        description="export: stream copy (frame-exact only from the all-intra proxy)",
    ),
}
KEYFRAME_JPEG_QUALITY = 90
"""JPEG quality of keyframes (1 worst .. 95 best): 90 is visually lossless at a third of 95's size."""

PROXY_MAX_SHORT_SIDE = 720
MASTER_REUSE_MAX_SHORT_SIDE = 1080
MASTER_REUSE_CODECS = frozenset({"h264"})

STANDARD_RATES = tuple(
    Fraction(n, d)
    for n, d in (
        (24000, 1001),
        (24, 1),
        (25, 1),
        (30000, 1001),
        (30, 1),
        (48, 1),
        (50, 1),
        (60000, 1001),
        (60, 1),
    )
)
MAX_PROXY_FPS = Fraction(60)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def proxy_size(width: int, height: int) -> tuple[int, int]:
    """Proxy display size for a ``width`` x ``height`` (already rotated) source.

    The short side is at most 720 (never upscaled), the aspect ratio is kept and both
    sides are even (H.264 4:2:0 needs that), e.g. 1920x1080 -> 1280x720,
    1281x721 -> 1280x720, 1080x1920 -> 720x1280, 320x180 -> 320x180.
    """
    short = min(width, height)
    scale = min(1.0, PROXY_MAX_SHORT_SIDE / short)
    return _even(width * scale), _even(height * scale)


def proxy_fps(info: VideoInfo) -> Fraction:
    """The constant frame rate of the proxy.

    A constant-rate source keeps its exact rate (capped at 60). A variable-rate source
    gets the standard rate nearest its average (within 5%), else its average rounded
    to a whole number, so frame maths on the proxy are exact.
    """
    rate = info.fps
    if info.variable_frame_rate:
        nearest = min(STANDARD_RATES, key=lambda r: abs(float(r) - float(rate)))
        rate = nearest if abs(float(nearest) / float(rate) - 1) <= 0.05 else Fraction(round(rate))
    return min(rate, MAX_PROXY_FPS) if rate > 0 else Fraction(25)


def master_reusable(info: VideoInfo) -> bool:
    """True when the source can be remuxed as the master instead of re-encoded."""
    return (
        info.video_codec in MASTER_REUSE_CODECS
        and min(info.width, info.height) <= MASTER_REUSE_MAX_SHORT_SIDE
        and max(info.width, info.height) <= MASTER_REUSE_MAX_SHORT_SIDE * 16 // 9
        and info.pix_fmt in ("yuv420p", "yuvj420p")
    )


def even_crop_filter(width: int, height: int) -> str | None:
    """A crop that drops the odd last row/column libx264 4:2:0 cannot encode, if any."""
    if width % 2 == 0 and height % 2 == 0:
        return None
    return f"crop={width - width % 2}:{height - height % 2}:0:0"
