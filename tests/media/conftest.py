"""Session-wide generated media for the media tests (small, a few seconds each)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

from mediaml.media import EncodeResult, encode
from tests.support.media import Shot, Transition, make_multishot_video, make_numbered_video

# Hard cuts, a 3-frame shot, a dissolve, a fast pan, a fast zoom with a white flash, a
# fade through black, grain, a flat colour and a cellular automaton.
DETECT_SHOTS = [
    Shot("testsrc2", 30),
    Shot("mandelbrot", 3),
    Shot("life", 30),
    Shot("smptebars", 36, "hue=h=90", enter="dissolve", enter_frames=12),
    Shot("pan", 40),
    Shot("zoom", 40, flash_at=14),
    Shot("rgbtestsrc", 30, enter="fade", enter_frames=8),
    Shot("grain", 30),
    Shot("red", 20),
    Shot("gradients", 30, flash_at=10),
]


@dataclass(frozen=True)
class Built:
    path: Path
    transitions: list[Transition]


@dataclass(frozen=True)
class Encoded:
    source: Path
    master: Path
    proxy: Path
    result: EncodeResult


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def detect_video(media_dir: Path) -> Built:
    path = media_dir / "shots.mp4"
    transitions = make_multishot_video(path, DETECT_SHOTS, size=(320, 180), fps=25)
    return Built(path, transitions)


@pytest.fixture(scope="session")
def detect_encoded(media_dir: Path, detect_video: Built) -> Encoded:
    out = media_dir / "shots_out"
    result = encode(detect_video.path, out / "master.mp4", out / "proxy.mp4")
    return Encoded(detect_video.path, out / "master.mp4", out / "proxy.mp4", result)


def _numbered(media_dir: Path, name: str, frames: int, fps: Fraction) -> Encoded:
    source = media_dir / f"{name}.mp4"
    make_numbered_video(source, frames, size=(160, 90), fps=fps)
    out = media_dir / f"{name}_out"
    result = encode(source, out / "master.mp4", out / "proxy.mp4", detect=False)
    return Encoded(source, out / "master.mp4", out / "proxy.mp4", result)


@pytest.fixture(scope="session")
def numbered(media_dir: Path) -> Encoded:
    """300 frames at 25 fps, each showing its own number, with audio; encoded."""
    return _numbered(media_dir, "numbered", 300, Fraction(25))


@pytest.fixture(scope="session")
def numbered_ntsc(media_dir: Path) -> Encoded:
    """120 numbered frames at 30000/1001 fps, with audio; encoded."""
    return _numbered(media_dir, "numbered_ntsc", 120, Fraction(30000, 1001))
