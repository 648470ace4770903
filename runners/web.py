"""Web process: ``python -m runners.web`` (Render's web service).

Serves the dashboard (review, explore, status), ``/healthz`` and the media routes on
``PORT``, and consumes the queues in ``MEDIAML_QUEUES`` (``default`` on the web service,
which also runs the scheduler). Boot problems — production without logins, an unknown
queue, an unreachable database — stop it with one line naming what to fix.
``mediaml serve`` runs the dashboard alone.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from tornado.ioloop import IOLoop, PeriodicCallback

from mediaml.config import Settings

log = logging.getLogger("mediaml.web")


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
    from dashboards.server import make_server

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
    print(f"mediaml dashboard on http://{host}:{port}/review", flush=True)
    try:
        loop.start()
    finally:
        server.stop()
        if worker is not None:
            worker.shutdown()
    return 0


def main() -> int:
    """Boot checks, then serve on ``PORT`` (all interfaces) and consume the queues."""
    from runners.boot import boot

    return boot("web", lambda s: serve(s, port=s.port, host="0.0.0.0", consume=True))


if __name__ == "__main__":
    sys.exit(main())
