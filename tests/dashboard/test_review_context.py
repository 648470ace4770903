"""The review page's context and keyboard in Chromium: deep links, Ctrl/⌘-Z, arrow-key
split with acceleration, the neighbour strip and timeline after a merge and a split,
moving a cut on the timeline, the pending count in the navigation, and keyboard help.
Every result is checked against the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mediaml import review
from mediaml.db.clips import get_clip, list_clips, list_cuts
from tests.dashboard.browser import buttons_ready, deep, shown_clip, wait_deep, wait_for_other_clip
from tests.dashboard.conftest import Library, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    yield context.new_page()
    context.close()


def live(library: Library) -> list[dict[str, Any]]:
    with library.db.transaction() as conn:
        return list_clips(conn, video_id=library.videos["review"])


def cuts(library: Library) -> list[int]:
    with library.db.transaction() as conn:
        return [c["frame"] for c in list_cuts(conn, library.videos["review"])]


def row(library: Library, clip_id: int) -> dict[str, Any]:
    with library.db.transaction() as conn:
        return get_clip(conn, clip_id)


def free_run(library: Library, length: int = 3) -> list[dict[str, Any]]:
    """``length`` neighbouring clips of the review video, all pending and unclaimed
    (taken from the end of the video, away from the other tests' clips)."""
    clips = live(library)
    for i in range(len(clips) - length, -1, -1):
        run = clips[i : i + length]
        if all(c["state"] == "pending_review" and c["lease_owner"] is None for c in run):
            return run
    pytest.fail("the test library has no free run of pending clips left")


def open_clip(page: Page, base: str, reviewer: str, clip_id: int) -> None:
    page.goto(f"{base}/review?reviewer={reviewer}&clip={clip_id}")
    assert shown_clip(page) == clip_id


def strip_ids(page: Page) -> tuple[str | None, str | None]:
    prev = page.locator(".mm-neighbour[data-which=previous]")
    nxt = page.locator(".mm-neighbour[data-which=next]")
    return prev.get_attribute("data-clip-id"), nxt.get_attribute("data-clip-id")


def expect_context(page: Page, library: Library, clip_id: int) -> None:
    """The strip shows the clip's live neighbours and the timeline every cut (from the DB)."""
    clips = live(library)
    index = next(i for i, c in enumerate(clips) if c["id"] == clip_id)
    prev = str(clips[index - 1]["id"]) if index > 0 else None
    nxt = str(clips[index + 1]["id"]) if index + 1 < len(clips) else None
    for which, wanted in (("previous", prev), ("next", nxt)):
        card = page.locator(f".mm-neighbour[data-which={which}]")
        if wanted:
            expect(card).to_have_attribute("data-clip-id", wanted)
        else:
            expect(card).to_have_class("mm-neighbour mm-none")
    assert strip_ids(page) == (prev, nxt)
    whole = page.locator(".mm-timeline[data-zoom=video]")
    expect(whole).to_have_attribute("data-cuts", ",".join(map(str, cuts(library))))
    expect(page.locator(".mm-timeline[data-zoom=video] .mm-seg.mm-current")).to_have_attribute(
        "data-clip-id", str(clip_id)
    )


# ------------------------------------------------------------------------ deep links


def test_deep_link_opens_that_clip_and_the_address_follows(
    page: Page, server: str, library: Library, reviewers
) -> None:
    target = free_run(library, 1)[0]["id"]
    open_clip(page, server, reviewers("dl-ann"), target)
    assert f"clip={target}" in page.url
    page.keyboard.press("a")
    nxt = wait_for_other_clip(page, target)
    page.wait_for_function("id => location.search.includes('clip=' + id)", arg=nxt)
    # The approved clip can no longer be reviewed: the link says why and shows another.
    page.goto(f"{server}/review?reviewer=dl-ann&clip={target}")
    assert shown_clip(page) != target
    expect(page.locator(".mm-message")).to_contain_text(
        f"Clip {target} cannot be reviewed: it is review approved", timeout=20000
    )
    page.goto(f"{server}/review?reviewer=dl-ann&clip=999999")
    shown_clip(page)
    expect(page.locator(".mm-message")).to_contain_text("it does not exist", timeout=20000)


# ----------------------------------------------------------------------------- keys


@pytest.mark.parametrize("modifier", ["Control", "Meta"])
def test_ctrl_or_cmd_z_undoes(
    page: Page, server: str, library: Library, reviewers, modifier: str
) -> None:
    name = reviewers(f"cz-{modifier.lower()}")
    first = free_run(library, 1)[0]["id"]
    open_clip(page, server, name, first)
    page.keyboard.press("x")
    wait_for_other_clip(page, first)
    buttons_ready(page)
    assert row(library, first)["state"] == "review_archived"
    page.keyboard.press(f"{modifier}+z")
    expect(page.locator(".mm-fact[data-fact=clip]")).to_have_text(f"clip {first}", timeout=15000)
    assert row(library, first)["state"] == "pending_review"
    history = review.history(reviewer=name, db=library.db)
    assert list(history["action"]) == ["undo", "archive"]


def test_arrows_enter_split_mode_and_accelerate(
    page: Page, server: str, library: Library, reviewers
) -> None:
    name = reviewers("ar-bo")
    target = free_run(library, 1)[0]
    open_clip(page, server, name, target["id"])
    wait_deep(page, "video.mm-video", "v => v.readyState >= 2")
    deep(page, "video.mm-video", "v => { v.pause(); v.currentTime = 0; }")
    bar = page.locator(".mm-split")
    start = target["start_frame"]
    # No C first: the arrow enters split mode at the current frame and steps one frame.
    page.keyboard.press("ArrowRight")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("data-frame", str(start + 2))  # entered at 1, stepped 1
    # Held down (auto-repeat): each repeat steps further, 2, 4, 8, 16 frames.
    page.wait_for_timeout(400)
    for _ in range(5):
        page.keyboard.down("ArrowRight")
    page.keyboard.up("ArrowRight")
    expect(bar).to_have_attribute("data-frame", str(start + 2 + 1 + 2 + 4 + 8 + 16))
    assert bar.get_attribute("data-step") == "16"
    # After a pause, or in the other direction, it is one frame again.
    page.wait_for_timeout(400)
    page.keyboard.press("ArrowLeft")
    expected = start + 32
    expect(bar).to_have_attribute("data-frame", str(expected))
    assert bar.get_attribute("data-step") == "1"
    # Quickly repeated presses accelerate too.
    page.wait_for_timeout(400)
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    expected -= 1 + 2 + 4
    expect(bar).to_have_attribute("data-frame", str(expected))
    # The timeline shows the provisional cut, the previews what the split makes.
    expect(page.locator(".mm-timeline[data-zoom=near] .mm-cut-new")).to_have_attribute(
        "data-frame", str(expected)
    )
    expect(page.locator(".mm-previews li[data-action=split]")).to_contain_text(
        f"Split at frame {expected}"
    )
    screenshot(page, "review-arrow-split")
    page.keyboard.press("Enter")
    wait_for_other_clip(page, target["id"])
    assert expected in cuts(library)
    (record,) = review.history(reviewer=name, db=library.db).itertuples()
    assert record.action == "split" and record.after["cut"] == expected


# ------------------------------------------------------------------- context strip


def test_strip_and_timeline_follow_a_merge_and_a_split(
    page: Page, server: str, library: Library, reviewers
) -> None:
    name = reviewers("cx-cy")
    run = free_run(library, 3)
    middle = run[1]["id"]
    open_clip(page, server, name, middle)
    expect_context(page, library, middle)
    assert strip_ids(page) == (str(run[0]["id"]), str(run[2]["id"]))
    merge = page.locator(".mm-previews li[data-action=merge]")
    expect(merge).to_contain_text(f"frames {run[0]['start_frame']}–{run[1]['end_frame'] - 1}")
    # Click the previous clip's card: it plays in place.
    page.locator(".mm-neighbour[data-which=previous] video").click()
    wait_deep(
        page,
        ".mm-neighbour[data-which=previous] video",
        "v => !v.paused && v.currentTime > 0.2",
    )
    screenshot(page, "review-context")

    page.keyboard.press("m")
    merged = wait_for_other_clip(page, middle)
    merged_row = row(library, merged)
    assert (merged_row["start_frame"], merged_row["end_frame"]) == (
        run[0]["start_frame"],
        run[1]["end_frame"],
    )
    buttons_ready(page)
    expect_context(page, library, merged)
    assert strip_ids(page)[1] == str(run[2]["id"])
    assert run[1]["start_frame"] not in cuts(library)

    # Split the merged clip again with the arrows: the first half is shown, the second
    # half is its next neighbour on the strip and the timeline has the new cut.
    wait_deep(page, "video.mm-video", "v => v.readyState >= 2")
    deep(page, "video.mm-video", "v => { v.pause(); v.currentTime = 0; }")
    page.keyboard.press("ArrowRight")
    frame = int(page.locator(".mm-split").get_attribute("data-frame") or 0)
    page.keyboard.press("Enter")
    half = wait_for_other_clip(page, merged)
    buttons_ready(page)
    assert (row(library, half)["start_frame"], row(library, half)["end_frame"]) == (
        run[0]["start_frame"],
        frame,
    )
    expect_context(page, library, half)
    second = next(c for c in live(library) if c["start_frame"] == frame)
    assert strip_ids(page)[1] == str(second["id"])
    screenshot(page, "review-after-split")


def test_move_a_cut_on_the_timeline(page: Page, server: str, library: Library, reviewers) -> None:
    name = reviewers("mv-di")
    run = free_run(library, 2)
    clip_id, end = run[0]["id"], run[0]["end_frame"]
    open_clip(page, server, name, clip_id)
    page.keyboard.press("]")  # pick the end cut
    expect(page.locator(".mm-timeline[data-zoom=near] .mm-cut-selected")).to_have_attribute(
        "data-frame", str(end)
    )
    for _ in range(3):
        page.keyboard.press(".")
    page.locator("button[data-nudge='-1']").click()
    preview = page.locator(".mm-previews li[data-action=move]")
    expect(preview).to_contain_text(f"Move cut {end} → {end + 2}")
    screenshot(page, "review-move-cut")
    page.locator("button[data-move=apply]").click()
    moved = wait_for_other_clip(page, clip_id)
    buttons_ready(page)
    assert end not in cuts(library) and end + 2 in cuts(library)
    new = row(library, moved)
    assert (new["start_frame"], new["end_frame"]) == (run[0]["start_frame"], end + 2)
    expect_context(page, library, moved)
    page.keyboard.press("Control+z")  # undo puts the cut back
    expect(page.locator(".mm-timeline[data-zoom=video]")).to_have_attribute(
        "data-cuts", ",".join(map(str, sorted({*cuts(library), end} - {end + 2})))
    )
    assert end in cuts(library)


# ------------------------------------------------------------------ navigation, help


def test_pending_count_in_the_navigation_of_every_page(
    page: Page, server: str, library: Library, reviewers
) -> None:
    reviewers("nav-ed")
    # (The explore page's count is checked with its hover previews.)
    for name in ("review", "status"):
        page.goto(f"{server}/{name}?reviewer=nav-ed")
        count = page.locator(".mm-nav .mm-count")
        expect(count).to_be_visible(timeout=20000)
        expected = review.pending_count(db=library.db)
        expect(count).to_have_attribute("data-pending", str(expected))
    page.goto(f"{server}/review?reviewer=nav-ed")
    shown = shown_clip(page)
    before = int(page.locator(".mm-nav .mm-count").get_attribute("data-pending") or -1)
    page.keyboard.press("s")
    wait_for_other_clip(page, shown)
    expect(page.locator(".mm-nav .mm-count")).to_have_attribute("data-pending", str(before - 1))


def test_question_mark_shows_keyboard_help(page: Page, server: str, reviewers) -> None:
    page.goto(f"{server}/review?reviewer={reviewers('help-fi')}")
    shown_clip(page)
    help_box = page.locator(".mm-help")
    expect(help_box).to_be_hidden()
    page.keyboard.press("?")
    expect(help_box).to_be_visible()
    expect(help_box).to_contain_text("Ctrl/⌘-Z")
    screenshot(page, "review-help")
    page.keyboard.press("Escape")
    expect(help_box).to_be_hidden()
