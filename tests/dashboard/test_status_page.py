"""The status page in Chromium: counts, a failed clip retried, queue depths, job runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from mediaml.config import set_settings
from mediaml.db import set_db
from mediaml.db.clips import get_clip
from mediaml.db.transitions import seconds_from_now, transition
from mediaml.jobs import reset_connections, tasks
from tests.dashboard.conftest import Library, screenshot

pytestmark = pytest.mark.browser


def fail_embedded_clip(library: Library, order: str, **fields: Any) -> int:
    """Fail the first (``order``) embedded clip of one video on a (pretend) re-embedding."""
    with library.db.transaction() as conn:
        row = conn.execute(
            "SELECT id FROM clips WHERE video_id = %s AND state = 'embedded'"
            f" ORDER BY start_frame {order} LIMIT 1",
            (library.videos["explore_b"],),
        ).fetchone()
        clip_id = int(row["id"])
        transition(conn, "clips", clip_id, "embedding")
        transition(conn, "clips", clip_id, "embedding_failed", **fields)
    return clip_id


@pytest.fixture
def failed_clip(library: Library) -> int:
    """A clip that failed for good: it waits for a person."""
    return fail_embedded_clip(
        library, "DESC", last_error="model exploded: boom", error_kind="permanent"
    )


@pytest.fixture
def transient_clip(library: Library) -> int:
    """A clip that failed on a storage hiccup: retried automatically later."""
    return fail_embedded_clip(
        library,
        "ASC",
        last_error="ConnectionError: S3 went away",
        error_kind="transient",
        retry_count=2,
        next_retry_at=seconds_from_now(600),
    )


@pytest.fixture
def queued_and_ran(library: Library) -> None:
    """A message waiting on temp_clips and a dispatcher run, made by the real job code."""
    set_settings(library.settings)
    set_db(library.db)
    reset_connections()
    try:
        tasks.prefetch_temp_clips([1])
        tasks.record_run("dispatcher", {"queued": 3})
    finally:
        reset_connections()
        set_settings(None)
        set_db(None)


def test_status_page_lists_counts_failures_queues_and_runs(
    browser: Any,
    server: str,
    library: Library,
    failed_clip: int,
    transient_clip: int,
    queued_and_ran: None,
) -> None:
    context = browser.new_context(viewport={"width": 1300, "height": 1200})
    page = context.new_page()
    try:
        page.goto(f"{server}/status")
        expect(page.get_by_text("model exploded: boom")).to_be_visible(timeout=20000)
        expect(page.get_by_text("embedding_failed").first).to_be_visible()
        # Which failures retry by themselves, and when; which wait for a person.
        expect(page.locator(".tabulator-row", has_text="model exploded")).to_contain_text(
            "permanent"
        )
        transient = page.locator(".tabulator-row", has_text="S3 went away")
        expect(transient).to_contain_text("transient")
        with library.db.transaction() as conn:
            due = get_clip(conn, transient_clip)["next_retry_at"]
        expect(transient).to_contain_text(due.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M"))
        queue_row = page.locator(".tabulator-row", has_text="temp_clips")
        expect(queue_row).to_contain_text("1")
        expect(page.locator(".tabulator-row", has_text="dispatcher")).to_contain_text('"queued": 3')
        expect(page.locator(".tabulator-row", has_text="playback_cache_cleanup")).to_contain_text(
            "never"
        )
        screenshot(page, "status")
        page.locator(".tabulator-row", has_text="model exploded").locator(".mm-retry").click()
        expect(page.get_by_text(f"clip {failed_clip} → keyframed")).to_be_visible(timeout=10000)
        with library.db.transaction() as conn:
            assert get_clip(conn, failed_clip)["state"] == "keyframed"
        expect(page.get_by_text("model exploded: boom")).to_be_hidden()
    finally:
        context.close()


def test_only_the_status_page_carries_the_table_javascript(server: str) -> None:
    """Tabulator's JavaScript (550 KB to load and run) is in the page that has tables,
    not in every page of the server."""
    status = requests.get(f"{server}/status", timeout=60).text
    assert "tabulator.min.js" in status
    for name in ("explore", "review", "ingest"):
        assert "tabulator.min.js" not in requests.get(f"{server}/{name}", timeout=60).text, name
