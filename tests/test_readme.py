"""The README's examples, run exactly as written, as a new user would: fresh folders, no
model variables, the ``mediaml`` command and a plain ``python``."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, wait_for_port
from tests.support.embed import write_tiny_clip_model
from tests.support.media import Shot, make_multishot_video

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent
# Variables a new user does not have; the README must work without them.
UNSET = ("MEDIAML_", "DATABASE_URL", "PROD_DATABASE_URL", "APP_ENV", "HF_HUB_OFFLINE")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def python_examples() -> tuple[str, str]:
    main, text_search = [b for b in blocks("python") if "import mediaml" in b or "search_text" in b]
    return main, text_search


def in_process_example() -> list[str]:
    block = next(b for b in blocks("sh") if "mediaml serve" in b and "mediaml reel" in b)
    return [line for line in block.splitlines() if line.strip()]


def worker_example() -> list[str]:
    block = next(b for b in blocks("sh") if "mediaml worker" in b and "mediaml ingest" in b)
    return [line for line in block.splitlines() if line.strip()]


@pytest.fixture
def home() -> Iterator[Path]:
    """A new user's home: short (the embedded server's socket lives under it), with a
    ``footage/`` folder holding two multi-shot videos."""
    path = Path(tempfile.mkdtemp(prefix="mmhome-", dir="/tmp"))
    footage = path / "footage"
    footage.mkdir()
    make_multishot_video(footage / "street.mp4", [Shot("testsrc2", 20), Shot("smptebars", 20)])
    make_multishot_video(footage / "garden.mp4", [Shot("mandelbrot", 20), Shot("rgbtestsrc", 20)])
    yield path
    shutil.rmtree(path, ignore_errors=True)


def user_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(UNSET)}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra)
    env.pop("XDG_DATA_HOME", None)
    return env


def test_readme_python_examples_offline(home, db_url):
    main, text_search = python_examples()
    env = user_env(home, DATABASE_URL=db_url)
    done = subprocess.run(
        [sys.executable, "-c", main], cwd=home, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    # No CLIP files: one notice (not one per clip) that says what to do.
    assert done.stderr.count("offline mediaml-descriptor-v1") == 1, done.stderr
    assert (home / "backup" / "clips.parquet").exists()
    text = subprocess.run(
        [sys.executable, "-c", "import mediaml\n" + text_search],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert text.returncode == 1 and "has no text tower" in text.stderr


def test_readme_python_examples_with_clip_files(home, db_url):
    models = home / "models"
    write_tiny_clip_model(models)
    main, text_search = python_examples()
    env = user_env(home, DATABASE_URL=db_url, MEDIAML_MODEL_DIR=str(models))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            main + text_search + "print(mediaml.embeddings().model_name.unique())",
        ],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "offline" not in done.stderr
    assert "['clip-vit-base-patch32']" in done.stdout


def test_readme_shell_example_with_a_worker(home):
    """ingest, worker, status exactly as the README writes them, on a fresh data dir."""
    ingest, worker, status = worker_example()
    assert ingest.startswith("mediaml ingest ~/footage/")
    assert worker.startswith("mediaml worker") and status.startswith("mediaml status")
    env = user_env(home)

    def sh(line: str, **kwargs) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line], cwd=home, env=env, capture_output=True, text=True, **kwargs
        )

    registered = sh(ingest, timeout=300)
    assert registered.returncode == 0, registered.stderr
    log = (home / "worker.log").open("w")
    process = subprocess.Popen(
        ["bash", "-c", f"exec {worker}"], cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 300
        shown = ""
        while time.monotonic() < deadline:
            shown = sh(status, timeout=120).stdout
            if "pending_review=4" in shown:
                break
            assert process.poll() is None, (home / "worker.log").read_text()
            time.sleep(2)
        assert "pending_review=4" in shown, shown + (home / "worker.log").read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        log.close()
    assert "videos: done=2" in shown
    assert (home / ".local" / "share" / "mediaml" / "pg").is_dir()  # the default data dir


def test_readme_shell_example_in_this_process(home):
    """ingest, run, serve, status, export and reel exactly as the README writes them, in
    order, on a fresh data dir (``serve`` until its review page answers, on ``PORT``)."""
    lines = in_process_example()
    assert [line.split()[1] for line in lines] == [
        "ingest",
        "run",
        "serve",
        "status",
        "export",
        "reel",
    ]
    port = free_port()
    env = user_env(home, PORT=str(port))
    shown: dict[str, str] = {}
    for line in lines:
        command = line.split()[1]
        if command == "serve":
            log = (home / "serve.log").open("w")
            server = subprocess.Popen(
                ["bash", "-c", f"exec {line}"], cwd=home, env=env, stdout=log, stderr=log
            )
            try:
                wait_for_port(port, timeout=180)
                page = requests.get(f"http://127.0.0.1:{port}/review", timeout=120)
                assert page.status_code == 200, (home / "serve.log").read_text()
            finally:
                server.send_signal(signal.SIGINT)
                server.wait(timeout=120)
                log.close()
            continue
        done = subprocess.run(
            ["bash", "-c", line], cwd=home, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (line, done.stderr)
        shown[command] = done.stdout
    assert json.loads(shown["status"])["clips"]["pending_review"] == 4
    assert (home / "parquet" / "clips.parquet").exists()
    assert (
        shown["reel"].strip().endswith("wrote best.mp4") and (home / "best.mp4").stat().st_size > 0
    )
