"""Every route of the dashboard × logged in / logged out / wrong user / forged cookie,
against both servers that can run it: ``mediaml serve`` and ``panel serve dashboards/app.py
--plugins dashboards.routes``. Both enforce the same login, and back off failed logins."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from tornado.web import create_signed_value

from tests.dashboard.conftest import Library, start_server, stop_server

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
COMMANDS = {
    "mediaml-serve": ("-m", "mediaml", "serve"),
    "panel-serve": ("-m", "panel", "serve", APP, "--plugins", "dashboards.routes"),
}
USERS = "rita:rita-secret-1,sam:sam-secret-2"
SECRET = "route-table-secret-" + "k" * 32
PAGES = ("review", "explore", "status")
IDENTITIES = ("logged-in", "logged-out", "wrong-user", "forged-cookie")


def auth_env(library: Library, **extra: str) -> dict[str, str]:
    return {**library.env, "MEDIAML_AUTH_USERS": USERS, "SECRET_KEY_BASE": SECRET, **extra}


@pytest.fixture(scope="module", params=list(COMMANDS))
def served(request: pytest.FixtureRequest, library: Library) -> Iterator[tuple[str, str]]:
    proc, base = start_server(auth_env(library), COMMANDS[request.param])
    yield request.param, base
    stop_server(proc)


def page_path(server: str, page: str) -> str:
    return f"/{page}" if server == "mediaml-serve" else f"/app?page={page}"


def a_clip(library: Library) -> tuple[int, str]:
    with library.db.transaction() as conn:
        row = conn.execute(
            "SELECT c.id, v.proxy_key FROM clips c JOIN source_videos v ON v.id = c.video_id"
            " WHERE c.video_id = %s ORDER BY c.id LIMIT 1",
            (library.videos["review"],),
        ).fetchone()
    return int(row["id"]), str(row["proxy_key"])


def client(base: str, identity: str) -> requests.Session:
    session = requests.Session()
    host = base.split("//")[1].split(":")[0]
    if identity == "logged-in":
        response = session.post(
            f"{base}/login",
            data={"username": "rita", "password": "rita-secret-1"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text
        assert session.cookies.get("user"), "login set no session cookie"
    elif identity == "wrong-user":  # correctly signed, but not a user (e.g. removed)
        value = create_signed_value(SECRET, "user", "mallory").decode()
        session.cookies.set("user", value, domain=host)
    elif identity == "forged-cookie":
        session.cookies.set("user", "rita", domain=host)
    return session


ROUTES = [
    *((f"page-{p}", "page", p) for p in PAGES),
    ("media", "media", ""),
    ("playback", "playback", ""),
    ("upload", "upload", ""),
    ("reel", "reel", ""),
    ("healthz", "healthz", ""),
    ("login", "login", ""),
    ("logout", "logout", ""),
]


def render(browser: Any, url: str, session: requests.Session) -> str:
    """Open ``url`` in Chromium with ``session``'s cookies; say what the page shows."""
    context = browser.new_context()
    context.add_cookies(
        [{"name": c.name, "value": c.value or "", "url": url} for c in session.cookies]
    )
    page = context.new_page()
    try:
        page.goto(url)
        shown = page.locator(".mm-nav, .mm-login-required, input[name=password]").first
        shown.wait_for(timeout=30000)
        if page.locator("input[name=password]").count():
            return "login form"
        if page.locator(".mm-login-required").count():
            return "login required"
        return "page"
    finally:
        context.close()


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize(("route", "kind", "arg"), ROUTES, ids=[r[0] for r in ROUTES])
def test_route_table(
    request: pytest.FixtureRequest,
    served: tuple[str, str],
    library: Library,
    route: str,
    kind: str,
    arg: str,
    identity: str,
) -> None:
    server, base = served
    session = client(base, identity)
    clip_id, proxy_key = a_clip(library)
    path = {
        "page": page_path(server, arg),
        "media": f"/media/{proxy_key}",
        "playback": f"/playback/{clip_id}.mp4",
        "upload": "/upload?name=notes.txt",
        "reel": "/reels/reel-" + "0" * 32 + ".mp4",
        "healthz": "/healthz",
        "login": "/login",
        "logout": "/logout",
    }[kind]
    if kind == "upload":
        response = session.put(base + path, data=b"not a video", timeout=60)
    else:
        response = session.get(base + path, allow_redirects=False, timeout=60)
    status, body = response.status_code, response.text
    logged_in = identity == "logged-in"
    if kind == "page":
        if server == "mediaml-serve":  # Bokeh sends the browser to the login page
            assert (
                (status == 200)
                if logged_in
                else (status == 302 and "/login" in response.headers["Location"])
            )
        else:  # the app gates itself; its document arrives over the websocket
            shown = render(request.getfixturevalue("browser"), base + path, session)
            assert shown == ("page" if logged_in else "login required")
    elif kind in ("media", "playback"):
        if logged_in:
            assert status == 200 and len(response.content) > 1000
        else:
            assert status == 401 and len(response.content) < 100
    elif kind in ("upload", "reel"):  # past the login, the request itself is refused
        assert status == ((415 if kind == "upload" else 404) if logged_in else 401), body
    elif kind == "healthz":
        assert status == 200
        if logged_in:
            detail = response.json()
            assert detail["checks"]["database"] == "ok"
            assert "MB of" in detail["details"]["object_cache"]
        else:
            assert response.json() == {"status": "ok"}
    elif kind == "login":
        assert status == 200 and 'name="password"' in body
    else:
        assert status == 200
        assert not response.cookies.get("user")  # logging out clears the session


@pytest.mark.parametrize("server", list(COMMANDS))
def test_failed_logins_lock_out(library: Library, server: str) -> None:
    env = auth_env(library, MEDIAML_LOGIN_FREE_ATTEMPTS="2", MEDIAML_LOGIN_LOCKOUT_SECONDS="60")
    proc, base = start_server(env, COMMANDS[server])
    try:

        def attempt(user: str, password: str) -> requests.Response:
            return requests.post(
                f"{base}/login",
                data={"username": user, "password": password},
                allow_redirects=False,
                timeout=10,
            )

        for _ in range(2):
            wrong = attempt("rita", "guess")
            assert wrong.status_code == 302 and "error=" in wrong.headers["Location"]
        locked = attempt("rita", "guess")
        assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 60
        assert "Too many failed logins" in locked.text
        # Locked means locked: the right password does not get in either, nor does
        # another user from the same address.
        assert attempt("rita", "rita-secret-1").status_code == 429
        assert attempt("sam", "sam-secret-2").status_code == 429
    finally:
        stop_server(proc)


def test_a_login_posted_from_another_site_is_refused(served: tuple[str, str]) -> None:
    """Login CSRF: a page elsewhere posting its own user's password to /login would log
    this browser in as that user. Browsers mark such a request Sec-Fetch-Site:
    cross-site; the dashboard's own form is same-origin."""
    _server, base = served

    def login(site: str) -> requests.Response:
        return requests.post(
            f"{base}/login",
            data={"username": "rita", "password": "rita-secret-1"},
            headers={"Sec-Fetch-Site": site, "Origin": "https://elsewhere.example"},
            allow_redirects=False,
            timeout=10,
        )

    refused = login("cross-site")
    assert refused.status_code == 403 and not refused.cookies.get("user")
    assert "log in from this site's own login page" in refused.text
    own = login("same-origin")
    assert own.status_code == 302 and own.cookies.get("user")


def test_panel_serve_with_its_own_login_refuses_to_start(library: Library) -> None:
    env = {**os.environ, **auth_env(library)}
    result = subprocess.run(
        [sys.executable, *COMMANDS["panel-serve"], "--basic-auth", "pw", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "mediaml:" in line]
    assert len(lines) == 1 and "MEDIAML_AUTH_USERS" in lines[0]
    assert "Traceback" not in result.stderr


def test_panel_serve_without_the_plugin_shows_nothing_but_how_to_log_in(
    library: Library, browser: Any
) -> None:
    proc, base = start_server(auth_env(library), ("-m", "panel", "serve", APP), ready="/app")
    try:
        # The document arrives over the websocket: look at what Chromium shows.
        assert render(browser, f"{base}/app?page=review", requests.Session()) == "login required"
        page = browser.new_page()
        try:
            page.goto(f"{base}/app?page=review")
            note = page.locator(".mm-login-required")
            note.wait_for(timeout=30000)
            assert "--plugins dashboards.routes" in note.inner_text()
            assert page.locator(".mm-nav").count() == 0
        finally:
            page.close()
    finally:
        stop_server(proc)
