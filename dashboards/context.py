"""What every page of one dashboard process shares: settings, login config, prefetching."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import panel as pn

from dashboards.auth import AuthConfig, Identity, LoginLimiter, auth_config
from mediaml import review
from mediaml.config import QUEUE_CONCURRENCY, Settings, get_settings, set_settings
from mediaml.db import connect, get_db
from mediaml.review import playback

log = logging.getLogger(__name__)

DEFAULT_PREFETCH = 3


@dataclass
class DashboardContext:
    """Process-wide dashboard state.

    Attributes:
        settings: the process settings.
        auth: logins, or None when the dashboard is open (development).
        prefetch: how many upcoming clips to cut ahead of the reviewer (0: none).
        single_app: pages are one Panel app switched by ``?page=`` (``panel serve
            dashboards/app.py``) rather than one app per path (``mediaml serve``).
    """

    settings: Settings
    auth: AuthConfig | None
    prefetch: int = DEFAULT_PREFETCH
    single_app: bool = False
    limiter: LoginLimiter = field(init=False, repr=False)
    _pool: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.limiter = LoginLimiter(
            free=self.settings.login_free_attempts,
            base_delay=self.settings.login_lockout_seconds,
        )
        # Temp clips are served from this machine's playback cache, so the web process
        # cuts them itself, with the temp_clips queue's concurrency.
        self._pool = ThreadPoolExecutor(
            QUEUE_CONCURRENCY["temp_clips"], thread_name_prefix="mediaml-prefetch"
        )

    def prefetch_ahead(
        self,
        reviewer: str,
        current: int,
        on_ready: Callable[[list[int], int], None] | None = None,
    ) -> None:
        """Cut the temp clips ``reviewer`` will see after ``current``, in the background
        (no-op when prefetch is 0), calling ``on_ready(ids, n)`` after each (from the
        prefetch thread): ``ids`` the upcoming clips in order, the first ``n`` of them cut. Choosing them reads the database too, so all of it runs off the
        request path."""
        if self.prefetch:
            future = self._pool.submit(self._prefetch_ahead, reviewer, current, on_ready)
            future.add_done_callback(_log_failure)

    def background(self, work: Callable[[], object]) -> None:
        """Run ``work`` on the dashboard's worker threads (never on the event loop)."""
        self._pool.submit(work).add_done_callback(_log_failure)

    def _prefetch_ahead(
        self, reviewer: str, current: int, on_ready: Callable[[list[int], int], None] | None
    ) -> int:
        ahead = review.upcoming(reviewer, self.prefetch + 1)
        ids = [i for i in ahead if i != current][: self.prefetch]
        made = 0
        # One clip at a time, in the order they will be needed, and ``on_ready`` after each:
        # the browser starts fetching the next clip (a cache hit, usually) while the ones
        # after it are still being cut.
        for n, clip_id in enumerate(ids, 1):
            made += playback.prefetch([clip_id], db=get_db(), settings=self.settings)
            if on_ready is not None:
                on_ready(ids, n)
        return made


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("prefetch failed: %s", exc)


_context: DashboardContext | None = None


def configure(
    settings: Settings, *, prefetch: int = DEFAULT_PREFETCH, single_app: bool = False
) -> DashboardContext:
    """Connect (migrating at boot), check the login configuration, and remember both.

    Raises:
        ConfigError: production without logins or cookie secret.
        DatabaseError: the database cannot be reached or migrated.
    """
    global _context
    auth = auth_config(settings)
    set_settings(settings)
    connect(settings=settings)
    _context = DashboardContext(settings, auth, prefetch, single_app)
    return _context


def get_context() -> DashboardContext:
    """The process context, configured from the environment on first use (``panel serve``)."""
    return _context if _context is not None else configure(get_settings(), single_app=True)


def session_identity() -> Identity:
    """Who acts in the current session: call it when the session opens (page build),
    where Panel reads the login from the request's signed cookie on the server."""
    auth = get_context().auth
    if auth is None:
        return Identity(login=None, required=False)
    login = pn.state.user or None  # decoded from the signed cookie by Panel
    return Identity(login=login if login in auth.users else None, required=True)
