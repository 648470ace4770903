"""Review latency and temp clip generation.

1. Temp clips of 2 / 5 / 20 s cut from an all-intra proxy by ``temp_clip_path`` (cache
   cold), next to a raw ``ffmpeg -c copy`` of the same frames (the baseline, same run),
   and a cache hit (timed with FFmpeg made unusable, which proves a hit never runs it).
2. In Chromium against ``mediaml serve``: time from pressing approve to the next clip
   playing, p50/p95 over 50 clips, with prefetch on (3 ahead) and off.

Usage: python bench/review.py   (needs Debian's chromium, like the browser tests)
"""

from __future__ import annotations

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
from mediaml.config import load_settings
from mediaml.db import Database
from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import create_video
from mediaml.review.playback import temp_clip_path
from mediaml.storage import LocalStore
from mediaml.storage.keys import proxy_key

FPS = 25
SECONDS = 130
CLIP_FRAMES = 25  # one-second clips for the review run
REPEATS = 7
CLIPS_PER_RUN = 50
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


def bench_review(env: dict[str, str], db: Database, prefetch: int) -> list[float]:
    """Approve CLIPS_PER_RUN clips in Chromium; ms from key press to the next clip playing."""
    from playwright.sync_api import sync_playwright

    settings = load_settings(env)
    shutil.rmtree(settings.playback_cache_dir, ignore_errors=True)
    port = 5800 + prefetch
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
        import requests

        for _ in range(200):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        timings: list[float] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{base}/review?reviewer=bench-{prefetch}")
            page.locator(".mm-fact[data-fact=clip]").wait_for()
            page.wait_for_function("() => true")
            time.sleep(1.0)  # let the first clip start and the prefetch run ahead
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
    finally:
        proc.terminate()
        proc.wait(20)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mmreview-"))
    env, db, store, _video = make_library(work)
    bench_generation(work, env, db, store)
    print(f"\nApprove -> next clip playing, {CLIPS_PER_RUN} clips of {CLIP_FRAMES / FPS:.0f} s")
    print(f"{'prefetch':>10} {'p50':>9} {'p95':>9} {'max':>9}")
    results = {}
    for prefetch in (0, 3):
        timings = bench_review(env, db, prefetch)
        results[prefetch] = timings
        label = "off" if prefetch == 0 else f"{prefetch} ahead"
        print(
            f"{label:>10} {percentile(timings, 0.5):>6.0f} ms {percentile(timings, 0.95):>6.0f} ms"
            f" {max(timings):>6.0f} ms"
        )
    off, on = (percentile(results[p], 0.95) for p in (0, 3))
    print(f"p95 with prefetch / without: {on / off:.2f}x (target p95 < 300 ms with prefetch)")
    db.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
