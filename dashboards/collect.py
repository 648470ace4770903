"""Full garbage collections while the dashboard server is idle, not while pages build.

Panel runs ``gc.collect()`` on the event loop a few seconds after each session is
discarded. A full collection walks every live object not frozen at start-up
(``runners/web.py``): the open sessions' documents, widgets and watchers, tens of
thousands of objects. Measured at 100k clips with a few sessions open, it held the event
loop (and the GIL, so every thread) for 40–130 ms of CPU each time, the longest stall a
``/healthz`` request met while ``/explore`` pages built; nothing else on the loop took
over ~30 ms.

:func:`install` replaces Panel's collection with a request for one: it is made once the
server has been idle for :data:`IDLE_SECONDS` (no page or document being made, no page
whose browser has not reported it drawn yet (:meth:`IdleCollector.loading`), no HTTP
request but the health check's and no websocket message meanwhile: :func:`log_request`).
A server in continuous use may never be idle that long: after :data:`MAX_WAIT_SECONDS`
the collection takes the first gap between pages instead (nothing being made and nothing
asked for :data:`GAP_SECONDS`), and after :data:`HARD_WAIT_SECONDS` it runs whatever the
traffic, so memory stays bounded. The collection is the same; what changes is that it
lands in the middle of someone's page load less often. (At 100k clips one ran on its 30 s
deadline in the middle of an explore page's load: 132 ms of CPU, 239 ms of wall time on
the busy machine, and a ``/healthz`` answered in 226 ms. A gap alone is not proof that no
page is loading: once, at 1M clips, a browser drawing an explore page asked for nothing
for 0.5 s and the collection ran then; so a page counts as loading until its browser
says it has drawn it.)

Python also makes full collections by itself, in whichever thread allocates when they
fall due: in a page-building worker thread, holding the GIL, as often as Panel's (seen at
100k clips: 45-100 ms of CPU in the middle of a page load). :func:`start` (the web
process) turns those off and asks :data:`collector` for one instead whenever Python
would have become eligible for one (:data:`FULL_AFTER` middle-generation collections
since the last full one), so the heap is bounded as before and its collections wait for quiet too.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.log import access_log
from tornado.web import RequestHandler

log = logging.getLogger(__name__)

IDLE_SECONDS = 2.0
MAX_WAIT_SECONDS = 30.0
# After MAX_WAIT_SECONDS, a gap this long between requests (with nothing being made) will
# do: a reader's page, once drawn, asks for nothing for a while, whereas a page being
# loaded fetches its scripts and pulls its document through the websocket, with its body
# being made meanwhile (though a busy browser may draw it for longer than this).
GAP_SECONDS = 0.5
HARD_WAIT_SECONDS = 120.0
# A page counts as loading from its request until its browser reports it drawn (Bokeh's
# DocumentReady), or until its session ends; a page whose browser never says so (a plain
# GET, a browser that gave up) stops counting after this long.
LOAD_SECONDS = 10.0
CHECK_SECONDS = 0.25
# Python's default: a full collection becomes due after 10 collections of the middle
# generation (and when the long-lived objects grew by a quarter).
FULL_AFTER = 10
NEVER = 1_000_000_000


def due(now: float, wanted_since: float, last_activity: float, working: int) -> bool:
    """Whether a collection wanted since ``wanted_since`` runs at ``now``: the server
    has been idle for :data:`IDLE_SECONDS`; or, once the collection has waited
    :data:`MAX_WAIT_SECONDS`, for :data:`GAP_SECONDS`; or it has waited
    :data:`HARD_WAIT_SECONDS`."""
    waited = now - wanted_since
    if waited >= HARD_WAIT_SECONDS:
        return True
    if working:
        return False
    quiet = now - last_activity
    return quiet >= IDLE_SECONDS or (waited >= MAX_WAIT_SECONDS and quiet >= GAP_SECONDS)


class IdleCollector:
    """Counts the work in progress, notes the last activity, and runs the full
    collections asked for with :meth:`want` once :func:`due` says so."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._working = 0
        self._last_activity = clock()
        self._wanted_since: float | None = None
        self._loading: dict[str, float] = {}  # page (session id) -> when it was requested
        self.collections = 0

    def _working_now(self) -> int:
        """Work in progress (call with the lock held): bodies and documents being made,
        and pages whose browser has not drawn them yet (:data:`LOAD_SECONDS` at most)."""
        if self._loading:
            oldest = self.clock() - LOAD_SECONDS
            for page in [p for p, since in self._loading.items() if since <= oldest]:
                del self._loading[page]
        return self._working + len(self._loading)

    def loading(self, page: str) -> None:
        """A page (named by its session id) was requested: until :meth:`loaded`, its
        browser is fetching, running and drawing it, and no full collection runs.

        Work being made counts already (:meth:`busy`), and so does every finished
        request (:meth:`touch`), but a browser drawing a page asks for nothing while it
        draws: once, at a million clips, 0.5 s without a request came in the middle of
        an explore page's load, and a full collection ran then."""
        with self._lock:
            self._loading[page] = self._last_activity = self.clock()

    def loaded(self, page: str) -> None:
        """The browser has drawn ``page`` (or its session ended): the gap rules count
        from now. Unknown pages are ignored."""
        with self._lock:
            if self._loading.pop(page, None) is not None:
                self._last_activity = self.clock()

    def is_loading(self, page: str) -> bool:
        """Whether ``page`` (a session id) counts as loading now."""
        with self._lock:
            self._working_now()
            return page in self._loading

    def touch(self) -> None:
        """Something happened (a page request, a websocket message): wait for quiet."""
        with self._lock:
            self._last_activity = self.clock()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Work (a page or document being made) in progress: no collection meanwhile.

        A ``with`` block, or a decorator (``@collector.busy()``) for a whole function.
        """
        with self._lock:
            self._working += 1
            self._last_activity = self.clock()
        try:
            yield
        finally:
            with self._lock:
                self._working -= 1
                self._last_activity = self.clock()

    def wait_for_quiet(self, quiet: float, max_wait: float, poll: float = CHECK_SECONDS) -> bool:
        """Block (in a background thread, never on the event loop) until no work has been
        in progress and nothing has happened for ``quiet`` seconds since this call, or
        for at most ``max_wait`` seconds. Returns whether it was quiet. For start-up work
        that only makes later pages faster (the search warm-up): it yields to the pages
        a user opens right after a start."""
        start = self.clock()
        while True:
            now = self.clock()
            with self._lock:
                since = max(self._last_activity, start)
                working = self._working_now()
            if working == 0 and now - since >= quiet:
                return True
            if now - start >= max_wait:
                return False
            time.sleep(poll)

    @property
    def wanted(self) -> bool:
        return self._wanted_since is not None

    def want(self) -> None:
        """Ask for a full collection (on the event loop); it runs when due."""
        if self._wanted_since is not None:
            return
        self._wanted_since = self.clock()
        IOLoop.current().call_later(CHECK_SECONDS, self._check)

    def _check(self) -> None:
        wanted_since = self._wanted_since
        if wanted_since is None:
            return
        with self._lock:
            ready = due(self.clock(), wanted_since, self._last_activity, self._working_now())
        if not ready:
            IOLoop.current().call_later(CHECK_SECONDS, self._check)
            return
        self._wanted_since = None
        start = time.perf_counter()
        found = gc.collect()
        self.collections += 1
        log.debug(
            "idle collection: %d objects in %.0f ms", found, (time.perf_counter() - start) * 1e3
        )


collector = IdleCollector()


def _full_due() -> None:
    if gc.get_count()[2] >= FULL_AFTER:
        collector.want()


def start() -> PeriodicCallback:
    """Make every full collection of this process through :data:`collector` (call it on
    the event loop, once): Python's own are turned off, and asked for instead when due."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    watch = PeriodicCallback(_full_due, 1000)
    watch.start()
    return watch


# Requests that say nothing about someone using a page: the health check polls all day.
QUIET_PATHS = frozenset({"/healthz"})


def log_request(handler: RequestHandler) -> None:
    """Tornado's ``log_function`` for the dashboard server: every finished request but
    the health check counts as activity (:meth:`IdleCollector.touch`), then it is logged
    the way Tornado logs it.

    A browser loading a page fetches its JavaScript, CSS and images as plain HTTP
    requests before and while it opens the websocket; counting only page requests and
    websocket messages, the server looked idle meanwhile and a full collection could
    start in the middle of a page load.
    """
    if handler.request.path not in QUIET_PATHS:
        collector.touch()
    status = handler.get_status()
    log_method = (
        access_log.info
        if status < 400
        else access_log.warning
        if status < 500
        else access_log.error
    )
    log_method(
        "%d %s %.2fms", status, handler._request_summary(), 1e3 * handler.request.request_time()
    )


def install() -> None:
    """Panel's post-session collection waits for an idle server (:data:`collector`)."""
    from panel.io import document

    document._garbage_collect = collector.want
