"""Fit the burst-of-motion scorer (`DetectorParams.burst_weights`, `burst_bias`).

Builds (or reuses) the bench's cut-only edits of real camera footage for the given
seeds, runs the detector's hard-cut rules on each without the scorer, and takes every
candidate cut it keeps that does not tower over its neighbours (a step in a burst of
motion). A candidate within the bench's tolerance of a true cut is a cut, any other
is the motion. A logistic regression over `burst.burst_evidence` (standardised, L2
penalty `LAMBDA`, false cuts weighted `MOTION_WEIGHT`) is fitted on all of them; the
bias puts the line so that a share `SPARE` of the true cuts would be taken for motion.
Leave-one-group-out (seed groups of the bench's families and of later sessions' fresh
ones) shows what the fit does on edits it has not seen. Prints the parameters to
paste into params.py.

    python bench/fit_burst.py --work DIR [--work DIR ...] [--frames DIR]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from itertools import accumulate
from pathlib import Path

import numpy as np

from mediaml.media.detect import decide
from mediaml.media.detect.burst import FEATURES, burst_evidence
from mediaml.media.detect.features import Features, extract
from mediaml.media.detect.params import ANALYSIS_SIZE, DetectorParams
from mediaml.media.detect.stream import analysis_filter
from mediaml.media.ffmpeg import ffmpeg_exe

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/support: the edits
from tests.support.footage import cut_only_edit, make_cut_only_video

TOLERANCE = 2
GROUPS = {  # the cut-only families the scorer was fitted on (bench seeds and dev seeds)
    "cuts-tune": range(11, 15),
    "cuts-dev": range(15, 31),
    "cuts-held": range(111, 115),
    "cuts-extra": range(115, 119),
    "cuts-new": range(211, 223),
    "cuts-fresh": range(301, 307),
    "cuts-new2": range(311, 323),
    "cuts-new3": range(411, 423),
    "cuts-new4": range(511, 523),
    "cuts-new5": range(611, 623),
    "cuts-new6": range(711, 723),
    "cuts-new7": range(811, 823),
    "cuts-new8": range(911, 923),
    "cuts-new9": range(1011, 1023),
    "cuts-s12": range(1211, 1223),
    "cuts-s13": range(1311, 1323),
}
LAMBDA = 10.0
"""L2 penalty on the standardised weights (left-out families: 1-10 alike, 10 a little better)."""
MOTION_WEIGHT = 2.0
"""Weight of a false cut in the fit (they are fewer than 1 in 10 candidates)."""
SPARE = 0.01
"""Share of the training cuts in bursts the line may take for motion."""


def analysis_frames(path: Path, cache: Path | None) -> np.ndarray:
    """The detector's analysis pictures of ``path`` (n, 3, H, W), cached as .npy."""
    out = cache / f"{path.stem}.npy" if cache else None
    if out is not None and out.exists():
        return np.load(out)
    args = [ffmpeg_exe(), "-v", "error", "-skip_loop_filter", "all", "-i", str(path)]
    args += ["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", analysis_filter()]
    args += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv444p", "pipe:1"]
    raw = subprocess.run(args, capture_output=True, check=True).stdout
    w, h = ANALYSIS_SIZE
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 3, h, w)
    if out is not None:
        np.save(out, frames)
    return frames


def candidates(
    frames: np.ndarray, cuts: list[int], p: DetectorParams
) -> list[tuple[np.ndarray, bool]]:
    """Evidence and label (a true cut?) of each kept candidate in a burst of motion."""
    f = extract(frames)
    prev = Features.concat([f.take(slice(0, 1)), f.take(slice(0, -1))])
    score, motion = decide.change_scores(prev, f, p.max_shift)
    events, ev = decide.hard_cuts(f, score, motion, p)
    rows = []
    for e in events:
        t = e.frame
        if ev["dominance"][t] >= p.tower_dominance:
            continue
        x = burst_evidence(f, t, score, motion, ev, p)
        if not np.isnan(x).any():
            rows.append((x, any(abs(t - c) <= TOLERANCE for c in cuts)))
    return rows


def fit(
    x: np.ndarray, motion: np.ndarray, lam: float = LAMBDA, weight: float = MOTION_WEIGHT
) -> np.ndarray:
    """Logistic regression (Newton steps) of ``motion`` on standardised ``x``: raw-unit
    weights, bias first."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.c_[np.ones(len(x)), (x - mu) / sd]
    y = motion.astype(float)
    w = np.where(motion, weight, 1.0)
    b = np.zeros(z.shape[1])
    ridge = lam * np.diag(np.r_[0.0, np.ones(z.shape[1] - 1)])
    for _ in range(50):
        q = 1 / (1 + np.exp(-z @ b))
        grad = z.T @ (w * (q - y)) + ridge @ b
        hess = (z * (w * q * (1 - q))[:, None]).T @ z + ridge
        b -= np.linalg.solve(hess, grad)
    raw = b[1:] / sd
    return np.r_[b[0] - float(raw @ mu), raw]


def line(b: np.ndarray, x: np.ndarray, motion: np.ndarray, spare: float = SPARE) -> np.ndarray:
    """``b`` with its bias moved so all but ``spare`` of the true cuts in ``x`` score under 0."""
    top = float(np.quantile(x[~motion] @ b[1:], 1 - spare)) + b[0]
    out = b.copy()
    out[0] -= top + 1e-6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, action="append", required=True)
    ap.add_argument("--frames", type=Path, action="append", default=[])
    args = ap.parse_args()
    p = DetectorParams(burst_weights=())
    data: dict[str, list[tuple[np.ndarray, bool]]] = {}
    for group, seeds in GROUPS.items():
        for seed in seeds:
            name = f"cuts_{seed}.mp4"
            path = next((w / name for w in args.work if (w / name).exists()), None)
            if path is None:
                path = args.work[0] / name
                make_cut_only_video(path, seed)
            # the edit is drawn from the seed alone: a cut opens each take after the first
            cuts = list(accumulate(e.take.frames for e in cut_only_edit(random.Random(seed))))[:-1]
            frames = None
            for d in args.frames:
                if (d / f"cuts_{seed}.npy").exists():
                    frames = np.load(d / f"cuts_{seed}.npy")
            if frames is None:
                frames = analysis_frames(path, args.frames[0] if args.frames else None)
            data.setdefault(group, []).extend(candidates(frames, cuts, p))
            print(f"{group} {seed}: {len(data[group])} candidates", flush=True)
    x = np.array([r[0] for rows in data.values() for r in rows])
    motion = np.array([not r[1] for rows in data.values() for r in rows])
    group = np.array([g for g, rows in data.items() for _ in rows])
    print(f"{len(x)} candidates in bursts, {int(motion.sum())} of them false cuts")
    removed = lost = 0
    for g in data:
        out = group == g
        b = line(fit(x[~out], motion[~out]), x[~out], motion[~out])
        hit = x[out] @ b[1:] + b[0] > 0
        r, k = int((hit & motion[out]).sum()), int((hit & ~motion[out]).sum())
        removed, lost = removed + r, lost + k
        print(f"left out {g}: false cuts removed {r} of {int(motion[out].sum())}, cuts lost {k}")
    print(f"leave-one-group-out: false cuts removed {removed}, cuts lost {lost}")
    b = line(fit(x, motion), x, motion)
    print("    burst_weights: tuple[float, ...] = (")
    for name, w in zip(FEATURES, b[1:], strict=True):
        print(f"        {w:.6g},  # {name}")
    print("    )")
    print(f"    burst_bias: float = {b[0]:.6g}")


if __name__ == "__main__":
    main()
