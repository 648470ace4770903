"""Dashboard logins: who may use it, and who the reviewer is.

Production requires a login (Panel's basic auth provider with users from
``MEDIAML_AUTH_USERS``, cookies signed with ``SECRET_KEY_BASE``) and refuses to start
without either. In development the dashboard is open unless ``MEDIAML_AUTH_USERS`` is
set; the reviewer's name then comes from the ``reviewer`` query parameter or a text
field, defaulting to ``$USER``.

With logins on, every action (review, undo, claims, retry) is recorded under the login
the server authenticated for the session (:class:`Identity`), never under a name a
widget holds: widget values come from the browser and can be set by any script there.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import panel as pn
from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler, _validate_next_url
from panel.io.resources import CDN_DIST, _env
from tornado.escape import url_escape
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

from mediaml.config import Settings
from mediaml.errors import ConfigError, ReviewError

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
LOGIN_URL = "/login"
LOGOUT_URL = "/logout"


class AuthError(ReviewError):
    """An action was attempted without the login it needs (shown like any refused
    review action; nothing is written)."""


@dataclass(frozen=True)
class AuthConfig:
    """Logins and the secret that signs the session cookie."""

    users: dict[str, str] = field(repr=False)
    cookie_secret: str = field(repr=False)


def parse_users(value: str) -> dict[str, str]:
    """Parse ``MEDIAML_AUTH_USERS``: ``user:password`` pairs separated by commas, or the
    path of a JSON file holding ``{"user": "password"}``.

    Raises:
        ConfigError: a pair without a colon, an empty name or password, or an unreadable
            or malformed JSON file (the message never shows a password).
    """
    text = value.strip()
    if ":" not in text:  # every user:password pair has a colon; a path has none
        path = Path(text).expanduser()
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"MEDIAML_AUTH_USERS points at {path}, which is not a readable JSON file "
                f"({type(exc).__name__})"
            ) from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k and v for k, v in data.items()
        ):
            raise ConfigError(
                f"MEDIAML_AUTH_USERS file {path} must hold an object of user name -> password"
            )
        users = dict(data)
    else:
        users = {}
        for n, pair in enumerate(text.split(","), 1):
            name, sep, password = pair.strip().partition(":")
            if not sep or not name.strip() or not password:
                raise ConfigError(
                    f"MEDIAML_AUTH_USERS entry {n} is not 'user:password' "
                    "(pairs separated by commas)"
                )
            users[name.strip()] = password
    if not users:
        raise ConfigError("MEDIAML_AUTH_USERS names no users")
    return users


def auth_config(settings: Settings) -> AuthConfig | None:
    """The login configuration for ``settings`` (None: development without logins).

    Raises:
        ConfigError: production without ``MEDIAML_AUTH_USERS`` or ``SECRET_KEY_BASE``, or
            a malformed user list.
    """
    if settings.production:
        missing = [
            name
            for name, value in (
                ("MEDIAML_AUTH_USERS", settings.auth_users),
                ("SECRET_KEY_BASE", settings.secret_key_base),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "the dashboard needs a login in production: set " + " and ".join(missing)
            )
    if not settings.auth_users:
        return None
    # A development login without SECRET_KEY_BASE gets a per-process secret: sessions
    # then end when the server restarts, which is fine on a laptop.
    secret = settings.secret_key_base or secrets.token_urlsafe(48)
    return AuthConfig(parse_users(settings.auth_users), secret)


@dataclass(frozen=True)
class Identity:
    """Who acts in one dashboard session.

    Attributes:
        login: the user the server authenticated when the session opened (from the
            signed session cookie), or None when nobody is logged in.
        required: logins are on, so acting without one is refused.
    """

    login: str | None
    required: bool

    def actor(self, typed: str = "") -> str:
        """The name to record for an action: the login when logins are on (whatever
        ``typed``, a widget's value, says), else ``typed``.

        Raises:
            AuthError: logins are on and this session has none.
        """
        if self.required:
            if not self.login:
                raise AuthError("log in first: this session has no login")
            return self.login
        return typed


# -- login attempts ---------------------------------------------------------------------


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginLimiter:
    """Failed-login backoff per user name and per client address.

    The first ``free`` failures of a key cost nothing; each failure after that locks the
    key for ``base_delay`` seconds, doubling per further failure up to ``max_delay``. A
    successful login clears its user and address. A login is refused while either its
    user or its address is locked, so guessing one user's password from many addresses,
    or many users' passwords from one address, both slow down.
    """

    MAX_KEYS = 10_000

    def __init__(
        self,
        *,
        free: int = 5,
        base_delay: float = 30.0,
        max_delay: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base_delay, self.max_delay = free, base_delay, max_delay
        self.clock = clock
        self._keys: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys_of(user: str, address: str) -> tuple[str, str]:
        return f"user:{user.strip().lower()}", f"address:{address}"

    def wait(self, user: str, address: str) -> float:
        """Seconds until ``user`` may try again from ``address`` (0: now)."""
        now = self.clock()
        with self._lock:
            return max(
                (
                    max(0.0, f.locked_until - now)
                    for k in self._keys_of(user, address)
                    if (f := self._keys.get(k)) is not None
                ),
                default=0.0,
            )

    def failed(self, user: str, address: str) -> float:
        """Record a failed attempt; returns the lockout it caused (0: none yet)."""
        now = self.clock()
        locked = 0.0
        with self._lock:
            if len(self._keys) >= self.MAX_KEYS:
                self._forget_idle(now)
            for key in self._keys_of(user, address):
                f = self._keys.setdefault(key, _Failures())
                f.count += 1
                f.last = now
                if f.count > self.free:
                    delay = min(self.max_delay, self.base_delay * 2 ** (f.count - self.free - 1))
                    f.locked_until = max(f.locked_until, now + delay)
                    locked = max(locked, f.locked_until - now)
        return locked

    def succeeded(self, user: str, address: str) -> None:
        """Forget the failures of ``user`` and ``address``."""
        with self._lock:
            for key in self._keys_of(user, address):
                self._keys.pop(key, None)

    def _forget_idle(self, now: float) -> None:
        idle = [
            k
            for k, f in self._keys.items()
            if f.locked_until < now and now - f.last > self.max_delay
        ]
        for key in (
            idle or sorted(self._keys, key=lambda k: self._keys[k].last)[: len(self._keys) // 2]
        ):
            del self._keys[key]


# -- the login provider (mediaml serve and panel serve) ----------------------------------

USER_COOKIE = "user"


def cookie_user(handler: RequestHandler, auth: AuthConfig) -> str | None:
    """The user named by the request's signed session cookie, if it is still a user."""
    raw = handler.get_secure_cookie(USER_COOKIE, max_age_days=pn.config.oauth_expiry)
    if not raw:
        return None
    name = raw.decode("utf-8", "replace")
    return name if name in auth.users else None


def check_password(auth: AuthConfig, user: str, password: str) -> bool:
    """Whether ``password`` is ``user``'s (compared in constant time)."""
    expected = auth.users.get(user)
    supplied = password.encode("utf-8")
    if expected is None:
        hmac.compare_digest(supplied, supplied)  # same work for unknown users
        return False
    return hmac.compare_digest(expected.encode("utf-8"), supplied)


def login_handler(
    auth: AuthConfig, limiter: LoginLimiter, template: Path = TEMPLATES / "login.html"
) -> type[RequestHandler]:
    """The ``/login`` handler: Panel's login form and cookie, our users, and backoff."""
    page = _env.from_string(template.read_text("utf-8"))

    class LoginHandler(BasicLoginHandler):
        _login_template = page

        def _validate(self, username: str, password: str) -> bool:
            return check_password(auth, username, password)

        def post(self) -> None:
            user = self.get_argument("username", "")
            address = self.request.remote_ip or "unknown"
            if self.request.headers.get("Sec-Fetch-Site") == "cross-site":
                # A form on another site logging this browser in as its own user (login
                # CSRF): the reviewer's verdicts would be recorded under that name.
                log.warning("login for %r from %s refused: posted from another site", user, address)
                self.set_status(403)
                self.finish("log in from this site's own login page\n")
                return
            wait = limiter.wait(user, address)
            if wait > 0:
                log.warning("login for %r from %s refused: locked for %.0f s", user, address, wait)
                return self._refuse(wait)
            if check_password(auth, user, self.get_argument("password", "")):
                limiter.succeeded(user, address)
                self.set_current_user(user)
                self.redirect(_validate_next_url(self.get_cookie("next_url", pn.state.base_url)))
                return
            locked = limiter.failed(user, address)
            log.warning("failed login for %r from %s", user, address)
            if locked:
                return self._refuse(locked)
            self.redirect(
                self.request.path + "?error=" + url_escape("Invalid username or password!")
            )

        def _refuse(self, wait: float) -> None:
            seconds = math.ceil(wait)
            self.set_status(429)
            self.set_header("Retry-After", str(seconds))
            self.finish(
                page.render(
                    login_endpoint=self._login_endpoint,
                    errormessage=f"Too many failed logins: try again in {seconds} s.",
                    PANEL_CDN=CDN_DIST,
                )
            )

    LoginHandler._login_endpoint = LOGIN_URL
    return LoginHandler


def logout_handler(template: Path = TEMPLATES / "logout.html") -> type[RequestHandler]:
    """The ``/logout`` handler (clears the session cookie)."""

    class Logout(LogoutHandler):
        _logout_template = _env.from_string(template.read_text("utf-8"))
        _login_endpoint = LOGIN_URL

    return Logout


class MediamlAuthProvider(BasicAuthProvider):
    """Panel's basic login with mediaml's users, login backoff, and cookies that stop
    working when their user is removed from ``MEDIAML_AUTH_USERS``."""

    def __init__(self, auth: AuthConfig, limiter: LoginLimiter) -> None:
        self._auth = auth
        self._login = login_handler(auth, limiter)
        self._logout = logout_handler()
        super().__init__(login_endpoint=LOGIN_URL, logout_endpoint=LOGOUT_URL)

    @property
    def get_user(self) -> Any:
        def get_user(handler: RequestHandler) -> str | None:
            user = cookie_user(handler, self._auth)
            if user and isinstance(handler, WebSocketHandler):
                pn.state._active_users[user] += 1  # Panel counts them down on close
            return user

        return get_user

    @property
    def login_handler(self) -> type[RequestHandler]:
        return self._login

    @property
    def logout_handler(self) -> type[RequestHandler]:
        return self._logout
