"""``mediaml serve``: the review / explore / status dashboard."""

from __future__ import annotations

import sys

import click

from mediaml.cli import friendly_errors


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: PORT, else 5006).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--prefetch",
    type=click.IntRange(0, 20),
    default=3,
    show_default=True,
    help="Upcoming clips to cut ahead of each reviewer (0: cut on demand only).",
)
@friendly_errors
def serve(port: int | None, host: str, prefetch: int) -> None:
    """Serve the dashboard (review, explore, status) with /healthz and the media routes.

    In production (MEDIAML_ENV=production) a login is required: set MEDIAML_AUTH_USERS and
    SECRET_KEY_BASE. Queues are not consumed here; run `mediaml worker` beside it.

    \b
    Examples:
      mediaml serve                        http://127.0.0.1:5006/review
      mediaml serve --port 8080 --host 0.0.0.0
    """
    import logging

    from mediaml.config import get_settings

    # The launcher lives outside the library: mediaml never imports the dashboard package
    # at import time, only here, when asked to serve it.
    from runners.web import serve as run_web

    settings = get_settings()
    logging.getLogger().setLevel(settings.log_level)
    sys.exit(run_web(settings, port=port or settings.port, host=host, prefetch=prefetch))
