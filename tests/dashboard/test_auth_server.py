"""Logins: without one nothing is served but up/down; with one the login name is the
reviewer; production refuses to start without logins."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from mediaml import review
from tests.dashboard.browser import shown_clip, wait_for_other_clip
from tests.dashboard.conftest import Library, screenshot, start_server, stop_server
from tests.dashboard.test_auth import PRODUCTION

USERS = "rita:rita-secret-1,sam:sam-secret-2"


@pytest.fixture(scope="module")
def auth_server(library: Library) -> Iterator[str]:
    proc, base = start_server(
        {**library.env, "MEDIAML_AUTH_USERS": USERS, "SECRET_KEY_BASE": "k" * 48}
    )
    yield base
    stop_server(proc)
    review.release("rita", db=library.db)


def a_clip(library: Library) -> tuple[int, str]:
    with library.db.transaction() as conn:
        row = conn.execute(
            "SELECT c.id, v.proxy_key FROM clips c JOIN source_videos v ON v.id = c.video_id"
            " WHERE c.video_id = %s ORDER BY c.id LIMIT 1",
            (library.videos["review"],),
        ).fetchone()
    return int(row["id"]), row["proxy_key"]


def test_without_a_login_only_up_or_down_is_told(auth_server: str, library: Library) -> None:
    health = requests.get(f"{auth_server}/healthz", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    clip_id, proxy_key = a_clip(library)
    for path in (f"/media/{proxy_key}", f"/playback/{clip_id}.mp4"):
        response = requests.get(auth_server + path, timeout=10)
        assert response.status_code == 401, path
        assert len(response.content) < 100
    for page in ("/review", "/explore", "/status"):
        response = requests.get(auth_server + page, allow_redirects=False, timeout=10)
        assert response.status_code == 302 and "/login" in response.headers["Location"], page


def test_login_makes_the_user_the_reviewer(
    browser: Any, auth_server: str, library: Library
) -> None:
    context = browser.new_context()
    page = context.new_page()
    foreign: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if "127.0.0.1" not in r.url else None)
    try:
        page.goto(f"{auth_server}/review")
        page.fill("input[name=username]", "rita")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        expect(page.locator("#error-message")).to_contain_text("Invalid")
        screenshot(page, "login")
        page.fill("input[name=username]", "rita")
        page.fill("input[name=password]", "rita-secret-1")
        page.click("button[type=submit]")
        shown = shown_clip(page)
        expect(page.locator(".mm-user")).to_contain_text("rita")
        expect(page.locator("input").first).to_be_disabled()
        page.keyboard.press("a")
        wait_for_other_clip(page, shown)
        with library.db.transaction() as conn:
            actor = conn.execute(
                "SELECT actor FROM review_actions WHERE clip_id = %s", (shown,)
            ).fetchone()
        assert actor == {"actor": "rita"}
        detail = page.evaluate("async () => (await fetch('/healthz')).json()")
        assert detail["checks"]["database"] == "ok"
        assert foreign == [] or all(u.startswith(("data:", "blob:")) for u in foreign)
    finally:
        context.close()


@pytest.mark.parametrize(
    ("command", "status"),
    [(["-m", "mediaml", "serve", "--port", "5999"], 1), (["-m", "runners.web"], 2)],
    ids=["mediaml-serve", "runners-web"],
)
def test_production_refuses_to_start_without_logins(tmp_path, command, status) -> None:
    env = {**os.environ, **PRODUCTION, "MEDIAML_DATA_DIR": str(tmp_path), "PORT": "5998"}
    env.pop("MEDIAML_AUTH_USERS", None)
    result = subprocess.run(
        [sys.executable, *command], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == status
    assert "MEDIAML_AUTH_USERS" in result.stderr and "Traceback" not in result.stderr


def test_a_tampered_reviewer_field_does_not_change_who_acts(
    browser: Any, auth_server: str, library: Library
) -> None:
    """The reviewer field is disabled only in the browser: a script there can still set
    its value. Actions must be recorded under the login, whatever it says."""
    with library.db.transaction() as conn:
        before = conn.execute("SELECT coalesce(max(id), 0) AS id FROM review_actions").fetchone()
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{auth_server}/review")
        page.fill("input[name=username]", "sam")
        page.fill("input[name=password]", "sam-secret-2")
        page.click("button[type=submit]")
        shown_clip(page)
        tampered = page.evaluate(
            """() => {
                for (const doc of Bokeh.documents)
                    for (const model of doc.all_models)
                        if (model.title === 'Reviewer') { model.value = 'rita'; return true; }
                return false;
            }"""
        )
        assert tampered, "the reviewer field was not found in the page's models"
        page.wait_for_timeout(1500)  # the change reaches the server before the key press
        screenshot(page, "review-tampered-reviewer")
        page.keyboard.press("a")
        deadline = time.monotonic() + 20
        rows: list[dict[str, Any]] = []
        while not rows and time.monotonic() < deadline:
            time.sleep(0.2)
            with library.db.transaction() as conn:
                rows = conn.execute(
                    "SELECT actor, action FROM review_actions WHERE id > %s", (before["id"],)
                ).fetchall()
        assert rows, "pressing A recorded nothing"
        assert {r["actor"] for r in rows} == {"sam"}, rows
    finally:
        context.close()
        review.release("sam", db=library.db)
