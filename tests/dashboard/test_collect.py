"""When the dashboard server makes its full garbage collections (dashboards/collect.py).

The rule is a pure function of the clock, tested here without a server; that Panel's own
post-session collection waits for it while a page builds is tested against a real server
in ``test_offloop.py``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from dashboards.collect import (
    GAP_SECONDS,
    HARD_WAIT_SECONDS,
    IDLE_SECONDS,
    MAX_WAIT_SECONDS,
    IdleCollector,
    due,
)


def test_a_collection_waits_for_quiet_or_for_its_deadline():
    # Work in progress: not due, however quiet, until the deadline.
    assert not due(now=100.0, wanted_since=99.0, last_activity=0.0, working=1)
    assert due(now=99.0 + HARD_WAIT_SECONDS, wanted_since=99.0, last_activity=99.0, working=1)
    # No work, but a request a moment ago: not yet.
    assert not due(now=100.0, wanted_since=99.0, last_activity=100.0 - IDLE_SECONDS / 2, working=0)
    assert due(now=100.0, wanted_since=99.0, last_activity=100.0 - IDLE_SECONDS, working=0)


def test_a_collection_past_its_wait_takes_the_first_gap_between_pages_not_a_page_load():
    """On a server in continuous use (no quiet of IDLE_SECONDS), a collection that has
    waited MAX_WAIT_SECONDS does not run in the middle of a page being made or loaded,
    but in the first gap of GAP_SECONDS with nothing made and nothing asked for."""
    late = 99.0 + MAX_WAIT_SECONDS
    assert GAP_SECONDS < IDLE_SECONDS and MAX_WAIT_SECONDS < HARD_WAIT_SECONDS
    # A page being made, or requests coming in (its scripts, its websocket): not yet.
    assert not due(now=late, wanted_since=99.0, last_activity=late, working=1)
    assert not due(now=late, wanted_since=99.0, last_activity=late - GAP_SECONDS / 2, working=0)
    # The first gap between pages: now.
    assert due(now=late, wanted_since=99.0, last_activity=late - GAP_SECONDS, working=0)
    # The same gap before MAX_WAIT_SECONDS is not enough: idle it must be.
    assert not due(now=100.0, wanted_since=99.0, last_activity=100.0 - GAP_SECONDS, working=0)


def test_the_collector_runs_a_wanted_collection_once_the_work_is_done():
    now = [1000.0]
    collector = IdleCollector(clock=lambda: now[0])

    async def run() -> list[int]:
        seen = []
        with collector.busy():
            collector.want()
            collector.want()  # asked twice, collected once
            now[0] += IDLE_SECONDS * 2
            await asyncio.sleep(0.6)  # a few checks while the work goes on
            seen.append(collector.collections)
        now[0] += IDLE_SECONDS  # quiet since the work ended
        for _ in range(100):
            await asyncio.sleep(0.1)
            if collector.collections:
                break
        seen.append(collector.collections)
        return seen

    # In a thread of its own: an earlier test may leave an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, run()).result() == [0, 1]
    assert not collector.wanted


def test_start_hands_pythons_own_full_collections_to_the_collector():
    import gc

    from dashboards.collect import NEVER, start

    before = gc.get_threshold()

    async def run() -> tuple[int, int, int]:
        watch = start()
        watch.stop()
        return gc.get_threshold()

    try:
        with ThreadPoolExecutor(1) as pool:
            young, middle, full = pool.submit(asyncio.run, run()).result()
        assert (young, middle) == before[:2] and full == NEVER
    finally:
        gc.set_threshold(*before)


def test_every_request_but_the_health_check_counts_as_activity():
    """A browser loading a page fetches scripts and styles while nothing else happens on
    the server; a full collection must not start then (``log_request``, the dashboard
    server's Tornado ``log_function``)."""
    import panel as pn
    import requests
    from tornado.web import RequestHandler

    from dashboards.collect import collector, log_request
    from tests.conftest import free_port, wait_for_port

    class Up(RequestHandler):
        def get(self) -> None:
            self.finish("ok")

    port = free_port()
    thread = pn.serve(
        {"p": lambda: pn.pane.HTML("page")},
        port=port,
        threaded=True,
        show=False,
        extra_patterns=[("/healthz", Up)],
        log_function=log_request,
    )
    wait_for_port(port)
    base = f"http://127.0.0.1:{port}"
    try:
        before = collector._last_activity
        requests.get(f"{base}/healthz", timeout=30).raise_for_status()
        assert collector._last_activity == before  # polled all day: not a user
        requests.get(f"{base}/static/js/bokeh.min.js", timeout=30).raise_for_status()
        assert collector._last_activity > before  # a page's script: someone is loading
    finally:
        thread.stop()


def test_start_up_work_waits_for_quiet_after_the_call_or_for_its_deadline():
    """The search warm-up after a start (``runners.web.warm_after_start``) yields to the
    pages opened meanwhile: it waits while a page is made and until nothing has happened
    for a while, counted from when it starts waiting."""
    import threading

    now = [1000.0]
    collector = IdleCollector(clock=lambda: now[0])
    now[0] += 60  # long quiet before the wait began does not count
    done: list[bool] = []
    with collector.busy():
        waiter = threading.Thread(
            target=lambda: done.append(collector.wait_for_quiet(3, 120, 0.005))
        )
        waiter.start()
        now[0] += 10  # quiet for long enough, but a page is being made
        waiter.join(0.2)
        assert done == []
    now[0] += 1
    collector.touch()  # a request after the page
    now[0] += 2
    waiter.join(0.2)
    assert done == []  # 2 s since the request: not yet
    now[0] += 1
    waiter.join(5)
    assert done == [True]

    # Pages all the time: it gives up waiting at its deadline.
    late: list[bool] = []
    with collector.busy():
        waiter = threading.Thread(
            target=lambda: late.append(collector.wait_for_quiet(3, 120, 0.005))
        )
        waiter.start()
        now[0] += 119
        waiter.join(0.2)
        assert late == []
        now[0] += 1
        waiter.join(5)
    assert late == [False]


def test_a_page_counts_as_loading_until_its_browser_has_drawn_it():
    """A browser drawing a page asks for nothing while it draws: the page counts as work
    in progress from its request until the browser says it is drawn (or its session
    ends), so even a collection past its deadline's gap rule waits for it; a page never
    reported drawn stops counting after LOAD_SECONDS."""
    from dashboards.collect import LOAD_SECONDS

    now = [1000.0]
    collector = IdleCollector(clock=lambda: now[0])
    wanted_since = now[0] - MAX_WAIT_SECONDS  # past its wait: a gap would do
    collector.loading("a")
    collector.loading("b")
    now[0] += IDLE_SECONDS * 2  # quiet while both browsers draw
    assert collector.is_loading("a") and collector.is_loading("b")
    with collector._lock:
        working = collector._working_now()
    assert not due(now[0], wanted_since, collector._last_activity, working)
    collector.loaded("a")
    collector.loaded("a")  # told twice (drawn, then the session ended): counted once
    collector.loaded("never requested")
    assert not collector.is_loading("a") and collector.is_loading("b")
    assert collector._last_activity == now[0]  # the gap counts from the drawing's end
    now[0] += LOAD_SECONDS  # "b" never said: it stops counting
    assert not collector.is_loading("b")
    with collector._lock:
        assert collector._working_now() == 0
