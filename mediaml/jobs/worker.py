"""The worker process: one Huey consumer per selected queue, the scheduler where enabled,
and a shutdown that never strands work.

On SIGTERM (Render sends it on every deploy) or SIGINT the worker stops taking messages,
gives running tasks ``MEDIAML_SHUTDOWN_GRACE`` seconds, stops any FFmpeg they started,
puts every item it still holds back in its ready state and queues it again, then exits.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

import psutil
from huey.consumer import Consumer

from mediaml.config import QUEUE_CONCURRENCY, QUEUE_NAMES, Settings, set_settings
from mediaml.db import connect
from mediaml.db.database import resolve_url
from mediaml.embed.policy import require_model
from mediaml.errors import ConfigError

log = logging.getLogger("mediaml.worker")

REPEAT_REPORT_SECONDS = 60.0
"""How often a failure that repeats in a loop (reading a queue while the database is
down) is logged again, with how many times it happened in between."""


class RepeatedErrors(logging.Filter):
    """Logs the first of a run of identical errors in full, then at most one line per
    :data:`REPEAT_REPORT_SECONDS` saying how many were left out.

    While the database is down, every Huey consumer thread fails to read its queue each
    time it polls (every 2 s at most, dozens of threads): about 40 tracebacks a second,
    gigabytes of log over a long outage, and the one line that says what is wrong lost
    among them.
    """

    def __init__(self, every: float = REPEAT_REPORT_SECONDS) -> None:
        super().__init__()
        self.every = every
        self._last: dict[tuple[str, str], float] = {}
        self._skipped: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.every:
                self._skipped[key] = self._skipped.get(key, 0) + 1
                return False
            self._last[key] = now
            skipped = self._skipped.pop(key, 0)
        if skipped:
            record.msg = f"{record.msg} ({skipped} more in the last {self.every:.0f} s)"
        return True


_REPEATED = RepeatedErrors()
# Huey's consumer loops: "Error reading from queue", "Error reading schedule."
QUEUE_LOOP_LOGGERS = ("huey.consumer.Worker", "huey.consumer.Scheduler")


class Worker:
    """Consumers for ``settings.queues``; call :meth:`run` from the main thread."""

    def __init__(self, settings: Settings) -> None:
        from mediaml.jobs import HUEYS

        if not settings.queues:
            raise ConfigError(
                "MEDIAML_QUEUES is not set: in production choose the queues this process "
                f"consumes (web: default; workers: {','.join(QUEUE_NAMES[1:])})"
            )
        self.settings = settings
        set_settings(settings)
        for name in QUEUE_LOOP_LOGGERS:
            logging.getLogger(name).addFilter(_REPEATED)
        self.url, self.source = resolve_url(settings)
        connect(self.url, settings=settings, source=self.source)  # migrations on boot
        self.stop_event = threading.Event()
        self.consumers = {
            q: Consumer(
                HUEYS[q],
                workers=QUEUE_CONCURRENCY[q],
                worker_type="thread",
                periodic=False,
                check_worker_health=True,
                initial_delay=0.1,
                max_delay=2.0,
            )
            for q in settings.queues
        }
        self.scheduler = None
        if settings.scheduler:
            from mediaml.jobs.scheduler import Scheduler, default_jobs

            self.scheduler = Scheduler(settings, self.url, default_jobs(settings))

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_event.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            raise SystemExit(1)
        log.info("received %s: shutting down", signal.Signals(signum).name)
        self.stop_event.set()

    def start(self) -> None:
        """Start consumers (and the scheduler) without blocking.

        Raises:
            ConfigError: the embedding model cannot be loaded (no work is taken then).
        """
        # The model is decided and loaded before any message is taken, so a missing model
        # stops the boot with one line instead of failing every clip.
        model = require_model(self.settings)
        log.info("embedding model: %s", model.reason)
        for queue, consumer in self.consumers.items():
            consumer.start()
            log.info("consuming %s with %d workers", queue, consumer.workers)
        # Huey's consumers install their own handlers; ours decide how we stop.
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if self.scheduler is not None:
            self.scheduler.start()
        log.info(
            "worker up: consuming %s%s; scheduler %s; database %s",
            ", ".join(self.settings.queues),
            " (every queue)" if set(self.settings.queues) == set(QUEUE_NAMES) else "",
            "on" if self.scheduler else "off",
            self.source,
        )

    def run(self) -> int:
        """Run until a signal arrives, then shut down cleanly. Returns the exit code."""
        self.start()
        next_health = time.monotonic() + 10
        while not self.stop_event.wait(0.5):
            if time.monotonic() >= next_health:
                for consumer in self.consumers.values():
                    consumer.check_worker_health()
                next_health = time.monotonic() + 10
        self.shutdown()
        return 0

    def shutdown(self) -> None:
        """Stop taking work, wait for running tasks, release what is left."""
        from mediaml.jobs import tasks
        from mediaml.pipeline import runner
        from mediaml.pipeline.stages import stage_for_state

        runner.shutting_down.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        for consumer in self.consumers.values():
            consumer.stop_flag.set()
        deadline = time.monotonic() + self.settings.shutdown_grace
        threads = [t for c in self.consumers.values() for _, t in c.worker_threads]
        for t in threads:
            t.join(max(deadline - time.monotonic(), 0))
        busy = sum(t.is_alive() for t in threads)
        if busy:
            children = psutil.Process().children(recursive=True)
            log.warning(
                "grace period over: %d task(s) still running; stopping %d child process(es)",
                busy,
                len(children),
            )
            for child in children:
                child.kill()
            for t in threads:
                t.join(2)
        released = runner.release_held(tasks.context())
        for table, item_id in released:
            with tasks.get_db().transaction() as conn:
                row = conn.execute(
                    f"SELECT state FROM {table} WHERE id = %s", (item_id,)
                ).fetchone()
            stage = stage_for_state(table, row["state"]) if row else None
            if stage is not None:
                tasks.enqueue(stage, [item_id])
        if released:
            log.info("released and re-queued %d item(s): %s", len(released), released)
        stats = tasks.get_store().stats
        log.info(
            "object store operations: %s",
            ", ".join(f"{k}={v}" for k, v in sorted(stats.items())) or "none",
        )
        log.info("worker stopped")


def run_worker(settings: Settings) -> int:
    """Boot a worker for ``settings`` and block until it is told to stop."""
    return Worker(settings).run()
