"""Review clip cutting: mediaml's `cut_clip` vs a raw FFmpeg stream copy of the same span.

Builds a 640x360 all-intra proxy and cuts the same 30 spans three ways: a bare FFmpeg
stream copy (input seek, ``-frames:v``, ``-c copy``), `cut_clip` with the fps passed in
(as the dashboard does, from the database), and `cut_clip` probing the fps itself.
Target: `cut_clip` within 1.5x of the raw copy.

Run: ``python bench/clips.py``.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from mediaml.media import cut_clip, encode, probe, run_ffmpeg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test-video builders live in tests/support
from tests.support.media import make_numbered_video  # noqa: E402

FRAMES = 3000
FPS = 25
SPANS = 30


def raw_copy(proxy: Path, start: int, end: int, out: Path) -> None:
    run_ffmpeg(
        [
            "-ss",
            f"{start / FPS:.6f}",
            "-i",
            str(proxy),
            "-frames:v",
            str(end - start),
            "-t",
            f"{(end - start) / FPS:.6f}",
            "-c",
            "copy",
            str(out),
        ]
    )


def main() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="clipbench-") as tmp:
        work = Path(tmp)
        make_numbered_video(work / "src.mp4", FRAMES, size=(640, 360), fps=FPS)
        encode(work / "src.mp4", work / "master.mp4", work / "proxy.mp4", detect=False)
        proxy = work / "proxy.mp4"
        fps = probe(proxy).fps
        spans = []
        for _ in range(SPANS):
            start = rng.randrange(0, FRAMES - 260)
            spans.append((start, start + rng.randint(50, 250)))
        runs = {
            "raw ffmpeg stream copy": lambda s, e, o: raw_copy(proxy, s, e, o),
            "cut_clip (fps given)": lambda s, e, o: cut_clip(proxy, s, e, o, fps=fps),
            "cut_clip (fps probed)": lambda s, e, o: cut_clip(proxy, s, e, o),
        }
        times = {}
        for name, run in runs.items():
            best = float("inf")
            for attempt in range(2):
                started = time.perf_counter()
                for i, (s, e) in enumerate(spans):
                    run(s, e, work / f"{name[:3]}_{attempt}_{i}.mp4")
                best = min(best, time.perf_counter() - started)
            times[name] = best
        base = times["raw ffmpeg stream copy"]
        print(f"## Cutting {SPANS} review clips (50-250 frames) from a 640x360 all-intra proxy")
        print(f"{'method':26} {'seconds':>8} {'per clip ms':>11} {'vs raw':>7}")
        for name, secs in times.items():
            print(f"{name:26} {secs:8.2f} {1000 * secs / SPANS:11.1f} {secs / base:6.2f}x")


if __name__ == "__main__":
    main()
