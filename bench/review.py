"""Review latency and temp clip generation.

1. Temp clips of 2 / 5 / 20 s cut from an all-intra proxy by ``temp_clip_path`` (cache
   cold), next to a raw ``ffmpeg -c copy`` of the same frames (the baseline, same run),
   and a cache hit (timed with FFmpeg made unusable, which proves a hit never runs it).
2. In Chromium against ``mediaml serve``: time from pressing approve to the next clip
   playing, p50/p95 over 50 clips: prefetch off (the baseline), prefetch on (3 ahead:
   temp clips cut in the background and preloaded in hidden <video> elements that are
   swapped in on approve), on a quiet machine and with the machine busy encoding (two
   FFmpeg x264 encodes running throughout, as a worker would).
3. Hover -> preview playing on the explore page's result cards, p50/p95, quiet and busy.

Every figure is printed with the load average, since the machine is shared.

Usage: python bench/review.py   (needs Debian's chromium, like the browser tests)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
CLIPS_PER_RUN = 50
HOVERS = 36
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
    print("\nTemp clip generation (median of", REPEATS, "runs, cache cold)")
    print(
        f"{'clip':>6} {'raw ffmpeg copy':>16} {'temp_clip_path':>15} {'ratio':>6} {'cache hit':>10}"
    )
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
        print(f"{seconds:>5}s {r:>13.1f} ms {o:>12.1f} ms {o / r:>5.2f}x {h:>7.2f} ms")


@contextlib.contextmanager
def busy_encoding(active: bool):
    """Two FFmpeg x264 encodes running in a loop while the block runs (the machine busy
    encoding, as a worker on the same box would make it)."""
    procs: list[subprocess.Popen[bytes]] = []
    if active:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        media.ffmpeg_exe(),
                        *("-v", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25"),
                        *("-c:v", "libx264", "-preset", "medium", "-f", "null", "-"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(2.0)  # let them reach full speed
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


@contextlib.contextmanager
def dashboard(env: dict[str, str], port: int, prefetch: int):
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
        stdout=subprocess.DEVNULL,
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
        proc.wait(20)


def reset_review(db: Database, video_id: int) -> None:
    """Put the review video's clips back in review, so every run sees the same queue."""
    with db.transaction() as conn:
        conn.execute(
            "UPDATE clips SET state = 'pending_review', reviewed_by = NULL, reviewed_at = NULL,"
            " lease_owner = NULL, lease_expires_at = NULL"
            " WHERE video_id = %s AND state = 'review_approved'",
            (video_id,),
        )


def bench_review(
    env: dict[str, str], db: Database, video_id: int, prefetch: int, port: int
) -> list[float]:
    """Approve CLIPS_PER_RUN clips in Chromium; ms from key press to the next clip playing."""
    from playwright.sync_api import sync_playwright

    settings = load_settings(env)
    shutil.rmtree(settings.playback_cache_dir, ignore_errors=True)
    reset_review(db, video_id)
    timings: list[float] = []
    with dashboard(env, port, prefetch) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/review?reviewer=bench-{port}")
        page.locator(".mm-fact[data-fact=clip]").wait_for()
        time.sleep(1.5)  # let the first clip start and the prefetch run ahead
        for _ in range(CLIPS_PER_RUN):
            page.evaluate(
                "() => { window.__next = new Promise(r => window.addEventListener("
                "'mediaml:playing', e => r(e.detail.ms), {once: true})); }"
            )
            page.keyboard.press("a")
            timings.append(float(page.evaluate("() => window.__next")))
            time.sleep(0.3)  # a reviewer watches for a moment; prefetch works meanwhile
        browser.close()
    return timings


def make_explore_library(work: Path, env: dict[str, str], db: Database) -> int:
    """A second source run through the whole pipeline (auto-approved, exported, embedded
    with the offline descriptor model), so the explore page has result cards. Returns the
    first clip id."""
    from mediaml.pipeline import run_pipeline

    source = work / "explore.mp4"
    parts = "".join(f"[{i}:v]" for i in range(16))
    inputs = []
    for i in range(16):
        inputs += ["-f", "lavfi", "-i", f"testsrc2=s=320x180:r={FPS}:d=1,hue=h={i * 22}"]
    media.run_ffmpeg(
        [
            *inputs,
            "-filter_complex",
            f"{parts}concat=n=16:v=1:a=0[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(source),
        ],
        timeout=600,
    )
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
        row = conn.execute("SELECT min(clip_id) AS id FROM embeddings").fetchone()
    if row is None or row["id"] is None:
        raise SystemExit("the explore library has no embedded clips; the pipeline failed")
    return int(row["id"])


def bench_hover(env: dict[str, str], clip_id: int, port: int) -> list[float]:
    """Hover the explore page's result cards one after another; ms from the pointer
    entering a card to its preview playing."""
    from playwright.sync_api import sync_playwright

    timings: list[float] = []
    with dashboard(env, port, 0) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/explore?clip={clip_id}")
        cards = page.locator(".mm-grid .mm-card")
        cards.first.wait_for(timeout=60000)
        count = cards.count()
        for i in range(HOVERS):
            page.mouse.move(5, 5)
            time.sleep(0.2)
            page.evaluate(
                "() => { window.__preview = new Promise(r => window.addEventListener("
                "'mediaml:preview-playing', e => r(e.detail.ms), {once: true})); }"
            )
            cards.nth(i % count).hover()
            timings.append(float(page.evaluate("() => window.__preview")))
        browser.close()
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(label: str, timings: list[float]) -> str:
    load = os.getloadavg()[0]
    return (
        f"{label:>28} {percentile(timings, 0.5):>6.0f} ms {percentile(timings, 0.95):>6.0f} ms"
        f" {max(timings):>6.0f} ms   load {load:.1f}"
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mmreview-"))
    env, db, store, video_id = make_library(work)
    bench_generation(work, env, db, store)
    print(f"\nApprove -> next clip playing, {CLIPS_PER_RUN} clips of {CLIP_FRAMES / FPS:.0f} s")
    print(f"{'run':>28} {'p50':>9} {'p95':>9} {'max':>9}")
    results = {}
    runs = [
        ("prefetch off, quiet", 0, False),
        ("prefetch 3 ahead, quiet", 3, False),
        ("prefetch off, busy encoding", 0, True),
        ("prefetch 3 ahead, busy encoding", 3, True),
    ]
    for n, (label, prefetch, busy) in enumerate(runs):
        with busy_encoding(busy):
            timings = bench_review(env, db, video_id, prefetch, 5800 + n)
            results[label] = timings
            print(row(label, timings), flush=True)
    for busy in ("quiet", "busy encoding"):
        off = percentile(results[f"prefetch off, {busy}"], 0.95)
        on = percentile(results[f"prefetch 3 ahead, {busy}"], 0.95)
        print(f"p95 prefetch / off ({busy}): {on / off:.2f}x")
    print("targets: p95 < 50 ms quiet, < 150 ms busy encoding (with prefetch)")

    first = make_explore_library(work, env, db)
    print(f"\nHover -> preview playing, {HOVERS} hovers over explore result cards")
    print(f"{'run':>28} {'p50':>9} {'p95':>9} {'max':>9}")
    for n, busy in enumerate((False, True)):
        with busy_encoding(busy):
            timings = bench_hover(env, first, 5810 + n)
            print(row("busy encoding" if busy else "quiet", timings), flush=True)
    print("target: p95 < 300 ms")
    db.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
