"""Sessions made, sent and changed off the server's event loop (dashboards/offloop.py).

A real Panel server in a thread of this process and Chromium: the page function runs in
a worker thread, the document is then the event loop's, its HTML is rendered in a
worker thread, the browser's pull of the whole
document is serialised in a worker thread, and a change made with ``change_off_loop``
runs and is serialised in a worker thread and still reaches the browser. If a Panel or Bokeh upgrade changed the internals this relies on, pages would
either break here or quietly go back to the event loop: these tests say which.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import panel as pn
import pytest
import requests
from bokeh.core.serialization import Serializable, Serializer
from bokeh.document import Document
from bokeh.models import Div
from panel.io.application import build_applications
from panel.io.state import state

from dashboards import offloop
from dashboards.offloop import OffLoopApplication, change_off_loop, install
from dashboards.pages.deferred import deferred_body
from tests.conftest import free_port, wait_for_port


class ThreadProbe(Serializable):
    """A value that notes the thread it is serialised in (as a Bokeh model's tag)."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def to_serializable(self, serializer: Serializer) -> Any:
        self.threads.append(threading.get_ident())
        return "probe"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Serve one page (given later) off the loop; yields (set_page, base URL, loop thread)."""
    pages: dict[str, Any] = {"rendered_in": []}
    panel_render = offloop._panel_render

    def render(*args: Any, **kwargs: Any) -> str:  # Panel's page rendering, noting the thread
        pages["rendered_in"].append(threading.get_ident())
        return panel_render(*args, **kwargs)

    monkeypatch.setattr(offloop, "_panel_render", render)
    app = OffLoopApplication.of(build_applications({"p": lambda: pages["p"]()})["/p"])
    port = free_port()
    install()
    thread = pn.serve({"p": app}, port=port, threaded=True, show=False)
    wait_for_port(port)
    try:
        yield pages, f"http://127.0.0.1:{port}", thread
    finally:
        thread.stop()


def test_the_page_is_made_in_a_worker_thread_and_changed_off_the_loop(served, browser):
    pages, base, server_thread = served
    seen: dict[str, Any] = {}
    probe, pulled = ThreadProbe(), ThreadProbe()

    def page() -> pn.Column:
        seen["made_in"] = threading.get_ident()
        doc = pn.state.curdoc
        out = pn.Column(pn.pane.Bokeh(Div(text="waiting", tags=[pulled])))

        async def later() -> None:
            seen["loop"] = threading.get_ident()
            seen["owner"] = state._thread_id_.get(doc)

            def change() -> str:
                seen["changed_in"] = threading.get_ident()
                out.objects = [pn.pane.Bokeh(Div(text="changed off the loop", tags=[probe]))]
                return "done"

            seen["result"] = await change_off_loop(doc, change)
            seen["owner_after"] = state._thread_id_.get(doc)

        pn.state.onload(later)
        return out

    pages["p"] = page
    tab = browser.new_page()
    try:
        tab.goto(f"{base}/p")
        tab.get_by_text("changed off the loop").wait_for(timeout=60_000)
    finally:
        tab.close()
    loop = seen["loop"]
    assert loop == server_thread.ident  # the onload callback ran on the server's loop
    assert seen["made_in"] != loop  # the page function did not
    assert pages["rendered_in"] and loop not in pages["rendered_in"]  # nor the page's HTML
    assert seen["owner"] == loop == seen["owner_after"]  # Panel sees the loop as the owner
    assert seen["changed_in"] != loop
    assert seen["result"] == "done"
    assert probe.threads and loop not in probe.threads  # the patch was serialised off it
    assert pulled.threads and loop not in pulled.threads  # so was the whole first document


def test_without_a_session_the_change_just_runs():
    out = pn.Column()
    # In a thread of its own: an earlier test may leave an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, change_off_loop(None, lambda: out.append("x") or 7))
        result = result.result()
    assert result == 7 and len(out) == 1


def test_a_deferred_body_is_started_by_the_page_request_alone(served):
    """The body is made while the browser loads the page, not after: a plain GET of the
    page (no browser, so no websocket and no onload) starts it, off the loop."""
    pages, base, server_thread = served
    started, seen = threading.Event(), {}

    def make() -> Any:
        seen["thread"] = threading.get_ident()
        started.set()
        return [pn.pane.HTML("the body")], None

    pages["p"] = lambda: deferred_body(make, "Test")
    requests.get(f"{base}/p", timeout=60).raise_for_status()
    assert started.wait(30), "the body waited for a browser"
    assert seen["thread"] != server_thread.ident


def test_a_body_made_before_the_pull_comes_with_the_document(served, browser):
    """The browser's first document holds a body made by the time it asks for it: the
    page is drawn once, and no patch brings the body afterwards."""
    pages, base, _ = served
    made, shown = threading.Event(), {}

    def make() -> Any:
        made.set()
        return [pn.pane.HTML("the body made ahead")], lambda: shown.setdefault("onload", 1)

    pages["p"] = lambda: deferred_body(make, "Test")
    tab = browser.new_page()
    frames: list[str] = []
    tab.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(str(p))))

    def after_the_body(route: Any) -> None:  # Panel's JavaScript only once the body is made
        made.wait(30)
        route.continue_()

    tab.route("**/panel.min.js*", after_the_body)
    try:
        tab.goto(f"{base}/p")
        tab.get_by_text("the body made ahead").wait_for(timeout=60_000)
        # Playwright hands over the frames as events, while the test calls into it.
        for _ in range(100):
            if any("the body made ahead" in f for f in frames):
                break
            tab.wait_for_timeout(100)
    finally:
        tab.close()
    # Bokeh sends a message as header, metadata and content frames.
    content = {
        i: frames[i + 2] for i, f in enumerate(frames) if '"msgtype":' in f and i + 2 < len(frames)
    }
    kinds = {i: json.loads(frames[i])["msgtype"] for i in content}
    carried = [kinds[i] for i, text in content.items() if "the body made ahead" in text]
    assert carried == ["PULL-DOC-REPLY"], kinds
    assert shown == {"onload": 1}  # what the page runs once shown still ran


def test_panels_collection_waits_while_a_body_is_made(served, monkeypatch):
    """Panel's full collection after a session ends (``gc.collect()`` on the event loop,
    40-130 ms at 100k clips) is put off while a page body is being made, and made once
    the server is idle (dashboards/collect.py)."""
    from panel.io import document

    from dashboards.collect import collector

    pages, base, server_thread = served
    started, release = threading.Event(), threading.Event()
    full: list[int] = []  # threads that ran a full collection

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(threading.get_ident())

    def make() -> Any:
        started.set()
        release.wait(60)
        return [pn.pane.HTML("the body")], None

    pages["p"] = lambda: deferred_body(make, "Test")
    monkeypatch.setattr(document, "_panel_last_cleanup", 0.0)  # no session ended just now
    gc.callbacks.append(on_gc)
    try:
        requests.get(f"{base}/p", timeout=60).raise_for_status()
        assert started.wait(30), "the body was not started"
        asked = threading.Event()
        before = collector.collections

        def ask() -> None:  # what Panel runs a few seconds after a session is discarded
            document._garbage_collect()
            asked.set()

        server_thread.asyncio_loop.call_soon_threadsafe(ask)
        assert asked.wait(30)
        assert server_thread.ident not in full  # not while the body is being made
        release.set()
        for _ in range(300):
            if collector.collections > before:
                break
            threading.Event().wait(0.1)
        assert collector.collections > before  # made once the body was done
        assert server_thread.ident in full
    finally:
        release.set()
        gc.callbacks.remove(on_gc)


def test_no_collection_while_a_browser_draws_the_page(served, browser, monkeypatch):
    """A page counts as loading from its request until the browser reports it drawn
    (Bokeh's DocumentReady): a browser that runs the page's scripts asks the server for
    nothing meanwhile, and a full collection must not start then. Once drawn, it runs
    after the usual quiet."""
    from panel.io import document

    from dashboards.collect import IDLE_SECONDS, collector

    pages, base, server_thread = served
    sessions: list[str] = []

    def page() -> pn.pane.HTML:
        sessions.append(pn.state.curdoc.session_context.id)
        return pn.pane.HTML("drawn at last")

    pages["p"] = page
    monkeypatch.setattr(document, "_panel_last_cleanup", 0.0)  # no session ended just now
    held: list[Any] = []  # the browser is busy with the page's scripts meanwhile
    tab = browser.new_page()
    tab.route("**/panel.min.js*", lambda route: held.append(route))
    try:
        tab.goto(f"{base}/p", wait_until="commit")
        for _ in range(600):
            if held:
                break
            tab.wait_for_timeout(50)
        assert held, "the page's script was not asked for"
        before = collector.collections
        server_thread.asyncio_loop.call_soon_threadsafe(document._garbage_collect)
        tab.wait_for_timeout((IDLE_SECONDS * 2 + 1) * 1000)  # quiet, twice as long as needed
        assert collector.collections == before, "collected while the browser drew the page"
        assert collector.is_loading(sessions[0])
        held[0].continue_()
        tab.get_by_text("drawn at last").wait_for(timeout=60_000)
        for _ in range(300):
            if collector.collections > before:
                break
            tab.wait_for_timeout(100)
        assert not collector.is_loading(sessions[0])  # drawn: the browser said so
        assert collector.collections > before  # made once the page was drawn
    finally:
        tab.close()


def test_unused_sessions_are_discarded_one_per_turn_of_the_loop(served):
    """Bokeh discards the sessions unused for a while in one go (every 17 s), ~1 ms of
    CPU each on the event loop; with a turn of the loop before each discard, a request
    that came meanwhile (a health check) waits for one, not for all of them."""
    pages, base, server_thread = served
    order: list[str] = []

    def page() -> pn.pane.HTML:
        pn.state.curdoc.on_session_destroyed(lambda _context: order.append("discard"))
        return pn.pane.HTML("soon unused")

    pages["p"] = page
    for _ in range(5):  # five sessions, no browser: none ever connects
        requests.get(f"{base}/p", timeout=60).raise_for_status()
    server = next(s for s, _, _ in state._servers.values() if s.port == int(base.rsplit(":")[-1]))
    context = server._tornado._applications["/p"]
    loop = server_thread.asyncio_loop
    running = threading.Event()

    def tick() -> None:  # what else the loop does meanwhile: one entry per turn
        order.append("turn")
        if running.is_set():
            loop.call_soon(tick)

    async def discard_all() -> None:
        running.set()
        loop.call_soon(tick)
        for session in list(context.sessions):
            session.request_expiration()
        await context._cleanup_sessions(0)
        running.clear()

    asyncio.run_coroutine_threadsafe(discard_all(), loop).result(60)
    discards = [i for i, what in enumerate(order) if what == "discard"]
    assert len(discards) >= 5, order
    # Between two discards, the loop took at least one turn for something else.
    assert all(b - a > 1 for a, b in pairwise(discards)), order


def test_a_page_left_by_the_browser_is_known_while_bokeh_still_runs_its_callbacks(served, browser):
    """Bokeh keeps a session whose websocket closed for its unused lifetime (15 s), and
    runs its periodic callbacks meanwhile; ``left`` tells them nobody sees the page, so
    the status page's refresh (and the others) skip their reads and table updates."""
    pages, base, _ = served
    ticks: list[bool] = []
    docs: list[Any] = []

    def page() -> pn.pane.HTML:
        doc = pn.state.curdoc
        docs.append(doc)
        pn.state.add_periodic_callback(lambda: ticks.append(offloop.left(doc)), period=100)
        return pn.pane.HTML("watched")

    pages["p"] = page
    tab = browser.new_page()
    tab.goto(f"{base}/p")
    tab.get_by_text("watched").wait_for(timeout=60_000)
    deadline = time.monotonic() + 30
    while ticks.count(False) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    tab.close()
    seen = len(ticks)
    while (True not in ticks[seen:]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ticks.count(False) >= 3  # the page open: not left
    assert True in ticks[seen:], ticks  # closed: its callbacks still run, and know it
    assert ticks[-1] is True
    assert not offloop.left(None)


def test_pages_load_only_the_bokeh_bundles_they_use():
    """No plot of ours draws with WebGL: a page that names its Panel extensions (every
    page's ``shell``) does not load Bokeh's WebGL bundle; one that does not loads all."""
    from bokeh.resources import Resources as BokehResources

    bokeh = BokehResources(mode="server")
    named, unnamed = Document(), Document()
    state._extensions_[named] = ["tabulator"]
    assert "bokeh-gl" in bokeh.components
    kept = offloop.page_resources(named, bokeh).components
    assert "bokeh-gl" not in kept
    assert [c for c in bokeh.components if c != "bokeh-gl"] == kept
    assert offloop.page_resources(unnamed, bokeh).components == bokeh.components
