"""The review page in Chromium: every action, keyboard shortcuts, playback with Range
requests, two reviewers at once, and the bad inputs (stale tab, double click, missing
proxy, deleted video, malformed query). Each action is checked in the database."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mediaml import review
from mediaml.db.clips import DetectedCut, create_initial_clips, get_clip, list_cuts
from mediaml.db.videos import create_video, delete_video
from tests.dashboard.browser import (
    buttons_ready,
    deep,
    message,
    open_review,
    shown_clip,
    wait_deep,
    wait_for_other_clip,
)
from tests.dashboard.conftest import Library, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page()
    context.close()


def clip(library: Library, clip_id: int) -> dict[str, Any]:
    with library.db.transaction() as conn:
        return get_clip(conn, clip_id)


def actions_by(library: Library, actor: str) -> list[dict[str, Any]]:
    with library.db.transaction() as conn:
        return conn.execute(
            "SELECT * FROM review_actions WHERE actor = %s ORDER BY id", (actor,)
        ).fetchall()


def claim(library: Library, clip_id: int, reviewer: str) -> None:
    """Give ``reviewer`` the claim on a clip (as if it had been shown to them)."""
    with library.db.transaction() as conn:
        conn.execute(
            "UPDATE clips SET lease_owner = %s, lease_expires_at = now() + interval '5 min'"
            " WHERE id = %s AND state = 'pending_review'",
            (f"review:{reviewer}", clip_id),
        )


def scratch_video(library: Library, title: str, cuts: list[int]) -> tuple[int, list[int]]:
    """A video whose proxy is not in the store, with clips pending review."""
    with library.db.transaction() as conn:
        video, _ = create_video(
            conn,
            title,
            f"file:///{title}.mp4",
            state="done",
            fps_num=25,
            fps_den=1,
            frame_count=100,
            duration_s=4.0,
            proxy_key=f"proxies/999-{title}.mp4",
        )
        clips = create_initial_clips(conn, video["id"], [DetectedCut(f) for f in cuts])
    return int(video["id"]), [int(c["id"]) for c in clips]


def drop_video(library: Library, video_id: int) -> None:
    with library.db.transaction() as conn:
        delete_video(conn, video_id)


# --------------------------------------------------------------------------- showing


def test_page_shows_the_clip_and_plays_it_with_range_requests(
    page: Page, server: str, library: Library, reviewers: Callable[[str], str]
) -> None:
    requests: list[str] = []
    video_ranges: list[str | None] = []
    statuses: list[int] = []

    def on_request(request: Any) -> None:
        requests.append(request.url)
        if "/playback/" in request.url:
            video_ranges.append(request.headers.get("range"))

    page.on("request", on_request)
    page.on("response", lambda r: statuses.append(r.status) if "/playback/" in r.url else None)
    clip_id = open_review(page, server, reviewers("pia"))
    row = clip(library, clip_id)
    frames = row["end_frame"] - row["start_frame"]
    facts = page.locator(".mm-facts").inner_text()
    assert f"frames {row['start_frame']}–{row['end_frame'] - 1}" in facts
    assert f"{frames / 25:.2f} s" in facts and "25 fps" in facts and "pending" in facts
    expect(page.locator(".mm-title")).to_have_text("review-reel")
    # The video really plays (time moves) and seeks.
    wait_deep(page, "video.mm-video", "v => v.currentTime > 0.1 && !v.paused")
    duration = deep(page, "video.mm-video", "v => v.duration")
    assert abs(duration - frames / 25) < 0.1
    deep(page, "video.mm-video", "(v, t) => { v.pause(); v.currentTime = t; }", 0.8)
    wait_deep(
        page, "video.mm-video", "(v, t) => !v.seeking && Math.abs(v.currentTime - t) < 0.05", 0.8
    )
    # The media element asks for byte ranges, and the server answers a range with 206
    # (a clip this small arrives whole in the first response, so the partial request is
    # made from the page, as the media element does for a seek past what it holds).
    assert video_ranges and all(r and r.startswith("bytes=") for r in video_ranges)
    partial = page.evaluate(
        """async (url) => {
            const r = await fetch(url, {headers: {Range: 'bytes=100-199'}});
            return [r.status, r.headers.get('content-range'), (await r.arrayBuffer()).byteLength];
        }""",
        f"/playback/{clip_id}.mp4",
    )
    assert partial[0] == 206 and partial[1].startswith("bytes 100-199/") and partial[2] == 100
    assert 206 in statuses
    screenshot(page, "review")
    # Everything came from this server: no CDN, no internet.
    foreign = [u for u in requests if not u.startswith((server, "data:", "blob:"))]
    assert foreign == []


def test_merge_and_group_are_disabled_on_the_first_clip(
    page: Page, server: str, library: Library, reviewers: Callable[[str], str]
) -> None:
    video_id, clips = scratch_video(library, "first-clip", [50])
    try:
        claim(library, clips[0], reviewers("ann"))
        assert open_review(page, server, "ann") == clips[0]
        for action in ("merge", "group"):
            button = page.locator(f"button[data-action={action}]")
            expect(button).to_be_disabled()
            assert "no previous clip" in (button.get_attribute("title") or "")
        expect(page.locator("button[data-action=archive]")).to_be_enabled()
        page.keyboard.press("m")  # the shortcut is refused too
        page.keyboard.press("g")
        page.wait_for_timeout(300)
        assert shown_clip(page) == clips[0]
        assert actions_by(library, "ann") == []
    finally:
        drop_video(library, video_id)


# ----------------------------------------------------------------------------- actions


def test_approve_button(page: Page, server: str, library: Library, reviewers) -> None:
    first = open_review(page, server, reviewers("bea"))
    page.locator("button[data-action=approve]").click()
    second = wait_for_other_clip(page, first)
    assert second != first
    row = clip(library, first)
    assert row["state"] == "review_approved" and row["reviewed_by"] == "bea"
    (record,) = actions_by(library, "bea")
    assert (record["action"], record["clip_id"]) == ("approve", first)
    assert f"Approved clip {first}" in message(page)


# Armed before a verdict: resolves with the player's playing event for the next clip.
ARM_PLAYING = """() => { window.__playing = new Promise((resolve) => window.addEventListener(
    "mediaml:playing", (e) => resolve(e.detail), { once: true })); }"""


# Every upcoming clip the server has cut (marked * in data-upcoming), other than the one
# on screen (named in the address), waits decoded in the hidden pool.
ALL_PRELOADED = """box => {
    const shown = new URL(window.location.href).searchParams.get("clip");
    const ready = (box.dataset.upcoming || "").split(" ")
        .filter((u) => u.endsWith("*") && u.slice(0, -1) !== shown);
    const videos = [...box.querySelectorAll(".mm-pool video")];
    return ready.length > 0 && videos.length >= ready.length
        && videos.every((v) => v.readyState >= 2);
}"""


def wait_preloaded(page: Page) -> None:
    """Wait until the next clips wait decoded in the hidden pool (not only the first to
    arrive: an early start needs the likely next one, which may arrive last)."""
    wait_deep(page, ".mm-review", ALL_PRELOADED, timeout=30000)


def playing_time_advances(page: Page) -> None:
    """The video on screen is playing: not paused, and its time moves."""
    wait_deep(page, "video.mm-video", "v => !v.paused && v.readyState >= 2")
    before = deep(page, "video.mm-video", "v => v.currentTime")
    wait_deep(
        page, "video.mm-video", "(v, t) => v.currentTime > t + 0.15 || v.currentTime < t", before
    )


def test_after_approve_the_next_clip_plays(
    page: Page, server: str, library: Library, reviewers
) -> None:
    # The preloaded next clip is swapped in on the key press, before the server answers,
    # and must then really play (time advancing), clip after clip.
    shown = open_review(page, server, reviewers("pat"))
    playing_time_advances(page)
    for _ in range(3):
        wait_preloaded(page)
        page.evaluate(ARM_PLAYING)
        page.keyboard.press("a")
        detail = page.evaluate("() => window.__playing")
        assert detail["speculation"] == "hit", detail
        nxt = wait_for_other_clip(page, shown)
        assert detail["clip_id"] == nxt  # the clip that started is the one confirmed
        # It started from its start (the warm clip was playing hidden, anywhere in its
        # 0.8 s: a few frames of slack for a loaded machine), and its time then moved.
        assert detail["media_time"] < 0.2, detail
        assert detail["moving_ms"] > detail["ms"] > 0, detail
        assert deep(page, "video.mm-video", "v => v.currentSrc").startswith("blob:")
        playing_time_advances(page)
        assert clip(library, shown)["state"] == "review_approved"
        shown = nxt
    assert [r["action"] for r in actions_by(library, "pat")] == ["approve"] * 3


# Three key presses in one turn of the browser's loop, so the second and third surely
# arrive while the first verdict is in flight; returns the player's state right after.
THREE_KEYS = """box => {
    for (const key of ["a", "s", "x"])
        document.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
    return { queued: box.dataset.queued || null, speculative: box.dataset.speculative || null,
             message: box.querySelector(".mm-message").textContent };
}"""


def test_quick_verdicts_are_applied_in_order(
    page: Page, server: str, library: Library, reviewers
) -> None:
    # A verdict pressed while the last one is saved waits its turn and acts on the clip
    # started early, once the server confirms that clip; a third press meanwhile is
    # refused visibly. Nothing races: the decisions land in the order they were made.
    first = open_review(page, server, reviewers("ida"))
    wait_preloaded(page)
    state = deep(page, ".mm-review", THREE_KEYS)
    second = int(state["speculative"])
    assert second != first
    assert state["queued"] == f"skip {second}", state
    assert '"x" was ignored' in state["message"], state
    third = wait_for_other_clip(page, second)
    buttons_ready(page)
    assert third not in (first, second)
    assert [(r["action"], r["clip_id"]) for r in actions_by(library, "ida")] == [
        ("approve", first),
        ("skip", second),
    ]
    assert clip(library, first)["state"] == "review_approved"
    assert clip(library, second)["state"] == "review_skipped"
    assert f"Skipped clip {second}" in message(page)


def test_a_refused_verdict_rolls_the_screen_back(
    page: Page, server: str, library: Library, reviewers
) -> None:
    first = open_review(page, server, reviewers("quin"))
    wait_preloaded(page)
    # The clips the browser was told come next ("*": cut, so preloaded).
    box = page.locator(".mm-review")
    listed = [int(i.rstrip("*")) for i in (box.get_attribute("data-upcoming") or "").split()]
    # Meanwhile another reviewer takes over Quin's clip and those: the approve is refused,
    # and the clip started early is not the one the server shows next.
    other = reviewers("rex")
    for clip_id in (first, *listed):
        claim(library, clip_id, other)
    page.keyboard.press("a")
    # The likely next clip was put on screen at once (which one the player guessed is
    # kept as data-rolled-back when the answer differs), then replaced by the answer.
    expect(box).to_have_attribute("data-rolled-back", re.compile(r"^\d+$"))
    guessed = int(box.get_attribute("data-rolled-back") or 0)
    assert guessed in listed, (guessed, listed)
    buttons_ready(page)
    now = shown_clip(page)
    assert now not in (first, *listed)
    expect(box).to_have_attribute("data-confirmed", str(now))
    expect(page.locator(".mm-message.mm-error")).to_contain_text(
        f"clip {first} is being reviewed by rex"
    )
    playing_time_advances(page)
    screenshot(page, "review-rolled-back")
    assert clip(library, first)["state"] == "pending_review"
    assert actions_by(library, "quin") == []


def test_skip_and_archive_by_keyboard(page: Page, server: str, library: Library, reviewers) -> None:
    first = open_review(page, server, reviewers("cal"))
    page.keyboard.press("s")
    second = wait_for_other_clip(page, first)
    buttons_ready(page)
    page.keyboard.press("x")
    wait_for_other_clip(page, second)
    assert clip(library, first)["state"] == "review_skipped"
    assert clip(library, second)["state"] == "review_archived"
    assert [r["action"] for r in actions_by(library, "cal")] == ["skip", "archive"]


def test_merge_by_keyboard_removes_the_cut(
    page: Page, server: str, library: Library, reviewers
) -> None:
    shown = open_review(page, server, reviewers("dan"))
    row = clip(library, shown)
    page.keyboard.press("m")
    merged = wait_for_other_clip(page, shown)
    new = clip(library, merged)
    assert new["end_frame"] == row["end_frame"] and new["start_frame"] < row["start_frame"]
    with library.db.transaction() as conn:
        cuts = [c["frame"] for c in list_cuts(conn, row["video_id"])]
    assert row["start_frame"] not in cuts
    assert clip(library, shown)["state"] == "archived"
    assert actions_by(library, "dan")[0]["action"] == "merge"


def test_group_by_keyboard_links_both_clips(
    page: Page, server: str, library: Library, reviewers
) -> None:
    shown = open_review(page, server, reviewers("eve"))
    page.keyboard.press("g")
    wait_for_other_clip(page, shown)
    this = clip(library, shown)
    previous = clip(library, this["grouped_with"])
    assert this["state"] == previous["state"] == "review_approved"
    assert previous["end_frame"] == this["start_frame"]
    assert previous["grouped_with"] == shown


def test_split_at_a_stepped_frame(page: Page, server: str, library: Library, reviewers) -> None:
    shown = open_review(page, server, reviewers("fay"))
    row = clip(library, shown)
    wait_deep(page, "video.mm-video", "v => v.readyState >= 2")
    deep(page, "video.mm-video", "v => { v.pause(); v.currentTime = 0; }")
    page.keyboard.press("c")
    split_bar = page.locator(".mm-split")
    expect(split_bar).to_be_visible()
    # Presses 400 ms apart step one frame each (quicker repeats accelerate; see
    # test_review_context.py).
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "ArrowLeft", "ArrowRight"):
        page.keyboard.press(key)
        page.wait_for_timeout(400)
    expected = row["start_frame"] + 4  # entered at frame 1, stepped to 4
    expect(split_bar).to_have_attribute("data-frame", str(expected))
    screenshot(page, "review-split")
    page.keyboard.press("Enter")
    first_half = wait_for_other_clip(page, shown)
    with library.db.transaction() as conn:
        cuts = [c["frame"] for c in list_cuts(conn, row["video_id"])]
    assert expected in cuts
    half = clip(library, first_half)
    assert (half["start_frame"], half["end_frame"]) == (row["start_frame"], expected)
    (record,) = actions_by(library, "fay")
    assert record["action"] == "split" and record["after"]["cut"] == expected


def test_escape_leaves_split_mode_without_splitting(
    page: Page, server: str, library: Library, reviewers
) -> None:
    shown = open_review(page, server, reviewers("gil"))
    page.keyboard.press("c")
    expect(page.locator(".mm-split")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".mm-split")).to_be_hidden()
    assert shown_clip(page) == shown and actions_by(library, "gil") == []


def test_undo_brings_the_clip_back(page: Page, server: str, library: Library, reviewers) -> None:
    first = open_review(page, server, reviewers("gus"))
    page.keyboard.press("a")
    wait_for_other_clip(page, first)
    buttons_ready(page)
    page.keyboard.press("u")
    expect(page.locator(".mm-fact[data-fact=clip]")).to_have_text(f"clip {first}", timeout=15000)
    assert clip(library, first)["state"] == "pending_review"
    approve, undo = actions_by(library, "gus")
    assert undo["action"] == "undo" and undo["undoes"] == approve["id"]


# ------------------------------------------------------------------------ bad input


def test_double_click_approves_once(page: Page, server: str, library: Library, reviewers) -> None:
    first = open_review(page, server, reviewers("hal"))
    page.locator("button[data-action=approve]").dblclick()
    wait_for_other_clip(page, first)
    buttons_ready(page)
    assert [(r["action"], r["clip_id"]) for r in actions_by(library, "hal")] == [("approve", first)]


def test_two_reviewers_never_see_the_same_clip(
    browser: Any, server: str, library: Library, reviewers
) -> None:
    contexts = [browser.new_context() for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        names = [reviewers("ivy"), reviewers("jon")]
        shown = [open_review(p, server, n) for p, n in zip(pages, names, strict=True)]
        seen = set(shown)
        for _ in range(3):
            assert shown[0] != shown[1]
            for p in pages:
                p.keyboard.press("a")
            shown = [wait_for_other_clip(p, old) for p, old in zip(pages, shown, strict=True)]
            for p in pages:
                buttons_ready(p)
            assert not seen & set(shown)
            seen |= set(shown)
        approved = {r["clip_id"] for n in names for r in actions_by(library, n)}
        assert len(approved) == 6
    finally:
        for c in contexts:
            c.close()


def test_stale_tab_gets_a_message_and_writes_nothing(
    page: Page, server: str, library: Library, reviewers
) -> None:
    shown = open_review(page, server, reviewers("kim"))
    # Kim's claim runs out while the tab sits open, and Lou reviews the clip.
    with library.db.transaction() as conn:
        conn.execute(
            "UPDATE clips SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
            (shown,),
        )
    review.act(shown, "archive", reviewers("lou"), db=library.db)
    page.keyboard.press("a")
    wait_for_other_clip(page, shown)
    assert "already reviewed or changed by lou" in message(page)
    assert clip(library, shown)["state"] == "review_archived"
    assert actions_by(library, "kim") == []


def test_clip_whose_proxy_is_missing(page: Page, server: str, library: Library, reviewers) -> None:
    video_id, clips = scratch_video(library, "lost-proxy", [50])
    try:
        claim(library, clips[0], reviewers("max"))
        assert open_review(page, server, "max") == clips[0]
        expect(page.locator(".mm-message")).to_contain_text("missing from the object store")
        assert deep(page, "video.mm-video", "v => v.getAttribute('src')") is None
        screenshot(page, "review-missing-proxy")
    finally:
        drop_video(library, video_id)


def test_acting_on_a_clip_of_a_deleted_video(
    page: Page, server: str, library: Library, reviewers
) -> None:
    video_id, clips = scratch_video(library, "deleted-soon", [50])
    claim(library, clips[0], reviewers("ned"))
    assert open_review(page, server, "ned") == clips[0]
    drop_video(library, video_id)
    page.keyboard.press("x")
    wait_for_other_clip(page, clips[0])
    assert "no longer exists" in message(page)
    assert actions_by(library, "ned") == []


def test_malformed_query_string_is_reported_not_fatal(page: Page, server: str, reviewers) -> None:
    page.goto(f"{server}/review?reviewer=%ff%fe")
    expect(page.locator(".mm-notes")).to_contain_text("ignored ?reviewer")
    shown_clip(page)
    reviewers(page.locator("input").first.input_value())
