"""Hover-to-play previews on the explore page's result cards, in Chromium: the clip's
exported file plays muted over the thumbnail (time really advances), fetched with Range
requests, and stops when the pointer leaves. Also the navigation's pending count there."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from mediaml import review
from tests.dashboard.browser import wait_deep
from tests.dashboard.conftest import Library, screenshot

pytestmark = pytest.mark.browser


def embedded_clip(library: Library) -> int:
    with library.db.transaction() as conn:
        row = conn.execute(
            "SELECT id FROM clips WHERE video_id = %s AND state = 'embedded'"
            " ORDER BY start_frame LIMIT 1",
            (library.videos["explore"],),
        ).fetchone()
    return int(row["id"])


def clip_key(library: Library, clip_id: int) -> str:
    with library.db.transaction() as conn:
        row = conn.execute("SELECT clip_key FROM clips WHERE id = %s", (clip_id,)).fetchone()
    return str(row["clip_key"])


def test_hovering_a_card_plays_its_clip(page: Page, server: str, library: Library) -> None:
    ranges: dict[str, str | None] = {}
    page.on(
        "request",
        lambda r: (
            ranges.setdefault(r.url, r.headers.get("range")) if r.resource_type == "media" else None
        ),
    )
    page.goto(f"{server}/explore?clip={embedded_clip(library)}")
    cards = page.locator(".mm-grid .mm-card")
    expect(cards.first).to_be_visible(timeout=30000)
    expect(page.locator(".mm-nav .mm-count")).to_have_attribute(
        "data-pending", str(review.pending_count(db=library.db)), timeout=20000
    )
    card = cards.nth(1)
    clip_id = int(card.get_attribute("data-clip-id") or 0)
    page.evaluate(
        "() => { window.__preview = new Promise(r => window.addEventListener("
        "'mediaml:preview-playing', e => r(e.detail), {once: true})); }"
    )
    card.hover()
    detail = page.evaluate("() => window.__preview")
    assert detail["clip_id"] == clip_id
    selector = f".mm-card[data-clip-id='{clip_id}'] video.mm-preview"
    # It really plays: time advances, muted, and the source is the exported clip file.
    wait_deep(page, selector, "v => !v.paused && v.currentTime > 0.3 && v.muted")
    src = page.locator(selector).get_attribute("src") or ""
    assert src.endswith(clip_key(library, clip_id))
    assert any(clip_key(library, clip_id) in url and r for url, r in ranges.items()), ranges
    expect(card).to_have_class("mm-card mm-playing")
    screenshot(page, "explore-hover-preview")
    # Moving to another card switches the preview; leaving the grid stops it.
    other = cards.nth(2)
    other.hover()
    expect(page.locator(selector)).to_have_count(0)
    expect(other.locator("video.mm-preview")).to_have_count(1)
    page.mouse.move(2, 2)
    expect(page.locator("video.mm-preview")).to_have_count(0)
