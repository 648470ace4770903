"""Web process: ``python -m runners.web`` (Render's web service).

Serves the dashboard (review, explore, status), ``/healthz`` and the media routes on
``PORT``, and consumes the queues in ``MEDIAML_QUEUES`` (``default`` on the web service,
which also runs the scheduler). Boot problems — production without logins, an unknown
queue, an unreachable database — stop it with one line naming what to fix.
``mediaml serve`` (the :func:`serve_command` below, registered with the ``mediaml``
command line through the ``mediaml.commands`` entry point) runs the dashboard alone.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
from types import FrameType

import click
from tornado.ioloop import IOLoop, PeriodicCallback

from mediaml.cli import friendly_errors
from mediaml.config import Settings

log = logging.getLogger("mediaml.web")
SWITCH_INTERVAL = 0.0005  # seconds; see serve()
# The search warm-up waits for this much quiet after the start (warm_after_start): longer
# than a user or a check takes from the server's first answer to its first page (the
# bench: a control server, 20 health checks and a Chromium launch, over 3 s here), and
# than the gaps between the pages of someone using the dashboard.
WALK_QUIET_SECONDS = 10.0
WALK_MAX_WAIT_SECONDS = 120.0


def serve(
    settings: Settings,
    *,
    port: int,
    host: str = "127.0.0.1",
    prefetch: int | None = None,
    consume: bool = False,
) -> int:
    """Run the dashboard until SIGTERM/SIGINT; with ``consume``, also the queue workers.

    Raises:
        ConfigError: production without ``MEDIAML_AUTH_USERS``/``SECRET_KEY_BASE``.
        DatabaseError: the database cannot be reached or migrated.
    """
    from dashboards.context import DEFAULT_PREFETCH
    from dashboards.server import make_server, warm_first_use

    server = make_server(
        settings,
        port=port,
        address=host,
        prefetch=DEFAULT_PREFETCH if prefetch is None else prefetch,
    )
    loop: IOLoop = server.io_loop
    worker = None
    if consume:
        from mediaml.jobs.worker import Worker

        worker = Worker(settings)
        worker.start()  # its signal handlers set worker.stop_event
        stop_event = worker.stop_event

        def stop_when_told() -> None:
            if stop_event.is_set():
                loop.stop()

        PeriodicCallback(stop_when_told, 250).start()
    else:

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            loop.add_callback_from_signal(loop.stop)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    # Temp clips live on this machine's disk, so this process keeps its own playback
    # cache in bounds even when the `maintenance` queue runs on another node.
    from mediaml.pipeline.cleanup import cleanup_playback_cache

    PeriodicCallback(
        lambda: loop.run_in_executor(None, cleanup_playback_cache, settings),
        settings.cleanup_interval * 1000,
    ).start()
    server.start()
    # A daemon thread: a server told to stop does not wait for the walk (at a million
    # clips it can take minutes at its low priority); the database ends the walk once
    # this process has gone (see mediaml/embed/warm.py). The explore page's map goes
    # first: the first page after a start needs it at once (at a million clips a
    # few seconds of reading), while the walk only makes searches faster.
    threading.Thread(
        target=warm_after_start, args=(settings,), name="mediaml-warm", daemon=True
    ).start()
    # What the first pages would import, imported now, before the freeze below.
    warm_first_use()
    # Everything loaded so far (Panel, Bokeh, pandas: ~280k objects) lives as long as the
    # process; a full collection, which Panel runs after each closed session, would walk
    # it all again on the event loop (~0.25 s of CPU each time) for nothing.
    gc.freeze()
    # Full collections (Panel's after each discarded session and Python's own) wait until
    # no page is being built (dashboards/collect.py).
    from dashboards.collect import start as collect_when_idle

    collect_when_idle()
    # Pages are prepared in worker threads (Python-heavy: widgets, Bokeh models). A
    # thread waiting for the GIL gets it after the holder's switch interval; at the
    # default 5 ms the event loop, which gives the GIL up at every socket call, would
    # wait that long again and again behind them.
    sys.setswitchinterval(SWITCH_INTERVAL)
    print(f"mediaml dashboard on http://{host}:{port}/review", flush=True)
    try:
        loop.start()
    finally:
        server.stop()
        if worker is not None:
            worker.shutdown()
    return 0


def warm_after_start(settings: Settings) -> None:
    """What the first pages after a start would read: the explore page's map and its
    first view (:func:`dashboards.server.warm_explore_map`), then the search indexes
    (:func:`warm_search_once`) once the server has been quiet for
    :data:`WALK_QUIET_SECONDS` (no page made, no request but the health check's), or
    after :data:`WALK_MAX_WAIT_SECONDS` whatever the traffic. The walk is one statement
    that cannot pause, and the first page after a start is often opened at once: at
    100k clips it shared that page's load with ~0.7 CPU-s of the walk. A failure is
    logged, not raised: the pages read what they need themselves."""
    from dashboards.collect import collector
    from dashboards.server import warm_explore_map

    start = time.perf_counter()
    try:
        warm_explore_map(settings)
    except Exception:
        log.warning("reading the explore map after start failed", exc_info=True)
    else:
        log.info("explore map read and drawn in %.1f s", time.perf_counter() - start)
    if not collector.wait_for_quiet(WALK_QUIET_SECONDS, WALK_MAX_WAIT_SECONDS):
        log.info("search warm-up starts while pages are in use (no quiet since the start)")
    warm_search_once()


def warm_search_once() -> None:
    """Load the search indexes and vectors into the database's memory after a start
    (:mod:`mediaml.embed.warm`), in a worker thread, in the background: on a database on
    this machine the walk (~15 CPU-seconds at a million clips) gives the CPU to the pages
    loaded meanwhile. A failure is logged, not raised: searches are only slower until
    their pages are read."""
    from mediaml.embed.warm import summary, warm_search

    start = time.perf_counter()
    try:
        report = warm_search(background=True)
    except Exception:
        log.warning("search warm-up failed; the first searches read from disk", exc_info=True)
        return
    log.info("search warm-up: %s in %.1f s", summary(report), time.perf_counter() - start)


@click.command("serve")
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
def serve_command(port: int | None, host: str, prefetch: int) -> None:
    """Serve the dashboard (review, explore, status) with /healthz and the media routes.

    In production (MEDIAML_ENV=production) a login is required: set MEDIAML_AUTH_USERS and
    SECRET_KEY_BASE. Queues are not consumed here; run `mediaml worker` beside it.

    \b
    Examples:
      mediaml serve                        http://127.0.0.1:5006/review
      mediaml serve --port 8080 --host 0.0.0.0
    """
    from mediaml.config import get_settings

    settings = get_settings()
    logging.getLogger().setLevel(settings.log_level)
    sys.exit(serve(settings, port=port or settings.port, host=host, prefetch=prefetch))


def main() -> int:
    """Boot checks, then serve on ``PORT`` (all interfaces) and consume the queues."""
    from runners.boot import boot

    return boot("web", lambda s: serve(s, port=s.port, host="0.0.0.0", consume=True))


if __name__ == "__main__":
    sys.exit(main())
