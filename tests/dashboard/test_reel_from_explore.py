"""A reel made from the explore page: the result page's clips joined with crossfades,
downloaded through its link, and its frames counted by FFmpeg."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import SCREENSHOTS, Library, screenshot
from tests.test_reels import decoded

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    yield context.new_page()
    context.close()


def test_make_reel_from_the_result_page(page: Page, server: str, library: Library) -> None:
    page.goto(f"{server}/explore")
    cards = page.locator(".mm-card")
    expect(cards.first).to_be_visible(timeout=20000)
    ids = [int(x) for x in cards.evaluate_all("els => els.map(e => e.dataset.clipId)")]
    with library.db.transaction() as conn:
        rows = conn.execute(
            "SELECT id, end_frame - start_frame AS n FROM clips WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    frames = {int(r["id"]): int(r["n"]) for r in rows}

    field = page.get_by_label("Crossfade (s)")
    field.fill("0.2")
    field.press("Enter")
    page.get_by_role("button", name="Make reel").click()
    link = page.locator("a.mm-reel-link")
    expect(link).to_be_visible(timeout=120000)
    expect(page.locator(".mm-reel-status")).to_contain_text(f"Reel of {len(ids)} clip(s) ready")
    screenshot(page, "explore-reel")

    with page.expect_download() as info:
        link.click()
    out = SCREENSHOTS.parent / "explore-reel.mp4"
    info.value.save_as(out)
    count, audio = decoded(out)
    assert count == sum(frames[i] for i in ids) - 5 * (len(ids) - 1)  # 0.2 s = 5 frames
    assert audio
