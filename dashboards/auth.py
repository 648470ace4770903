"""Dashboard logins: who may use it, and who the reviewer is.

Production requires a login (Panel's basic auth provider with users from
``MEDIAML_AUTH_USERS``, cookies signed with ``SECRET_KEY_BASE``) and refuses to start
without either. In development the dashboard is open unless ``MEDIAML_AUTH_USERS`` is
set; the reviewer's name then comes from the ``reviewer`` query parameter or a text
field, defaulting to ``$USER``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from mediaml.config import Settings
from mediaml.errors import ConfigError


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
