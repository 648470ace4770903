"""Shot detection benchmark: mediaml vs PySceneDetect, in one run.

Builds a varied, seeded set of videos with known transitions (hard cuts, 3-5 frame shots,
dissolves, fades through black, fast pans, zooms, film grain, cellular automata, single
frame flashes that must not count), then prints:

1. precision / recall / F1 for mediaml, PySceneDetect ContentDetector and AdaptiveDetector
   (their defaults), overall and recall per transition kind;
2. standalone detection speed on a 720p H.264 file, frames/s and ratio to ContentDetector;
3. the fused encode+detect time against a plain proxy encode of the same source;
4. peak memory of standalone detection as the video length doubles.

A detection matches a hard cut within +-1 frame, a gradual transition anywhere within
its span +-2 frames; each true transition matches at most one detection.

Run: ``python bench/cutdetect.py`` (needs the ``bench`` extra: scenedetect, opencv).
"""

from __future__ import annotations

import itertools
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mediaml.media import detect_cuts, probe, run_ffmpeg
from mediaml.media.encode import transcode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test-video builders live in tests/support
from tests.support.media import SOURCES, Shot, Transition, make_multishot_video  # noqa: E402

SEED = 20261129
VIDEOS = 12
SIZE = (480, 270)
FPS = 25
POOL = [k for k in SOURCES if k not in ("red", "teal")] + ["red", "teal"]
# Good quality, as a camera original would be (very low CRFs make x264 pump visibly at
# keyframes on noise-like sources, which is a compression artefact, not a shot change).
SET_CODEC = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "16")
HUES = ["", "hue=h=60", "hue=h=150", "hue=h=240", "hue=s=0.3", "eq=brightness=0.08:contrast=1.3"]


def random_shots(rng: random.Random) -> list[Shot]:
    """A random edit: 14-20 shots, mostly cuts, some dissolves and fades, some flashes."""
    shots: list[Shot] = []
    previous = ""
    for i in range(rng.randint(14, 20)):
        source = rng.choice([s for s in POOL if s != previous])
        previous = source
        roll = rng.random()
        enter, d = "cut", 0
        if i and roll < 0.18:
            enter, d = "dissolve", rng.randint(6, 30)
        elif i and roll < 0.32:
            enter, d = "fade", rng.randint(5, 15)
        if rng.random() < 0.12 and enter == "cut":
            frames = rng.randint(3, 5)
        else:
            frames = rng.randint(max(20, 2 * d + 8), 70)
        flash = rng.randint(4, frames - 4) if frames > 12 and rng.random() < 0.15 else None
        shots.append(Shot(source, frames, rng.choice(HUES), enter, d, flash))
    # a gradual transition needs room in the shot before it too
    fixed = [shots[0]]
    for prev, shot in itertools.pairwise(shots):
        if shot.enter != "cut" and prev.frames < 2 * shot.enter_frames + 8:
            shot = Shot(shot.source, shot.frames, shot.filters, "cut", 0, shot.flash_at)
        fixed.append(shot)
    return fixed


def match(truth: list[Transition], found: list[int]) -> tuple[int, dict[str, list[int]]]:
    """True positives and, per kind, [matched, total]."""
    free = sorted(found)
    per_kind: dict[str, list[int]] = {}
    tp = 0
    for t in truth:
        lo, hi = (t.frame - 1, t.frame + 1) if t.kind == "cut" else (t.start - 2, t.end + 2)
        hit = next((f for f in free if lo <= f <= hi), None)
        stats = per_kind.setdefault(t.kind, [0, 0])
        stats[1] += 1
        if hit is not None:
            free.remove(hit)
            tp += 1
            stats[0] += 1
    return tp, per_kind


def pyscenedetect(path: Path, kind: str) -> list[int]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    detector = ContentDetector() if kind == "content" else AdaptiveDetector()
    scenes = detect(str(path), detector)
    return [start.get_frames() for start, _ in scenes[1:]]


def mediaml_detect(path: Path) -> list[int]:
    return [int(f) for f in detect_cuts(path)["frame"]]


DETECTORS = {
    "mediaml": mediaml_detect,
    "PySceneDetect Content": lambda p: pyscenedetect(p, "content"),
    "PySceneDetect Adaptive": lambda p: pyscenedetect(p, "adaptive"),
}


def accuracy(work: Path) -> None:
    rng = random.Random(SEED)
    videos = []
    for i in range(VIDEOS):
        path = work / f"set_{i:02d}.mp4"
        truth = make_multishot_video(
            path, random_shots(rng), SIZE, FPS, audio=False, codec_args=SET_CODEC
        )
        videos.append((path, truth))
    frames = sum(probe(p).frame_count for p, _ in videos)
    truths = sum(len(t) for _, t in videos)
    kinds: dict[str, int] = {}
    for _, t in videos:
        for x in t:
            kinds[x.kind] = kinds.get(x.kind, 0) + 1
    print(
        f"\n## Accuracy: {VIDEOS} videos, {frames} frames at {SIZE[0]}x{SIZE[1]}, {truths} transitions {kinds}"
    )
    print(
        f"{'detector':24} {'prec':>6} {'recall':>6} {'F1':>6} {'FP':>4} {'FN':>4}  recall by kind"
    )
    for name, fn in DETECTORS.items():
        tp = fp = fn_ = 0
        by_kind: dict[str, list[int]] = {}
        for path, truth in videos:
            found = fn(path)
            hits, per_kind = match(truth, found)
            tp += hits
            fp += len(found) - hits
            fn_ += len(truth) - hits
            for k, (a, b) in per_kind.items():
                agg = by_kind.setdefault(k, [0, 0])
                agg[0] += a
                agg[1] += b
        prec = tp / max(1, tp + fp)
        rec = tp / max(1, tp + fn_)
        f1 = 2 * prec * rec / max(1e-9, prec + rec)
        kinds_txt = " ".join(f"{k}={a}/{b}" for k, (a, b) in sorted(by_kind.items()))
        print(f"{name:24} {prec:6.3f} {rec:6.3f} {f1:6.3f} {fp:4d} {fn_:4d}  {kinds_txt}")


def make_720p(work: Path, seconds: int) -> Path:
    path = work / f"speed_720p_{seconds}s.mp4"
    rng = random.Random(SEED + seconds)
    shots, total = [], 0
    while total < seconds * FPS:
        n = rng.randint(40, 120)
        shots.append(
            Shot(
                rng.choice(["testsrc2", "smptebars", "grain", "pan", "zoom", "gradients"]),
                n,
                rng.choice(HUES),
            )
        )
        total += n
    make_multishot_video(
        path,
        shots,
        (1280, 720),
        FPS,
        audio=True,
        codec_args=("-c:v", "libx264", "-preset", "veryfast", "-crf", "20"),
    )
    return path


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (FFmpeg)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def timed_both(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds incl. FFmpeg): CPU time is steadier on a busy machine."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn(*args)
    return time.perf_counter() - wall, cpu_seconds() - cpu


def speed(work: Path) -> None:
    path = make_720p(work, 40)
    n = probe(path).frame_count
    print(f"\n## Standalone detection speed: 1280x720 H.264, {n} frames (best of 3)")
    print(
        f"{'detector':24} {'wall s':>7} {'frames/s':>9} {'vs Content':>10} {'CPU s':>7} {'vs Content':>10}"
    )
    times = {name: [timed_both(fn, path) for _ in range(3)] for name, fn in DETECTORS.items()}
    best = {name: (min(w for w, _ in t), min(c for _, c in t)) for name, t in times.items()}
    floor = [timed_both(lambda: run_ffmpeg(["-i", str(path), "-f", "null", "-"])) for _ in range(3)]
    best["(FFmpeg decode alone)"] = (min(w for w, _ in floor), min(c for _, c in floor))
    wall0, cpu0 = best["PySceneDetect Content"]
    for name, (wall, cpu) in best.items():
        print(
            f"{name:24} {wall:7.2f} {n / wall:9.0f} {wall0 / wall:9.2f}x {cpu:7.2f} {cpu0 / cpu:9.2f}x"
        )

    info = probe(path)
    runs = {
        "plain proxy encode": lambda: transcode(info, path, None, work / "p1.mp4", detect=False),
        "fused proxy encode+detect": lambda: transcode(
            info, path, None, work / "p2.mp4", detect=True
        ),
    }
    print(f"\n## Fused encode + detect vs plain proxy encode (same source, {n} frames, best of 3)")
    print(f"{'run':28} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6}")
    results = {k: [timed_both(v) for _ in range(3)] for k, v in runs.items()}
    best = {k: (min(w for w, _ in t), min(c for _, c in t)) for k, t in results.items()}
    wall0, cpu0 = best["plain proxy encode"]
    for k, (wall, cpu) in best.items():
        print(f"{k:28} {wall:7.2f} {wall / wall0:5.2f}x {cpu:7.2f} {cpu / cpu0:5.2f}x")


MEMORY_PROBE = """
import resource, sys
from mediaml.media import detect_cuts
df = detect_cuts(sys.argv[1])
print(len(df), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def memory(work: Path) -> None:
    print("\n## Peak memory of standalone detection (Python process) as length doubles")
    print(f"{'frames':>7} {'cuts':>5} {'peak RSS MiB':>12}")
    base = [
        Shot("testsrc2", 50),
        Shot("smptebars", 50, "hue=h=90"),
        Shot("pan", 50),
        Shot("grain", 50),
    ]
    for reps in (10, 20, 40):
        path = work / f"mem_{reps}.mp4"
        make_multishot_video(path, base * reps, (320, 180), FPS, audio=False)
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout.split()
        print(f"{200 * reps:7d} {out[0]:>5} {int(out[1]) / 1024:12.1f}")


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="cutbench-") as tmp:
        work = Path(tmp)
        accuracy(work)
        speed(work)
        memory(work)


if __name__ == "__main__":
    main()
