"""Review latency and temp clip generation.

1. Temp clips of 2 / 5 / 20 s cut from an all-intra proxy by ``temp_clip_path`` (cache
   cold), next to a raw ``ffmpeg -c copy`` of the same frames (the baseline, same run),
   and a cache hit (timed with FFmpeg made unusable, which proves a hit never runs it).
2. In Chromium against ``mediaml serve``: time from pressing approve to the next clip
   PLAYING from its start (its first frame on screen, then the frame after it: see
   ``review_row``), p50/p95: prefetch off (the
   baseline) and prefetch 3 ahead (the next clips cut in the background, downloaded and
   decoded in hidden <video> elements, the first swapped in on the key press before the
   server answers), on a quiet machine and with the machine busy encoding (this script
   runs a real FFmpeg x264 encode of a generated 720p video, over and over, throughout
   those rows). Each row also says where the time went: how many transitions started
   before the server's answer, and how long the answer took.
3. Hover -> preview playing on the explore page's result cards (from the pointer event to
   the preview's ``playing`` event), quiet and busy encoding.

Tables (Markdown) go to stdout, progress to stderr; every row carries the load average,
since the machine may be shared.

Usage: python bench/review.py [--clips N] [--hovers N]   (needs Debian's chromium, like
the browser tests)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._db import bench_database
from mediaml import media
from mediaml.config import load_settings, set_settings
from mediaml.db import Database, set_db
from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import create_video
from mediaml.embed.backends.descriptor import NAME as DESCRIPTOR
from mediaml.review.playback import temp_clip_path
from mediaml.storage import LocalStore, set_store
from mediaml.storage.keys import proxy_key

FPS = 25
SECONDS = 130
CLIP_FRAMES = 25  # one-second clips for the review run
REPEATS = 7
CLIPS_PER_RUN = 40
HOVERS = 30
WATCH_S = 0.5  # how long the bench's reviewer looks at a clip after the server answered
TIMEOUT_MS = 20000  # a transition slower than this counts as failed (the run goes on)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


def make_library(work: Path) -> tuple[dict[str, str], Database, LocalStore, int]:
    """A 130 s 640x360 source encoded to its proxy, cut into one-second clips."""
    url = bench_database("review_bench")
    env = {
        "DATABASE_URL": url,
        "MEDIAML_DATA_DIR": str(work / "data"),
        "MEDIAML_LOG_LEVEL": "WARNING",
        "MEDIAML_EMBED_MODEL": DESCRIPTOR,
    }
    settings = load_settings(env)
    store = LocalStore(settings.media_dir, settings.cache_dir)
    source = work / "source.mp4"
    media.run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc2=s=640x360:r={FPS}:d={SECONDS}"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(source)),
        ],
        timeout=600,
    )
    result = media.encode(source, work / "master.mp4", work / "proxy.mp4", detect=False)
    db = Database(url)
    with db.transaction() as conn:
        video, _ = create_video(
            conn,
            "Bench",
            "file:///bench.mp4",
            state="done",
            fps_num=result.proxy.fps.numerator,
            fps_den=result.proxy.fps.denominator,
            frame_count=result.proxy.frame_count,
            duration_s=result.proxy.duration,
        )
        key = proxy_key(video["id"], "Bench")
        store.put(work / "proxy.mp4", key)
        conn.execute("UPDATE source_videos SET proxy_key = %s WHERE id = %s", (key, video["id"]))
        cuts = range(CLIP_FRAMES, result.proxy.frame_count, CLIP_FRAMES)
        create_initial_clips(conn, video["id"], [DetectedCut(f) for f in cuts])
    return env, db, store, int(video["id"])


def raw_copy(proxy: Path, start: int, frames: int, out: Path) -> None:
    """The baseline: FFmpeg's stream copy of the same frames, nothing else."""
    subprocess.run(
        [
            media.ffmpeg_exe(),
            *("-v", "error", "-y", "-ss", f"{start / FPS:.6f}", "-i", str(proxy)),
            *("-map", "0:v:0", "-map", "0:a:0?", "-frames:v", str(frames), "-c", "copy"),
            str(out),
        ],
        check=True,
    )


def bench_generation(work: Path, env: dict[str, str], db: Database, store: LocalStore) -> None:
    settings = load_settings(env)
    proxy = work / "proxy.mp4"
    print(f"\n### Temp clip generation (median of {REPEATS} runs, cache cold)\n")
    print("| clip | raw ffmpeg copy (baseline) | temp_clip_path | ratio | cache hit | load |")
    print("|---:|---:|---:|---:|---:|---:|")
    for seconds in (2, 5, 20):
        frames = seconds * FPS
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time,"
                " state) SELECT id, 250, %s, 10, %s, 'archived' FROM source_videos"
                " RETURNING id",
                (250 + frames, 10 + seconds),
            )
            clip_id = conn.execute("SELECT max(id) AS id FROM clips").fetchone()["id"]
        raw, ours, hits = [], [], []
        for _ in range(REPEATS):
            out = work / "raw.mp4"
            t0 = time.perf_counter()
            raw_copy(proxy, 250, frames, out)
            raw.append(time.perf_counter() - t0)
            shutil.rmtree(settings.playback_cache_dir, ignore_errors=True)
            t0 = time.perf_counter()
            path = temp_clip_path(clip_id, db=db, store=store, settings=settings)
            ours.append(time.perf_counter() - t0)
            # A hit must not need FFmpeg: make it unfindable while timing one.
            saved = {k: os.environ.get(k) for k in ("PATH", "IMAGEIO_FFMPEG_EXE")}
            os.environ.update(PATH=str(work), IMAGEIO_FFMPEG_EXE="/nonexistent/ffmpeg")
            try:
                t0 = time.perf_counter()
                assert temp_clip_path(clip_id, db=db, store=store, settings=settings) == path
                hits.append(time.perf_counter() - t0)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        r, o, h = (statistics.median(x) * 1000 for x in (raw, ours, hits))
        load = os.getloadavg()[0]
        print(
            f"| {seconds} s | {r:.1f} ms | {o:.1f} ms | {o / r:.2f}x | {h:.2f} ms | {load:.1f} |",
            flush=True,
        )


def make_busy_source(work: Path) -> Path:
    """A generated 20 s 1280x720 video with sound, for the busy-encoding rows to encode."""
    path = work / "busy-source.mp4"
    media.run_ffmpeg(
        [
            *("-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=20"),
            *("-f", "lavfi", "-i", "sine=frequency=330:duration=20"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path)),
        ],
        timeout=600,
    )
    return path


@contextlib.contextmanager
def busy_encoding(source: Path | None) -> Iterator[None]:
    """While the block runs, FFmpeg encodes ``source`` to H.264 (x264 medium, all cores)
    + AAC into a real MP4 file, again and again, as a worker on the same machine would
    (None: the machine is left alone)."""
    if source is None:
        yield
        return
    stop = threading.Event()
    current: list[subprocess.Popen[bytes]] = []
    encodes = [0]

    def loop() -> None:
        out = source.with_name("busy-output.mp4")
        while not stop.is_set():
            proc = subprocess.Popen(
                [
                    media.ffmpeg_exe(),
                    *("-v", "error", "-y", "-i", str(source)),
                    *("-c:v", "libx264", "-preset", "medium", "-c:a", "aac", str(out)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            current[:] = [proc]
            if proc.wait() == 0:
                encodes[0] += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(3.0)  # let the encode reach full speed
    try:
        yield
    finally:
        stop.set()
        for proc in current:
            proc.terminate()
        thread.join(30)
        log(f"  (busy: {encodes[0]} whole encodes finished during the row)")


def log(*parts: object) -> None:
    """Progress, on stderr (stdout carries the tables)."""
    print(*parts, file=sys.stderr, flush=True)


@contextlib.contextmanager
def dashboard(env: dict[str, str], port: int, prefetch: int) -> Iterator[str]:
    """``mediaml serve`` in a subprocess; yields its base URL."""
    import requests

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mediaml",
            "serve",
            "--port",
            str(port),
            "--prefetch",
            str(prefetch),
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,  # stdout carries this script's tables
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts it slowly
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a loaded machine may not let it finish
            proc.kill()
            proc.wait(10)


def reset_review(db: Database, video_id: int) -> None:
    """Put the review video's clips back in review, so every run sees the same queue."""
    with db.transaction() as conn:
        conn.execute(
            "UPDATE clips SET state = 'pending_review', reviewed_by = NULL, reviewed_at = NULL,"
            " lease_owner = NULL, lease_expires_at = NULL"
            " WHERE video_id = %s AND state = 'review_approved'",
            (video_id,),
        )


# Armed before each key press: resolves with the next clip's playing event and the
# server's answer (both, in either order), or what arrived by the timeout.
ARM = """(timeout) => { window.__transition = new Promise((resolve) => {
  const out = {};
  const done = () => { if (out.playing && out.answer) { clearTimeout(t); resolve(out); } };
  const t = setTimeout(() => resolve({ ...out, timeout: true }), timeout);
  window.addEventListener("mediaml:playing", (e) => { out.playing = e.detail; done(); }, { once: true });
  window.addEventListener("mediaml:answer", (e) => { out.answer = e.detail; done(); }, { once: true });
}); }"""


def bench_review(
    env: dict[str, str], db: Database, video_id: int, prefetch: int, port: int, clips: int
) -> list[dict[str, Any]]:
    """Approve ``clips`` clips in Chromium; per transition the ms from the key press to
    the next clip playing, whether it started before the server's answer, and the answer's
    ms (None values and ``timeout`` for a transition that did not complete)."""
    from playwright.sync_api import sync_playwright

    settings = load_settings(env)
    shutil.rmtree(settings.playback_cache_dir, ignore_errors=True)
    reset_review(db, video_id)
    out: list[dict[str, Any]] = []
    with dashboard(env, port, prefetch) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/review?reviewer=bench-{port}")
        page.locator(".mm-fact[data-fact=clip]").wait_for(timeout=120000)
        time.sleep(2.0)  # let the first clip start and the prefetch run ahead
        for n in range(clips):
            page.evaluate(ARM, TIMEOUT_MS)
            page.keyboard.press("a")
            got = page.evaluate("() => window.__transition")
            playing = got.get("playing") or {}
            answer_ms = (got.get("answer") or {}).get("ms")
            out.append(
                {
                    "ms": playing.get("ms") if "playing" in got else None,
                    "moving_ms": playing.get("moving_ms"),
                    "media_time": playing.get("media_time"),
                    "speculation": playing.get("speculation"),
                    "answer_ms": answer_ms,
                    "swapped": playing.get("swapped"),
                    "timeout": bool(got.get("timeout")),
                }
            )
            if got.get("timeout"):
                log(f"  transition {n + 1}: no playing/answer within {TIMEOUT_MS} ms: {got}")
            time.sleep(WATCH_S)  # a reviewer watches for a moment; prefetch works meanwhile
        browser.close()
    return out


def make_explore_library(work: Path, env: dict[str, str], db: Database) -> int:
    """A second source run through the whole pipeline (auto-approved, exported, embedded
    with the offline descriptor model), so the explore page has result cards. Returns the
    first clip id.

    Raises:
        SystemExit: the pipeline made fewer than two clips (no result cards to hover).
    """
    from mediaml.pipeline import run_pipeline
    from tests.support.dashboard import EXPLORE_SOURCES, make_reel

    # Shots of distinct sources (every join a certain cut, as the detector sees it), each
    # turned in hue so no two clips embed alike: 16 one-second clips.
    source = make_reel(
        work / "explore.mp4",
        EXPLORE_SOURCES["explore"],
        shot_frames=FPS,
        size=(320, 180),
        hue_step=22,
    ).path
    settings = load_settings(env)
    set_settings(settings)
    set_store(LocalStore(settings.media_dir, settings.cache_dir))
    set_db(db)
    try:
        run_pipeline([source], auto_approve=True, progress=False, db=db)
    finally:
        set_settings(None)
        set_store(None)
        set_db(None)
    with db.transaction() as conn:
        row = conn.execute("SELECT min(clip_id) AS id, count(*) AS n FROM embeddings").fetchone()
    if row is None or row["n"] < 2:
        raise SystemExit(
            "the explore library has fewer than two embedded clips, so no result cards; "
            "the pipeline failed or found no cuts"
        )
    return int(row["id"])


def bench_hover(env: dict[str, str], clip_id: int, port: int, hovers: int) -> list[float]:
    """Hover the explore page's result cards one after another; ms from the pointer
    entering a card to its preview playing."""
    from playwright.sync_api import sync_playwright

    timings: list[float] = []
    with dashboard(env, port, 0) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/explore?clip={clip_id}")
        cards = page.locator(".mm-grid .mm-card")
        try:
            cards.first.wait_for(timeout=60000)
        except Exception:
            shot = Path(tempfile.gettempdir()) / "bench-review-explore.png"
            page.screenshot(path=str(shot), full_page=True)
            log(f"  the explore page showed no result cards (see {shot}):")
            log(page.locator("body").inner_text()[:2000])
            raise
        count = cards.count()
        for i in range(hovers):
            page.mouse.move(5, 5)
            time.sleep(0.3)
            page.evaluate(
                "(timeout) => { window.__preview = new Promise(r => {"
                " const t = setTimeout(() => r(null), timeout);"
                " window.addEventListener('mediaml:preview-playing',"
                " e => { clearTimeout(t); r(e.detail.ms); }, {once: true}); }); }",
                TIMEOUT_MS,
            )
            cards.nth(i % count).hover()
            ms = page.evaluate("() => window.__preview")
            if ms is None:
                log(f"  hover {i + 1}: the preview did not play within {TIMEOUT_MS} ms")
            timings.append(float("inf") if ms is None else float(ms))
        browser.close()
    return timings


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return "failed" if value == float("inf") else f"{value:.0f}"


def review_row(label: str, runs: list[dict[str, Any]]) -> str:
    """One Markdown row: transitions, first frame p50/p95/max, which frame that was, the
    frame after it, where the time went, load."""
    times = [float("inf") if r["ms"] is None else float(r["ms"]) for r in runs]
    moving = [float("inf") if r.get("moving_ms") is None else float(r["moving_ms"]) for r in runs]
    # The clip's first frame: media time below one frame (the first video frame of a temp
    # clip starts at 0 or a few ms later, where its audio's first AAC frame puts it).
    from_start = sum(r.get("media_time") is not None and r["media_time"] < 1 / FPS for r in runs)
    early = sum(r["speculation"] == "hit" for r in runs)
    answers = [float(r["answer_ms"]) for r in runs if r["answer_ms"] is not None]
    misses: dict[str, int] = {}
    for r in runs:
        if r["speculation"] not in (None, "hit"):
            misses[r["speculation"]] = misses.get(r["speculation"], 0) + 1
    why = ", ".join(f"{k} {v}" for k, v in sorted(misses.items())) or "-"
    answer = f"{percentile(answers, 0.5):.0f} / {percentile(answers, 0.95):.0f}" if answers else "-"
    # Of the transitions that swapped a preloaded clip in (p50s since the key press): the
    # swap, and the seek back to its start (a warm clip) completing.
    swaps = [r["swapped"] for r in runs if r.get("swapped") and r["ms"] is not None]
    split = "-"
    if swaps:

        def p50(key: str) -> str:
            values = [float(w[key]) for w in swaps if w.get(key) is not None]
            return f"{percentile(values, 0.5):.0f}" if values else "-"

        warm = sum(bool(w.get("warm")) for w in swaps)
        split = f"{p50('ms')} / {p50('seeked_ms')} ({warm} warm)"
    return (
        f"| {label} | {len(runs)} | {ms(percentile(times, 0.5))} | {ms(percentile(times, 0.95))}"
        f" | {ms(max(times))} | {from_start}/{len(runs)}"
        f" | {ms(percentile(moving, 0.5))} / {ms(percentile(moving, 0.95))}"
        f" | {early}/{len(runs)} ({why}) | {split} | {answer} | {os.getloadavg()[0]:.1f} |"
    )


def hover_row(label: str, times: list[float]) -> str:
    return (
        f"| {label} | {len(times)} | {ms(percentile(times, 0.5))} | {ms(percentile(times, 0.95))}"
        f" | {ms(max(times))} | {os.getloadavg()[0]:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=CLIPS_PER_RUN, help="approvals per row")
    parser.add_argument("--hovers", type=int, default=HOVERS, help="hovers per row")
    parser.add_argument(
        "--only",
        choices=("generation", "review", "hover"),
        action="append",
        help="run only this part (repeatable; default: all three)",
    )
    args = parser.parse_args()
    parts = set(args.only or ("generation", "review", "hover"))
    # Stopped from outside: unwind, so the busy encoder and the servers are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/review.py: terminated"))
    work = Path(tempfile.mkdtemp(prefix="mmreview-"))
    try:
        log("building the review library (a 130 s video, its proxy, one-second clips)...")
        env, db, store, video_id = make_library(work)
        busy_source = make_busy_source(work)
        if "generation" in parts:
            log("temp clip generation...")
            bench_generation(work, env, db, store)
        if "review" in parts:
            bench_review_rows(env, db, video_id, busy_source, args.clips)
        if "hover" in parts:
            log("building the explore library (16 clips through the whole pipeline)...")
            first = make_explore_library(work, env, db)
            print(
                f"\n### Hover -> preview playing ({args.hovers} hovers over explore result cards)\n"
            )
            print("From the pointer entering a card to its preview's `playing` event.\n")
            print("| run | hovers | p50 ms | p95 ms | max ms | load |")
            print("|---|---:|---:|---:|---:|---:|")
            for n, (label, busy) in enumerate((("quiet", None), ("busy encoding", busy_source))):
                log(f"hover row: {label}...")
                with busy_encoding(busy):
                    times = bench_hover(env, first, 5810 + n, args.hovers)
                    print(hover_row(label, times), flush=True)
            print("\n- target: p95 < 300 ms")
        db.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_review_rows(
    env: dict[str, str], db: Database, video_id: int, busy_source: Path, clips: int
) -> None:
    """The approve -> next clip playing table: baseline and prefetch, quiet and busy."""
    print(
        f"\n### Approve -> next clip playing ({clips} approvals of "
        f"{CLIP_FRAMES / FPS:.0f} s clips per row, {WATCH_S} s watched after each answer)\n"
    )
    print(
        "From the key press (the keydown event's time stamp) to the next clip's first frame "
        "on screen while it plays from its start: the expected display time "
        "(requestVideoFrameCallback metadata) of the first frame the <video> presents after "
        "being put on screen and not paused. 'From frame 0': how many of those first frames "
        "were the clip's first frame (in the others the browser presented a later frame "
        "first, and that one's time counts). 'Moving': the same to the frame after it, "
        "i.e. until the clip's time visibly moves; it includes the first frame's own "
        "duration (40 ms at 25 fps) and the browser starting its audio clock. "
        "'Started early': transitions where the preloaded next clip was swapped in before "
        "the server answered (else why not); 'swap / seeked': of the transitions "
        "that swapped a preloaded <video> in, ms from the key press to the swap and to the "
        "seek back to its start completing (a 'warm' clip, already playing hidden); "
        "'answer': the server's round trip. 'Busy encoding': FFmpeg encoding a generated "
        "720p video (x264 medium + AAC, all cores, normal priority) over and over during "
        "the row.\n"
    )
    print(
        "| run | transitions | first frame p50 ms | p95 ms | max ms | from frame 0"
        " | moving p50 / p95 ms | started early | swap / seeked p50 ms | answer p50 / p95 ms"
        " | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    p95: dict[str, float] = {}
    rows = [
        ("prefetch off (baseline), quiet", 0, None),
        ("prefetch 3 ahead, quiet", 3, None),
        ("prefetch off (baseline), busy encoding", 0, busy_source),
        ("prefetch 3 ahead, busy encoding", 3, busy_source),
    ]
    for n, (label, prefetch, busy) in enumerate(rows):
        log(f"review row: {label}...")
        with busy_encoding(busy):
            runs = bench_review(env, db, video_id, prefetch, 5800 + n, clips)
            print(review_row(label, runs), flush=True)
        p95[label] = percentile(
            [float("inf") if r["ms"] is None else float(r["ms"]) for r in runs], 0.95
        )
    print()
    for what in ("quiet", "busy encoding"):
        off = p95[f"prefetch off (baseline), {what}"]
        on = p95[f"prefetch 3 ahead, {what}"]
        print(f"- p95 prefetch / baseline ({what}): {on / off:.2f}x")
    print("- targets (prefetch on, first frame): p95 < 50 ms quiet, < 150 ms busy encoding")


if __name__ == "__main__":
    main()
