"""``make bench``: run the bench scripts and write their tables into ``docs/benchmarks.md``.

Each script ``bench/<name>.py`` prints its tables (Markdown) on stdout and its progress
on stderr. This runner runs the chosen scripts one after the other, shows their output
as it comes, and replaces each script's section ``## bench/<name>.py`` in
``docs/benchmarks.md`` with what it printed, headed by when and where it ran (machine,
date, commit, load average before and after: the machine may be shared, which is why
every script reports ratios against a baseline run in the same process). Sections of
scripts that were not run this time are kept as they were, so one script can be re-run
alone.

A script that exits with :data:`SKIP` (77, as automake's test harness does) could not
run here (a missing optional dependency, say it on stderr): its old section is kept and
the reason is printed. Any other failure keeps the old section too and makes the run
fail once every script has had its turn.

Usage::

    python bench/_report.py                  # every bench/*.py
    python bench/_report.py search scale     # only these
    python bench/_report.py --sizes 10000,100000,1000000 scale

``--sizes`` (or ``MEDIAML_BENCH_SIZES``) is handed to the scripts that build catalogues
of several sizes (``bench/search.py``, ``bench/scale.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
REPORT = ROOT / "docs" / "benchmarks.md"
SKIP = 77
SECTION = re.compile(r"^## (bench/[A-Za-z0-9_]+\.py)\s*$", re.MULTILINE)

HEADER = """# Benchmarks

Written by `make bench` ([bench/_report.py](../bench/_report.py)); do not edit by hand.
Each section is what one script printed, with the machine, date, commit and load
average it ran with. The machine the figures were taken on is shared and often busy, so
every script measures a baseline in the same run and reports ratios against it; read the
ratios, not the absolute times.

- `make bench`: every script, catalogue sizes at their defaults (10k and 100k clips).
- `make bench BENCH="search scale"`: only those scripts; other sections stay as they are.
- `make bench BENCH=scale BENCH_SIZES=10000,100000,1000000`: the 1M-clip rows (about an
  hour on 2 cores, most of it loading vectors and building the index once; the
  catalogues are cached in `$MEDIAML_BENCH_CACHE`, default `~/.cache/mediaml-bench`, and
  reused by later runs).
"""


def scripts(names: list[str]) -> list[Path]:
    """The bench scripts to run: the named ones, or all (files starting with _ are helpers)."""
    every = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))
    if not names:
        return every
    chosen = []
    for name in names:
        path = BENCH / (name if name.endswith(".py") else f"{name}.py")
        if path not in every:
            known = ", ".join(p.stem for p in every)
            sys.exit(f"no bench script {name!r}; choose from: {known}")
        chosen.append(path)
    return chosen


def machine() -> str:
    """CPU model, cores, memory, OS and Python, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM"
    except (AttributeError, ValueError, OSError):
        memory = ""
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def commit() -> str:
    """The checked-out commit (with ``+changes`` when the tree differs from it)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+changes" if dirty else "")


def demote(text: str, top: int = 3) -> str:
    """Shift the script's own Markdown headings so the highest is level ``top``."""
    levels = [len(m[1]) for m in re.finditer(r"^(#+) ", text, re.MULTILINE)]
    shift = max(0, top - min(levels)) if levels else 0
    if not shift:
        return text
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m[1]) + shift) + " ", text, flags=re.MULTILINE)


def run(script: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run one script, echoing its output; returns (exit code, stdout, run details)."""
    print(f"==> {script.relative_to(ROOT)}", file=sys.stderr, flush=True)
    before = os.getloadavg()
    started = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = []
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        out.append(line)
    code = proc.wait()
    seconds = time.perf_counter() - start
    after = os.getloadavg()
    details = (
        f"_Ran {started:%Y-%m-%d %H:%M} UTC for {seconds:.0f} s at commit {commit()} on "
        f"{machine()}; load average {before[0]:.1f} before, {after[0]:.1f} after._"
    )
    return code, "".join(out), details


def sections(text: str) -> tuple[str, dict[str, str]]:
    """Split a report into its preamble and ``{script: body}`` per ``## bench/...`` section."""
    parts = SECTION.split(text)
    found = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
    return parts[0], found


def write(found: dict[str, str]) -> None:
    """Write the report: the header, then one section per script in name order."""
    body = [HEADER.rstrip("\n")]
    for name in sorted(found):
        body.append(f"## {name}\n\n{found[name].strip()}")
    REPORT.write_text("\n\n".join(body) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scripts", nargs="*", help="script names (default: all)")
    parser.add_argument("--sizes", default=os.environ.get("MEDIAML_BENCH_SIZES", ""))
    args = parser.parse_args()
    names = [n for s in args.scripts for n in re.split(r"[,\s]+", s) if n]
    env = dict(os.environ)
    if args.sizes:
        env["MEDIAML_BENCH_SIZES"] = args.sizes
    _, found = sections(REPORT.read_text()) if REPORT.exists() else ("", {})
    failed = []
    for script in scripts(names):
        key = f"bench/{script.name}"
        code, out, details = run(script, env)
        if code == 0:
            found[key] = f"{details}\n\n{demote(out.strip())}"
            write(found)  # after each script, so a later failure loses nothing
        elif code == SKIP:
            print(f"{key} skipped (see above); its section is unchanged", file=sys.stderr)
        else:
            failed.append(key)
            print(f"{key} failed (exit {code}); its section is unchanged", file=sys.stderr)
    write(found)
    print(f"wrote {REPORT.relative_to(ROOT)}", file=sys.stderr)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
