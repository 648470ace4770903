"""One library (built by the real pipeline), one dashboard server and one Chromium for
every dashboard test in the session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from mediaml import review
from mediaml.config import Settings, load_settings, set_settings
from mediaml.db import Database, set_db
from mediaml.storage import LocalStore, set_store
from tests.conftest import PgServer, free_port
from tests.support.dashboard import build_library
from tests.support.embed import write_tiny_clip_model

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
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


@dataclass
class Library:
    """The test library: its settings, database and the ids the builder made."""

    env: dict[str, str]
    settings: Settings
    db: Database
    store: LocalStore
    videos: dict[str, int]
    extra: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="session")
def library(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    name = pg_server.create_database()
    root = tmp_path_factory.mktemp("dash")
    models = root / "models"
    model_name = write_tiny_clip_model(models).name
    env = {
        "DATABASE_URL": pg_server.url(name),
        "MEDIAML_DATA_DIR": str(root / "data"),
        "MEDIAML_MODEL_DIR": str(models),
        "MEDIAML_EMBED_MODEL": model_name,
        "MEDIAML_LOG_LEVEL": "WARNING",
    }
    settings = load_settings(env)
    db = Database(env["DATABASE_URL"])
    store = LocalStore(settings.media_dir, settings.cache_dir)
    # The pipeline reads the process defaults; set them only while building.
    set_settings(settings)
    set_store(store)
    set_db(db)
    try:
        videos = build_library(db, root / "sources")
    finally:
        set_settings(None)
        set_store(None)
        set_db(None)
    yield Library(env, settings, db, store, videos)
    db.close()
    pg_server.drop_database(name)


def start_server(
    env: dict[str, str],
    command: tuple[str, ...] = ("-m", "mediaml", "serve"),
    ready: str = "/healthz",
) -> tuple[subprocess.Popen[str], str]:
    """``mediaml serve`` (or another ``python`` command taking ``--port``) in a subprocess
    on a free port; returns it and its base URL once ``ready`` (a path) answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, *command, "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a loaded CI box starts Panel slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            if requests.get(f"{base}{ready}", timeout=2).status_code in (200, 503):
                return proc, base
        except (requests.ConnectionError, requests.Timeout):  # not up, or busy starting
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"server did not answer {ready} within 180 s")


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture(scope="session")
def server(library: Library) -> Iterator[str]:
    """Base URL of a dashboard without logins (development mode)."""
    proc, base = start_server(library.env)
    yield base
    stop_server(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install chromium (see .ci/run)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (its own context: no cookies or cache shared between tests),
    1300x1000. Test modules that need another window size define their own."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    yield context.new_page()
    context.close()


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot under test-output/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


@pytest.fixture
def reviewers(library: Library) -> Iterator[Callable[[str], str]]:
    """Hand out reviewer names; their claims are released after the test."""
    names: list[str] = []

    def make(name: str) -> str:
        names.append(name)
        return name

    yield make
    for name in names:
        review.release(name, db=library.db)
