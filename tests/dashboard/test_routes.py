"""The HTTP routes beside the pages: health, media and temp clips with Range support."""

from __future__ import annotations

from pathlib import Path

import requests

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
