"""The web server's event loop sets the GIL switch interval for each half of its turns
(``runners.web.LoopSelector``): short while it waits for events and takes the GIL back,
Python's default while it runs its callbacks."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from concurrent.futures import Future

import pytest

from runners.web import HOLD_INTERVAL, SWITCH_INTERVAL, LoopSelector


def test_the_loop_waits_with_a_short_switch_interval_and_runs_callbacks_with_the_default():
    before = sys.getswitchinterval()
    loop = asyncio.SelectorEventLoop(LoopSelector())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)  # nothing to do: the loop waits in its selector
        waiting = sys.getswitchinterval()
        running: Future[float] = Future()
        loop.call_soon_threadsafe(lambda: running.set_result(sys.getswitchinterval()))
        in_callback = running.result(timeout=10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        sys.setswitchinterval(before)
    assert SWITCH_INTERVAL < HOLD_INTERVAL
    assert waiting == pytest.approx(SWITCH_INTERVAL)
    assert in_callback == pytest.approx(HOLD_INTERVAL)
