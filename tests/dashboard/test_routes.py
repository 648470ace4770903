"""The HTTP routes beside the pages: health, media and temp clips with Range support."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from tornado.web import Application

from dashboards import context, routes
from dashboards.context import DashboardContext
from mediaml.config import Settings
from mediaml.db import Database
from mediaml.storage import LocalStore
from tests.conftest import free_port, wait_for_port
from tests.dashboard.conftest import Library, start_server, stop_server


def review_clip(library: Library) -> dict:
    with library.db.transaction() as conn:
        row = conn.execute(
            "SELECT c.id, v.proxy_key FROM clips c JOIN source_videos v ON v.id = c.video_id"
            " WHERE c.video_id = %s ORDER BY c.id LIMIT 1",
            (library.videos["review"],),
        ).fetchone()
    assert row is not None
    return row


def test_health_reports_every_check_without_logins(server: str) -> None:
    response = requests.get(f"{server}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    detail = response.json()
    assert "MB of" in detail.pop("details")["object_cache"]  # this machine's object cache
    assert detail == {
        "status": "ok",
        "checks": {"database": "ok", "job_tables": "ok", "object_store": "ok"},
        "failed": [],
    }


@pytest.fixture
def health_only(
    db: Database, store: LocalStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The real ``/healthz`` handler on a Tornado server in a thread of this process (so
    the test can reach the process's connection pool); yields its base URL."""
    monkeypatch.setattr(context, "_context", DashboardContext(settings, None, 0, False))
    port, loops = free_port(), []

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        Application([(r"/healthz", routes.HealthHandler)]).listen(port, "127.0.0.1")
        loops.append(loop)
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name="health-only-loop")
    thread.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    loops[0].call_soon_threadsafe(loops[0].stop)
    thread.join(10)
    routes.loop_health.close()


def test_health_answers_while_page_work_holds_every_pooled_connection(
    health_only: str, db: Database
) -> None:
    # What two explore pages being made at once can do: every connection of the shared
    # pool is in use. The health check has connections of its own, so it still answers
    # (waiting for the pool, it gave 503 "does not answer" after its 5 s timeout).
    held = [db.pool.getconn() for _ in range(db.pool.max_size)]
    try:
        response = requests.get(f"{health_only}/healthz", timeout=30)
    finally:
        for conn in held:
            db.pool.putconn(conn)
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "job_tables": "ok", "object_store": "ok"}


def test_health_asks_the_database_on_the_event_loop_thread(
    health_only: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Handing the check to a worker thread and its answer back cost two thread wake-ups,
    # each waiting for a CPU and the GIL while pages are built: most of a slow /healthz.
    asked: list[str] = []

    def recorded(execute: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            asked.append(threading.current_thread().name)
            return execute(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(psycopg.Connection, "execute", recorded(psycopg.Connection.execute))
    monkeypatch.setattr(
        psycopg.AsyncConnection, "execute", recorded(psycopg.AsyncConnection.execute)
    )
    for _ in range(3):
        response = requests.get(f"{health_only}/healthz", timeout=30)
        assert response.status_code == 200, response.text
    assert asked and set(asked) == {"health-only-loop"}, asked


def test_media_route_serves_ranges(server: str, library: Library) -> None:
    key = review_clip(library)["proxy_key"]
    size = (library.settings.media_dir / key).stat().st_size
    whole = requests.get(f"{server}/media/{key}", timeout=10)
    assert whole.status_code == 200 and len(whole.content) == size
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = requests.get(f"{server}/media/{key}", headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 10-19/{size}"
    assert part.content == whole.content[10:20]


def test_media_route_refuses_unknown_and_unsafe_keys(server: str) -> None:
    for path in ("proxies/nope.mp4", "proxies/..%2F..%2Fetc%2Fpasswd", "secrets/x", "..%2Fpg"):
        response = requests.get(f"{server}/media/{path}", timeout=10)
        assert response.status_code in (403, 404), path
        assert "root" not in response.text


def test_playback_route_cuts_on_demand_and_serves_ranges(server: str, library: Library) -> None:
    clip_id = review_clip(library)["id"]
    url = f"{server}/playback/{clip_id}.mp4"
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["Content-Type"] == "video/mp4"
    size = int(head.headers["Content-Length"])
    part = requests.get(url, headers={"Range": f"bytes={size - 10}-"}, timeout=10)
    assert part.status_code == 206 and len(part.content) == 10


def test_playback_route_explains_what_is_wrong(server: str) -> None:
    cases = [("abc", "not a clip"), ("999999.mp4", "does not exist")]
    # Unicode digits are not clip ids: "²" once crashed int(), "١" (Arabic-Indic one)
    # once served clip 1; a 30-digit id is out of any clip's range.
    cases += [(p, "not a clip") for p in ("%C2%B2.mp4", "%D9%A1.mp4", "1%C2%B2.mp4", "9" * 30)]
    for path, text in cases:
        response = requests.get(f"{server}/playback/{path}", timeout=10)
        assert response.status_code == 404 and text in response.text
        assert "Traceback" not in response.text


def test_root_leads_to_the_review_page(server: str) -> None:
    response = requests.get(f"{server}/", allow_redirects=False, timeout=10)
    assert response.status_code in (301, 302) and response.headers["Location"].endswith("review")


def test_panel_serve_runs_the_same_dashboard(library: Library) -> None:
    app = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
    proc, base = start_server(
        library.env, ("-m", "panel", "serve", app, "--plugins", "dashboards.routes")
    )
    try:
        assert requests.get(f"{base}/healthz", timeout=10).json()["status"] == "ok"
        for page in ("review", "explore", "status"):
            response = requests.get(f"{base}/app?page={page}", timeout=30)
            assert response.status_code == 200 and "bokeh" in response.text.lower()
        clip_id = review_clip(library)["id"]
        assert requests.head(f"{base}/playback/{clip_id}.mp4", timeout=30).status_code == 200
    finally:
        stop_server(proc)
