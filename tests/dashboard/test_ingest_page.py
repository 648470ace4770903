"""The ingest page in Chromium, with a real worker process: a video page URL (fetched by
yt-dlp from a local HTTP server, slowly, so download progress shows), a failing URL that
is retried from the page, and an uploaded file all reach review.

It runs on its own database so the shared dashboard library keeps its clip counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.conftest import PgServer
from tests.dashboard.conftest import ROOT, screenshot, start_server, stop_server
from tests.support.media import Shot, make_multishot_video

pytestmark = pytest.mark.browser

PAGE_TITLE = "Lake Walk (4K)"
LIMIT = 3_000_000  # bytes: MEDIAML_MAX_DOWNLOAD_BYTES for this server


class SlowMedia:
    """Serves a video page, its video (in slow chunks) and, once ``late`` is set, a file
    that is missing at first."""

    def __init__(self, video: bytes, late: bytes) -> None:
        self.video, self.late_body, self.late_ready = video, late, False
        media = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/films/lake":
                    body = (
                        f"<html><head><title>{PAGE_TITLE}</title></head><body>"
                        '<video controls src="/files/lake.mp4"></video></body></html>'
                    ).encode()
                    return self._send(body, "text/html; charset=utf-8")
                if self.path == "/files/lake.mp4":
                    return self._send(media.video, "video/mp4", slow=True)
                if self.path == "/files/late.mp4" and media.late_ready:
                    return self._send(media.late_body, "video/mp4")
                self.send_error(404)

            def _send(self, body: bytes, ctype: str, slow: bool = False) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                step = max(1, len(body) // 16) if slow else len(body)
                for i in range(0, len(body), step):
                    self.wfile.write(body[i : i + step])
                    self.wfile.flush()
                    if slow:
                        time.sleep(0.25)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@dataclass
class Site:
    base: str
    media: SlowMedia
    upload: Path
    worker_log: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def site(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ingest")
    files = {}
    for name, shots in {
        "lake": ("testsrc2", "red", "smptebars"),
        "late": ("mandelbrot", "teal"),
        "upload": ("rgbtestsrc", "zoneplate", "red"),
    }.items():
        path = root / f"{name} clip.mp4"
        make_multishot_video(path, [Shot(s, 25) for s in shots], size=(320, 180))
        files[name] = path
    media = SlowMedia(files["lake"].read_bytes(), files["late"].read_bytes())
    name = pg_server.create_database()
    env = {
        "DATABASE_URL": pg_server.url(name),
        "MEDIAML_DATA_DIR": str(root / "data"),
        "MEDIAML_LOG_LEVEL": "INFO",
        "MEDIAML_MAX_DOWNLOAD_BYTES": str(LIMIT),
        "MEDIAML_DISPATCH_INTERVAL": "2",
    }
    proc, base = start_server(env)
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAML_")}
    worker_env.update(
        env,
        MEDIAML_QUEUES="default,media_processing,background_jobs,temp_clips,maintenance",
    )
    log = root / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "runners.worker"],
            cwd=ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Site(base, media, files["upload"], log, env)
    finally:
        worker.terminate()
        worker.wait(20)
        stop_server(proc)
        media.httpd.shutdown()
        pg_server.drop_database(name)


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    yield context.new_page()
    context.close()


def row(page: Page, video_id: int) -> Any:
    return page.locator(f".mm-video[data-video-id='{video_id}']")


def video_ids(page: Page) -> list[int]:
    return [
        int(x)
        for x in page.locator(".mm-video").evaluate_all("els => els.map(e => e.dataset.videoId)")
    ]


def test_urls_and_an_upload_reach_review(page: Page, site: Site) -> None:
    page.goto(f"{site.base}/ingest")
    expect(page.locator("nav a[data-page=ingest]")).to_have_class(re.compile("mm-current"))
    expect(page.locator(".mm-empty")).to_have_text(re.compile("No videos yet"))
    lake, late = f"{site.media.base}/films/lake", f"{site.media.base}/files/late.mp4"
    page.locator(".mm-url-input textarea").fill(f"{lake}\n{late}\n/etc/passwd")
    page.get_by_role("button", name="Add URLs").click()
    # Local paths are refused; the two URLs appear at once.
    expect(page.locator(".mm-ingest-message")).to_contain_text("Added 2 videos", timeout=10000)
    expect(page.locator(".mm-ingest-message")).to_contain_text("upload local files")
    expect(page.locator(".mm-video")).to_have_count(2, timeout=5000)
    late_id, lake_id = video_ids(page)

    # The page's video trickles in: its download progress is shown live.
    expect(row(page, lake_id).locator(".mm-video-stage")).to_have_text(
        re.compile(r"downloading [1-9]\d* %"), timeout=30000
    )
    expect(row(page, lake_id).locator("progress")).to_be_visible()
    screenshot(page, "ingest-progress")

    # The missing file fails with its reason and a retry button...
    failed = row(page, late_id)
    expect(failed.locator(".mm-video-error")).to_contain_text("HTTP 404", timeout=60000)
    expect(failed.locator(".mm-video-stage")).to_have_text("download failed")
    screenshot(page, "ingest-failed")
    site.media.late_ready = True
    failed.get_by_role("button", name="Retry").click()

    # ...and an upload streams in beside them.
    page.locator("input.mm-file-input").set_input_files(str(site.upload))
    expect(page.locator(".mm-upload-status")).to_have_text(
        re.compile(r"added as video \d+"), timeout=30000
    )
    expect(page.locator(".mm-video")).to_have_count(3, timeout=5000)
    upload_id = max(video_ids(page))

    for video_id in (lake_id, late_id, upload_id):
        expect(row(page, video_id)).to_have_attribute("data-state", "done", timeout=120000)
    expect(row(page, lake_id).locator(".mm-video-title")).to_have_text(
        f"#{lake_id} · {PAGE_TITLE}"  # the page's title from yt-dlp, not "lake"
    )
    expect(row(page, upload_id).locator(".mm-video-title")).to_have_text(
        f"#{upload_id} · upload clip"
    )
    expect(row(page, upload_id).locator(".mm-video-source")).to_have_text("uploaded file")
    expect(row(page, upload_id).locator(".mm-video-stage")).to_have_text(
        "ready · 3 clips to review"
    )
    screenshot(page, "ingest-done")

    # Review picks them up.
    row(page, lake_id).locator(".mm-review-link").click()
    expect(page).to_have_url(re.compile(r"/review\?clip=\d+"))
    expect(page.locator(".mm-fact[data-fact=clip]")).to_be_visible(timeout=20000)

    log = site.worker_log.read_text(errors="replace")
    assert f"download video {lake_id}: 100 %" in log
    steps = re.findall(rf"encode video {upload_id}: (\d+) %", log)
    assert steps and steps[-1] == "100" and all(int(s) % 10 == 0 for s in steps), steps


def test_uploads_are_held_to_the_download_limit(site: Site) -> None:
    url = f"{site.base}/upload"
    big = requests.put(f"{url}?name=big.mp4", data=b"\0" * (LIMIT + 1), timeout=30)
    assert big.status_code == 413 and "MEDIAML_MAX_DOWNLOAD_BYTES" in big.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the running total is checked
        for _ in range(LIMIT // 65536 + 2):
            yield b"\0" * 65536

    try:
        streamed = requests.put(f"{url}?name=big.mp4", data=chunks(), timeout=30)
        assert streamed.status_code == 413
    except requests.ConnectionError:
        pass  # the server may close the connection as soon as it answers
    text = requests.put(f"{url}?name=notes.txt", data=b"hello", timeout=30)
    assert text.status_code == 415 and "does not look like a video" in text.json()["error"]
    junk = requests.put(f"{url}?name=junk.mp4", data=b"not a video" * 100, timeout=30)
    # Named after the user's file, not the temporary one it was streamed to.
    assert junk.status_code == 400
    assert junk.json()["error"].startswith("junk.mp4 is not a readable media file")
    assert requests.post(f"{url}?name=a.mp4", data=b"x", timeout=30).status_code == 405
    leftovers = list((Path(site.worker_log).parent / "data" / "cache" / "uploads").glob("*"))
    assert leftovers == []


def test_upload_and_reel_routes_need_the_login(site: Site) -> None:
    proc, base = start_server({**site.env, "MEDIAML_AUTH_USERS": "ana:secret-pass"})
    try:
        upload = requests.put(f"{base}/upload?name=a.mp4", data=b"x" * 10, timeout=30)
        assert upload.status_code == 401
        reel = requests.get(f"{base}/reels/reel-{'0' * 32}.mp4", timeout=30)
        assert reel.status_code == 401
        assert not list((Path(site.env["MEDIAML_DATA_DIR"]) / "cache" / "uploads").glob("*"))
    finally:
        stop_server(proc)
