"""Keyframe extraction: PyAV seeks on the all-intra proxy vs one FFmpeg select pass.

Builds a numbered 640x360 proxy (every frame a keyframe), asks for the ``multi``
keyframes of clips of a typical length, and times three ways of getting them as JPEGs:

- mediaml's `extract_keyframes` (one PyAV open, a seek per frame, decode one frame);
- one FFmpeg pass with a ``select`` filter (decodes every frame of the video);
- one FFmpeg process per frame with an input seek (what a naive implementation does).

Run: ``python bench/keyframes.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from mediaml.media import encode, extract_keyframes, keyframe_frames, run_ffmpeg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test-video builders live in tests/support
from tests.support.media import make_numbered_video  # noqa: E402

FRAMES = 3000
FPS = 25


def _any_of(frames: list[int]) -> str:
    """``eq(n,a)+eq(n,b)+...`` as a balanced tree (FFmpeg's parser recurses on chains)."""
    if len(frames) == 1:
        return f"eq(n\\,{frames[0]})"
    mid = len(frames) // 2
    return f"({_any_of(frames[:mid])}+{_any_of(frames[mid:])})"


def select_pass(proxy: Path, frames: list[int], out: Path) -> None:
    expr = _any_of(frames)
    out.mkdir(exist_ok=True)
    run_ffmpeg(
        [
            "-i",
            str(proxy),
            "-vf",
            f"select='{expr}'",
            "-fps_mode",
            "passthrough",
            "-q:v",
            "3",
            str(out / "f_%05d.jpg"),
        ]
    )


def per_frame_processes(proxy: Path, frames: list[int], out: Path) -> None:
    out.mkdir(exist_ok=True)
    for f in frames:
        run_ffmpeg(
            [
                "-ss",
                f"{(f + 0.5) / FPS:.6f}",
                "-i",
                str(proxy),
                "-frames:v",
                "1",
                "-q:v",
                "3",
                str(out / f"f_{f:05d}.jpg"),
            ]
        )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kfbench-") as tmp:
        work = Path(tmp)
        make_numbered_video(work / "src.mp4", FRAMES, size=(640, 360), fps=FPS, audio=False)
        encode(work / "src.mp4", work / "master.mp4", work / "proxy.mp4", detect=False)
        proxy = work / "proxy.mp4"
        print(f"## Keyframes from a {FRAMES}-frame 640x360 all-intra proxy")
        print(f"{'clip length':>11} {'frames':>6} {'method':28} {'seconds':>8} {'vs select':>9}")
        for clip in (25, 100, 400):
            frames = sorted(
                {
                    f
                    for s in range(0, FRAMES - clip + 1, clip)
                    for f in keyframe_frames(s, s + clip, "multi")
                }
            )
            runs = {
                "mediaml (PyAV seeks)": lambda fr=frames, c=clip: extract_keyframes(
                    proxy, fr, work / f"a{c}"
                ),
                "ffmpeg select, one pass": lambda fr=frames, c=clip: select_pass(
                    proxy, fr, work / f"b{c}"
                ),
                "ffmpeg process per frame": lambda fr=frames, c=clip: per_frame_processes(
                    proxy, fr, work / f"c{c}"
                ),
            }
            times = {}
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name] = time.perf_counter() - start
            base = times["ffmpeg select, one pass"]
            for name, secs in times.items():
                print(f"{clip:11d} {len(frames):6d} {name:28} {secs:8.2f} {secs / base:8.2f}x")


if __name__ == "__main__":
    main()
