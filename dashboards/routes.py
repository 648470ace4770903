"""HTTP routes beside the Panel pages: ``/healthz``, ``/media/<key>``, ``/playback/<clip>``.

Media and temp clips are files served by Tornado's static file handler, which answers
HTTP Range requests with 206 so the browser can seek; video never goes through the
websocket. With logins on, every route needs the session cookie, except that ``/healthz``
tells anyone whether the service is up (the status code) and only logged-in users why.

``ROUTES`` lets ``panel serve dashboards/app.py --plugins dashboards.routes`` add them;
with logins on it also adds mediaml's ``/login`` and ``/logout`` (``panel serve`` knows
nothing of ``MEDIAML_AUTH_USERS``), so both servers enforce the same login.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import panel as pn
from tornado.ioloop import IOLoop
from tornado.web import RedirectHandler, RequestHandler, StaticFileHandler

from dashboards.auth import LOGIN_URL, LOGOUT_URL, cookie_user, login_handler, logout_handler
from dashboards.context import get_context
from mediaml.errors import MediaError, MediamlError, NotFoundError, StorageError
from mediaml.health import Health, LoopHealth
from mediaml.review.playback import temp_clip_path
from mediaml.storage import LocalStore, get_store
from mediaml.storage.keys import validate_key

log = logging.getLogger(__name__)

# The health check's own database connection, used on the server's event loop: it never
# queues behind page work, neither for a worker thread nor for one of the shared pool's
# connections (two explore pages being made can hold all of them).
loop_health = LoopHealth()


# ASCII digits only (str.isdigit also takes "²" and "١"), and few enough for a bigint.
CLIP_ID = re.compile(r"[0-9]{1,18}")


class _Guarded(RequestHandler):
    """Knows whether logins are on (from the settings, whichever server runs us) and
    whether this request carries one (the signed session cookie of a current user)."""

    def allowed(self) -> bool:
        auth = get_context().auth
        return auth is None or cookie_user(self, auth) is not None

    def refuse(self) -> None:
        self.set_status(401)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("log in first\n")

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(message + "\n")


class HealthHandler(_Guarded):
    """``GET /healthz``: 200 when database, job tables and object store answer, else 503."""

    async def get(self) -> None:
        try:
            get_context()  # under `panel serve` the first request connects
        except MediamlError as exc:
            health, detail = Health({"database": f"does not answer: {exc}"}), False
        else:
            detail = self.allowed()
            health = await loop_health.check(details=detail)
        self.set_status(200 if health.ok else 503)
        self.set_header("Cache-Control", "no-store")
        self.finish(health.detail() if detail else health.public())


class _FileHandler(_Guarded, StaticFileHandler):
    """A static file handler (Range, ETag, HEAD) behind the login, rooted at
    :meth:`default_root` unless the route gives a ``path``."""

    def initialize(
        self,
        path: str = "",
        default_filename: str | None = None,
        allowed_symlink_directory: str | list[str] | None = None,
    ) -> None:
        super().initialize(
            path or str(self.default_root()), default_filename, allowed_symlink_directory
        )

    def default_root(self) -> Path:
        raise NotImplementedError


class MediaHandler(_FileHandler):
    """``GET /media/<key>``: a file of the local object store (what ``LocalStore.url``
    points at). With S3 the browser gets signed URLs instead and this route is unused."""

    def default_root(self) -> Path:
        return get_context().settings.media_dir

    async def get(self, path: str, include_body: bool = True) -> None:
        if not self.allowed():
            return self.refuse()
        if not isinstance(get_store(), LocalStore):
            return self.fail(404, "media are served from the object store's signed URLs")
        try:
            validate_key(path)
        except StorageError as exc:
            return self.fail(404, str(exc))
        await super().get(path, include_body)


class PlaybackHandler(_FileHandler):
    """``GET /playback/<clip id>.mp4``: the clip's temp clip, cut on first request."""

    def default_root(self) -> Path:
        return get_context().settings.playback_cache_dir

    async def get(self, path: str, include_body: bool = True) -> None:
        if not self.allowed():
            return self.refuse()
        clip_id = path.removesuffix(".mp4")
        if not CLIP_ID.fullmatch(clip_id):
            return self.fail(404, f"{path!r} is not a clip; use /playback/<clip id>.mp4")
        try:
            file = await IOLoop.current().run_in_executor(None, temp_clip_path, int(clip_id))
        except (NotFoundError, MediaError) as exc:
            log.warning("playback of clip %s: %s", clip_id, exc)
            return self.fail(404, str(exc))
        await super().get(file.name, include_body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # A cache file evicted between the cut and the read: say so instead of a page.
        self.finish(f"temp clip unavailable ({status_code}); reload the page\n")


def _to_review() -> list[tuple[str, Any, dict[str, Any]]]:
    return [(r"/", RedirectHandler, {"url": "review"})]


_ROUTES: list[tuple[str, Any, dict[str, Any]]] = [
    (r"/healthz", HealthHandler, {}),
    (r"/media/(.+)", MediaHandler, {}),
    (r"/playback/(.+)", PlaybackHandler, {}),
]


def routes(*, index: bool = True) -> list[tuple[str, Any, dict[str, Any]]]:
    """Every extra route of the dashboard server (``index`` adds ``/`` -> ``/review``)."""
    return [*_ROUTES, *_feature_routes(), *(_to_review() if index else [])]


def _feature_routes() -> list[tuple[str, Any, dict[str, Any]]]:
    """Routes of dashboard features living in their own modules (uploads, reels)."""
    from dashboards.reels import reel_routes
    from dashboards.uploads import upload_routes

    return [*upload_routes(), *reel_routes()]


plugged_in = False  # set when `panel serve --plugins dashboards.routes` loaded us


def panel_serve_routes() -> list[tuple[str, Any, dict[str, Any]]]:
    """The routes ``panel serve --plugins dashboards.routes`` adds, with logins wired in.

    Connects at start-up like ``mediaml serve``. With logins on, adds ``/login`` and
    ``/logout`` with mediaml's users and backoff and sets the cookie secret Panel signs
    sessions with; the pages check the login themselves (``dashboards/app.py``).

    Raises:
        SystemExit: one line when the settings or database are unusable, or when
            ``panel serve`` was given its own login options besides mediaml's.
    """
    global plugged_in
    try:
        ctx = get_context()
    except MediamlError as exc:
        raise SystemExit(f"mediaml: {exc}") from None
    extra: list[tuple[str, Any, dict[str, Any]]] = []
    if ctx.auth is not None:
        if pn.config.basic_auth or pn.config.oauth_provider:
            raise SystemExit(
                "mediaml: logins come from MEDIAML_AUTH_USERS; start `panel serve` without "
                "--basic-auth/--oauth-provider (or use `mediaml serve`)"
            )
        if not pn.config.cookie_secret:
            pn.config.cookie_secret = ctx.auth.cookie_secret  # type: ignore[misc]
        extra = [
            (LOGIN_URL, login_handler(ctx.auth, ctx.limiter), {}),
            (LOGOUT_URL, logout_handler(), {}),
        ]
    plugged_in = True
    return [*_ROUTES, *_feature_routes(), *extra]


def __getattr__(name: str) -> Any:
    # Panel reads ROUTES once, while `panel serve` starts: build them then.
    if name == "ROUTES":
        return panel_serve_routes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
