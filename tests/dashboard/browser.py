"""Helpers for driving the dashboard in Chromium (Playwright's CSS locators pierce the
components' shadow roots; these helpers do the same for scripts run in the page)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

# querySelector that also looks inside open shadow roots (Bokeh renders into them).
DEEP_QUERY = """
(selector) => {
  const walk = (root) => {
    const found = root.querySelector(selector);
    if (found) return found;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        const inner = walk(el.shadowRoot);
        if (inner) return inner;
      }
    }
    return null;
  };
  return walk(document);
}
"""


def deep(page: Page, selector: str, script: str, arg: Any = None) -> Any:
    """Evaluate ``script`` (a function of the element and ``arg``) on the first element
    matching ``selector`` anywhere in the page, shadow roots included."""
    return page.evaluate(
        f"([sel, arg]) => {{ const el = ({DEEP_QUERY})(sel); return ({script})(el, arg); }}",
        [selector, arg],
    )


def wait_deep(
    page: Page, selector: str, script: str, arg: Any = None, timeout: float = 15000
) -> Any:
    """Wait until ``script`` returns a truthy value for the element matching ``selector``."""
    handle = page.wait_for_function(
        f"([sel, arg]) => {{ const el = ({DEEP_QUERY})(sel); return el && ({script})(el, arg); }}",
        arg=[selector, arg],
        timeout=timeout,
    )
    return handle.json_value()


def open_review(page: Page, base: str, reviewer: str) -> int:
    """Open the review page as ``reviewer`` and return the id of the clip it shows."""
    page.goto(f"{base}/review?reviewer={reviewer}")
    return shown_clip(page)


def shown_clip(page: Page) -> int:
    """The id of the clip on the review page (waits until one is shown)."""
    fact = page.locator(".mm-fact[data-fact=clip]")
    expect(fact).to_be_visible(timeout=20000)
    match = re.search(r"\d+", fact.inner_text())
    assert match, fact.inner_text()
    return int(match.group())


def wait_for_other_clip(page: Page, old: int) -> int:
    """Wait until the review page shows a clip other than ``old`` and the server has
    answered the action (a preloaded next clip is shown before the answer); return its id."""
    fact = page.locator(".mm-fact[data-fact=clip]")
    expect(fact).not_to_have_text(f"clip {old}", timeout=15000)
    buttons_ready(page)
    return shown_clip(page)


def message(page: Page) -> str:
    return page.locator(".mm-message").inner_text()


def buttons_ready(page: Page) -> None:
    """Wait until the previous action was answered (the approve button is enabled)."""
    expect(page.locator("button[data-action=approve]")).to_be_enabled(timeout=15000)


def drag_across_map(page: Page) -> None:
    """Drag the explore map's box-select tool across the whole map. The drag starts
    inside the plot's frame, below its toolbar (Bokeh ignores a drag that starts on the
    canvas edge); the map's 4% padding keeps every clip inside the box."""
    canvas = page.locator(".bk-Canvas").last
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 12, box["y"] + 45)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 12, box["y"] + box["height"] - 12, steps=8)
    page.mouse.up()


def selected_count(page: Page, timeout: float = 20000) -> int:
    """How many clips the explore page says the map selection holds (waits for it)."""
    selection = page.locator(".mm-selection")
    expect(selection).to_contain_text("clip(s) selected", timeout=timeout)
    found = re.search(r"([\d,]+) clip", selection.inner_text())
    assert found is not None, selection.inner_text()
    return int(found.group(1).replace(",", ""))
