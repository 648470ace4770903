"""The web and worker commands from render.yaml, run as processes on the embedded database."""

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import requests
import yaml

import mediaml
from mediaml.config import load_settings
from tests.conftest import free_port
from tests.pipeline.conftest import wait_for
from tests.support.media import Shot, make_multishot_video

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINT = yaml.safe_load((ROOT / "render.yaml").read_text())


def service_env(name):
    service = next(s for s in BLUEPRINT["services"] if s["name"] == name)
    env = {e["key"]: e["value"] for e in service["envVars"] if "value" in e}
    return shlex.split(service["dockerCommand"]), env


def start(command, env, log):
    command = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def test_web_and_worker_roles_on_the_embedded_database(tmp_path):
    path = tmp_path / "video.mp4"
    make_multishot_video(
        path, [Shot("testsrc2", 30), Shot("mandelbrot", 25), Shot("smptebars", 30)]
    )
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MEDIAML_", "DATABASE_URL", "APP_ENV"))
    }
    common = {
        **base,
        "MEDIAML_DATA_DIR": str(tmp_path / "data"),
        "MEDIAML_DISPATCH_INTERVAL": "2",
        "MEDIAML_LOG_LEVEL": "INFO",
    }
    port = free_port()
    web_cmd, web_env = service_env("mediaml-web")
    worker_cmd, worker_env = service_env("mediaml-worker")
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    web = start(web_cmd, {**common, **web_env, "PORT": str(port)}, web_log)
    worker = None
    try:

        def healthy():
            try:
                return (
                    requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                )
            except requests.ConnectionError:
                return False

        wait_for(healthy, timeout=90, what="/healthz 200", interval=0.5)
        worker = start(
            worker_cmd, {**common, **worker_env, "MEDIAML_SHUTDOWN_GRACE": "2"}, worker_log
        )
        # The web node schedules; the worker (which consumes background_jobs) runs the dispatcher.
        wait_for(
            lambda: "scheduler: queued dispatcher" in web_log.read_text(),
            timeout=30,
            what="scheduler line on web",
        )
        # The web node warms the search indexes after it starts (none exist yet here).
        wait_for(
            lambda: "search warm-up: 0 of 0 indexes warmed" in web_log.read_text(),
            timeout=60,  # it waits for 10 s without pages first
            what="search warm-up line on web",
        )
        wait_for(
            lambda: "dispatcher: queued" in worker_log.read_text(),
            timeout=30,
            what="dispatcher line on worker",
        )
        settings = load_settings({"MEDIAML_DATA_DIR": str(tmp_path / "data")})
        db = mediaml.connect(settings=settings)
        video_id = int(mediaml.ingest(path, db=db)["video_id"].iloc[0])

        def state():
            with db.transaction() as conn:
                return conn.execute(
                    "SELECT state FROM source_videos WHERE id = %s", (video_id,)
                ).fetchone()["state"]

        wait_for(lambda: state() == "done", timeout=90, what="worker processed the video")
        assert len(mediaml.clips(video=video_id, db=db)) == 3
        db.close()
    finally:
        for proc in (worker, web):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (worker, web):
            if proc is not None:
                try:
                    assert proc.wait(60) == 0, (web_log.read_text() + worker_log.read_text())[
                        -3000:
                    ]
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise
