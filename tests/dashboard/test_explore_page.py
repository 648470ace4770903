"""The explore page in Chromium: similar grid with percentages, filters, pages, sort,
click-to-main, text search with the tiny CLIP model, the map with box selection."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboards.pages.explore import VIDEO_CHOICES
from mediaml.db.artifacts import list_artifacts
from mediaml.embed import embed_clip
from tests.dashboard.browser import drag_across_map, selected_count
from tests.dashboard.conftest import Library, screenshot

pytestmark = pytest.mark.browser

DESCRIPTOR = "mediaml-descriptor-v1"


@pytest.fixture(scope="module")
def descriptor_vectors(library: Library) -> None:
    """The second video's clips embedded with a model that has no text tower as well."""
    with library.db.transaction() as conn:
        clips = conn.execute(
            "SELECT id FROM clips WHERE video_id = %s AND state = 'embedded'",
            (library.videos["explore_b"],),
        ).fetchall()
        for row in clips:
            paths = [library.store.local_path(a["key"]) for a in list_artifacts(conn, row["id"])]
            embed_clip(conn, row["id"], paths, model=DESCRIPTOR, strategy="keyframe_multi_avg")


def videos_of(library: Library, clip_ids: list[int]) -> set[int]:
    with library.db.transaction() as conn:
        rows = conn.execute("SELECT video_id FROM clips WHERE id = ANY(%s)", (clip_ids,)).fetchall()
    return {int(r["video_id"]) for r in rows}


def first_clip(library: Library, video: str) -> int:
    with library.db.transaction() as conn:
        row = conn.execute(
            "SELECT id FROM clips WHERE video_id = %s AND state = 'embedded'"
            " ORDER BY start_frame LIMIT 1",
            (library.videos[video],),
        ).fetchone()
    return int(row["id"])


def cards(page: Page) -> list[int]:
    grid = page.locator(".mm-card")
    expect(grid.first).to_be_visible(timeout=20000)
    return [int(x) for x in grid.evaluate_all("els => els.map(e => e.dataset.clipId)")]


def settle(page: Page, read: Any, ok: Any, timeout: float = 15.0) -> Any:
    """Read the page with ``read`` until ``ok(value)``: the heading, the page label and
    the grid arrive in separate websocket messages."""
    deadline = time.monotonic() + timeout
    while True:
        value = read(page)
        if ok(value) or time.monotonic() > deadline:
            return value
        page.wait_for_timeout(100)


def scores(page: Page) -> list[float]:
    texts = page.locator(".mm-card .mm-score").all_inner_texts()
    assert texts and all(re.fullmatch(r"\d+\.\d%", t) for t in texts), texts
    return [float(t[:-1]) for t in texts]


def choose(page: Page, label: str, prefix: str) -> None:
    """Pick the option starting with ``prefix`` in the Panel select labelled ``label``."""
    select = page.locator(".bk-input-group", has_text=label).locator("select")
    options = select.locator("option").all_inner_texts()
    select.select_option(label=next(o for o in options if o.startswith(prefix)))


def test_similar_grid_filters_pages_sort_and_click(
    page: Page, server: str, library: Library
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    main = first_clip(library, "explore")
    page.goto(f"{server}/explore?clip={main}")
    expect(page.locator(f".mm-main-clip[data-clip-id='{main}']")).to_be_visible(timeout=20000)
    first_page = cards(page)
    assert len(first_page) == 12 and main not in first_page
    percent = scores(page)
    assert percent == sorted(percent, reverse=True)
    screenshot(page, "explore")

    page.get_by_role("button", name="Next ›").click()
    expect(page.locator(".mm-page-label")).to_contain_text("page 2 · 13–24")
    second_page = settle(page, cards, lambda ids: ids != first_page)
    assert len(second_page) == 12 and not set(first_page) & set(second_page), (
        first_page,
        second_page,
    )

    # The chooser lists the videos matching what is typed (a page of them at most).
    select = page.locator(".bk-input-group", has_text="Source video").locator("select")
    everything = select.locator("option").all_inner_texts()
    assert 1 + 3 <= len(everything) <= 1 + VIDEO_CHOICES, everything  # "All videos" first
    with library.db.transaction() as conn:
        title = conn.execute(
            "SELECT title FROM source_videos WHERE id = %s", (library.videos["explore_b"],)
        ).fetchone()["title"]
    page.get_by_placeholder("part of a title, or an id").fill(title.upper())
    expect(select.locator("option")).to_have_count(2)
    expect(page.locator(".mm-video-note")).to_contain_text(f"1 video matching “{title.upper()}”")
    choose(page, "Source video", f"{library.videos['explore_b']} · ")
    b_only = {library.videos["explore_b"]}
    filtered = settle(page, cards, lambda ids: videos_of(library, ids) == b_only)
    assert videos_of(library, filtered) == b_only and len(filtered) == 12

    page.get_by_role("button", name="Least similar").click()
    expect(page.locator(".mm-main-clip h3")).to_contain_text("Least similar")
    least = settle(page, scores, lambda p: p == sorted(p) and p[0] < p[-1])
    assert least == sorted(least) and least[0] <= percent[-1]

    target = cards(page)[3]
    page.locator(f".mm-card[data-clip-id='{target}']").click()
    expect(page.locator(f".mm-main-clip[data-clip-id='{target}']")).to_be_visible()
    assert target not in settle(page, cards, lambda ids: target not in ids)
    foreign = [u for u in requests if not u.startswith((server, "data:", "blob:"))]
    assert foreign == []


def test_text_search_with_the_clip_text_tower(page: Page, server: str, library: Library) -> None:
    page.goto(f"{server}/explore")
    box = page.get_by_placeholder("e.g. a red car")
    expect(box).to_be_enabled(timeout=20000)
    box.fill("a red screen")
    box.press("Enter")
    expect(page.locator(".mm-main-clip, .mm-main h3").first).to_contain_text("a red screen")
    found = cards(page)
    assert len(found) == 12
    scores(page)


def test_text_search_is_explained_away_for_models_without_text(
    page: Page, server: str, library: Library, descriptor_vectors: None
) -> None:
    page.goto(f"{server}/explore?model={DESCRIPTOR}")
    expect(page.locator(".mm-text-note")).to_contain_text("text tower", timeout=20000)
    expect(page.get_by_placeholder("e.g. a red car")).to_be_disabled()
    assert videos_of(library, cards(page)) == {library.videos["explore_b"]}


# Where the map's first point is on screen, and its clip and thumbnail (from Bokeh's views).
FIRST_POINT = """() => {
  function* walk(v) { yield v; if (v.children) for (const c of v.children()) yield* walk(c); }
  const source = Bokeh.documents[0].get_model_by_name('mm-map');
  if (!source || source.data.x.length === 0) return null;  // the map is still loading
  for (const root of Object.values(Bokeh.index)) {
    for (const v of walk(root)) {
      if (v.model && v.model.type === 'Figure') {
        const r = v.canvas_view.el.getBoundingClientRect();
        return [r.left + v.frame.x_scale.compute(source.data.x[0]),
                r.top + v.frame.y_scale.compute(source.data.y[0]),
                source.data.clip_id[0]];
      }
    }
  }
  return null;
}"""


def test_map_hover_and_box_selection(page: Page, server: str, library: Library) -> None:
    page.goto(f"{server}/explore?clip={first_clip(library, 'explore')}")
    cards(page)  # the grid above the map is drawn: nothing moves the map any more
    canvas = page.locator(".bk-Canvas").last
    expect(canvas).to_be_visible(timeout=20000)
    canvas.scroll_into_view_if_needed()
    x, y, clip_id = settle(page, lambda p: p.evaluate(FIRST_POINT), lambda v: v is not None)
    page.mouse.move(x, y)
    tip = page.locator(".bk-Tooltip img").first
    expect(tip).to_be_visible(timeout=10000)
    assert "/media/artifacts/keyframes/" in (tip.get_attribute("src") or "")
    assert tip.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator(".bk-Tooltip").first).to_contain_text(f"#{clip_id}")
    # Box select is the active drag tool (lasso is one click away in the toolbar).
    drag_across_map(page)
    count = selected_count(page, timeout=10000)
    assert count >= 20
    scores(page)  # only the similar clips carry a score: no empty badge on the selection's
    screenshot(page, "explore-map-selection")
    picked = page.locator(".mm-card").last
    clip_id = picked.get_attribute("data-clip-id")
    picked.click()
    expect(page.locator(f".mm-main-clip[data-clip-id='{clip_id}']")).to_be_visible()


def test_malformed_query_is_reported(page: Page, server: str) -> None:
    page.goto(f"{server}/explore?clip=abc&p=0&order=up&video=999999&model=nope")
    notes = page.locator(".mm-notes")
    expect(notes).to_contain_text("ignored ?clip=abc", timeout=20000)
    for part in ("?p=0", "?order=up", "?video=999999", "?model=nope"):
        expect(notes).to_contain_text(part)
    cards(page)
