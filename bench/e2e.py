"""End to end: generated 720p video through the whole pipeline with real worker processes,
against the raw FFmpeg / ONNX Runtime work the pipeline performs, run in the same process.

Pipeline: an S3-compatible server (moto), one worker process consuming every queue,
ingest -> encode (master + proxy, detection fused) -> clips -> approve -> export ->
keyframes -> embeddings. Baseline: the same renditions, clip copies, keyframe JPEGs
and ONNX Runtime runs, issued directly one after another (no detection, no database,
no storage, no queue). Also prints object-store GET/PUT counts per video.

Usage: python bench/e2e.py [--minutes 2] [--videos 2]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench._db import bench_database  # noqa: E402
from mediaml.media import keyframe_frames, probe, run_ffmpeg  # noqa: E402
from mediaml.media import profiles as P  # noqa: E402
from tests.support.embed import write_tiny_clip_model  # noqa: E402
from tests.support.media import Shot, make_multishot_video  # noqa: E402

SOURCES = ["testsrc2", "mandelbrot", "smptebars", "life", "gradients", "cellauto", "zoneplate"]


def make_sources(folder: Path, minutes: float, videos: int) -> list[Path]:
    seconds = minutes * 60 / videos
    shots_per_video = max(2, int(seconds // 5))
    frames = int(seconds * 25 / shots_per_video)
    paths = []
    for v in range(videos):
        path = folder / f"source-{v}.mp4"
        shots = [Shot(SOURCES[(v + i) % len(SOURCES)], frames) for i in range(shots_per_video)]
        make_multishot_video(
            path,
            shots,
            size=(1280, 720),
            codec_args=("-c:v", "libx264", "-preset", "veryfast", "-crf", "20"),
        )
        paths.append(path)
    return paths


def run_pipeline_with_workers(
    paths: list[Path], work: Path, model_dir: Path
) -> tuple[float, str, dict]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    import boto3

    import mediaml
    from mediaml.config import load_settings, set_settings
    from mediaml.db import connect
    from mediaml.pipeline.run import approve_pending
    from tests.conftest import free_port

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    ).create_bucket(Bucket="bench-media")
    url = bench_database("e2e")
    env = {
        "DATABASE_URL": url,
        "MEDIAML_DATA_DIR": str(work / "data"),
        "PROD_S3_BUCKET_NAME": "bench-media",
        "MEDIAML_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_REGION": "us-east-1",
        "MEDIAML_MODEL_DIR": str(model_dir),
        "HF_HUB_OFFLINE": "1",
        "MEDIAML_QUEUES": "default,media_processing,background_jobs,temp_clips,maintenance",
        "MEDIAML_DISPATCH_INTERVAL": "1",
        "MEDIAML_LOG_LEVEL": "INFO",
    }
    settings = load_settings(env)
    set_settings(settings)
    db = connect(url, settings=settings)
    log = work / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runners.worker"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        while "worker up" not in log.read_text():  # boot (imports, migrations) is not timed
            time.sleep(0.05)
        started = time.monotonic()
        from mediaml.jobs.tasks import queue_downloads

        queue_downloads([int(v) for v in mediaml.ingest(paths, db=db)["video_id"]])
        while True:
            approve_pending(db, None, "bench")
            counts = mediaml.status(db=db)
            c, v = counts["clips"], counts["videos"]
            live = sum(n for s, n in c.items() if s != "archived")
            if v["done"] == len(paths) and live and c["embedded"] == live:
                break
            if any(n for s, n in {**c, **v}.items() if s.endswith("failed")):
                raise SystemExit(f"pipeline failed: {counts['failed']}")
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    moto.stop()
    clips = mediaml.clips(db=db)
    return elapsed, log.read_text(), {"clips": clips, "db": db}


def raw_baseline(paths: list[Path], clips, work: Path, model_dir: Path) -> dict[str, float]:
    import onnxruntime as ort

    from mediaml.embed.images import load_image
    from mediaml.embed.preprocess import ClipPreprocessor

    out = work / "raw"
    out.mkdir()
    times = {"master": 0.0, "proxy": 0.0, "clips": 0.0, "keyframes": 0.0, "onnx": 0.0}
    session = ort.InferenceSession(str(model_dir / "clip-vit-base-patch32/onnx/vision_model.onnx"))
    pre = ClipPreprocessor.from_file(model_dir / "clip-vit-base-patch32/preprocessor_config.json")
    for i, src in enumerate(paths):
        info = probe(src)
        t = time.perf_counter()
        profile = P.MASTER_REMUX if P.master_reusable(info) else P.MASTER
        run_ffmpeg(
            [
                "-y",
                "-v",
                "error",
                "-i",
                str(src),
                *profile.args(audio=info.has_audio),
                str(out / f"master-{i}.mp4"),
            ]
        )
        times["master"] += time.perf_counter() - t
        t = time.perf_counter()
        w, h = P.proxy_size(info.width, info.height)
        proxy = out / f"proxy-{i}.mp4"
        run_ffmpeg(
            [
                "-y",
                "-v",
                "error",
                "-i",
                str(src),
                "-vf",
                f"scale={w}:{h}",
                *P.PROXY.args(audio=info.has_audio),
                str(proxy),
            ]
        )
        times["proxy"] += time.perf_counter() - t
        fps = probe(proxy).fps
        for clip in clips[clips["video_id"] == clips["video_id"].unique()[i]].itertuples():
            start, end = int(clip.start_frame), int(clip.end_frame)
            t = time.perf_counter()
            run_ffmpeg(
                [
                    "-y",
                    "-v",
                    "error",
                    "-ss",
                    f"{float(Fraction(start) / fps):.6f}",
                    "-i",
                    str(proxy),
                    "-frames:v",
                    str(end - start),
                    *P.TEMP_CLIP.args(audio=True),
                    str(out / f"clip-{clip.clip_id}.mp4"),
                ]
            )
            times["clips"] += time.perf_counter() - t
            jpgs = []
            t = time.perf_counter()
            for f in keyframe_frames(start, end, "multi"):
                jpg = out / f"kf-{clip.clip_id}-{f}.jpg"
                run_ffmpeg(
                    [
                        "-y",
                        "-v",
                        "error",
                        "-ss",
                        f"{float(Fraction(f) / fps):.6f}",
                        "-i",
                        str(proxy),
                        "-frames:v",
                        "1",
                        "-q:v",
                        "2",
                        str(jpg),
                    ]
                )
                jpgs.append(jpg)
            times["keyframes"] += time.perf_counter() - t
            tensor = np.stack([pre(load_image(j)) for j in jpgs]).astype(np.float32)
            t = time.perf_counter()
            session.run(None, {"pixel_values": tensor})
            times["onnx"] += time.perf_counter() - t
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--videos", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mme2e-"))
    model_dir = work / "models"
    write_tiny_clip_model(model_dir)
    print(f"generating {args.minutes:g} min of 720p video in {args.videos} files...")
    paths = make_sources(work, args.minutes, args.videos)
    elapsed, log, result = run_pipeline_with_workers(paths, work, model_dir)
    clips = result["clips"]
    raw = raw_baseline(paths, clips, work, model_dir)
    raw_total = sum(raw.values())
    ops = re.search(r"object store operations: (.*)", log)
    counts = dict(kv.split("=") for kv in ops.group(1).split(", ")) if ops else {}
    print(
        f"\n{args.minutes:g} min of 1280x720 video, {args.videos} videos, {len(clips)} clips; "
        "tiny test CLIP model (embedding compute is negligible next to FFmpeg)"
    )
    print("| run | seconds |")
    print("|---|---|")
    print(f"| mediaml pipeline, one worker process, real queues, S3 (moto) | {elapsed:.1f} |")
    for k, v in raw.items():
        print(f"| raw {k} | {v:.1f} |")
    print(f"| raw total (sequential) | {raw_total:.1f} |")
    print(f"ratio pipeline / raw work: {elapsed / raw_total:.2f} (target <= 1.15)")
    n = len(paths)
    print(
        "object store per video: "
        + ", ".join(f"{k}={int(v) / n:.1f}" for k, v in sorted(counts.items()))
    )


if __name__ == "__main__":
    main()
