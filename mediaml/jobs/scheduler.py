"""The periodic scheduler: queues the dispatcher and the playback cache cleanup.

It runs only where ``MEDIAML_SCHEDULER`` says (see :func:`mediaml.config.parse_scheduler`).
The jobs are queued onto their own queues (``background_jobs``, ``maintenance``) and run
wherever those queues are consumed. Should two scheduler nodes exist by mistake, a
PostgreSQL advisory lock lets only one of them tick; the other waits as a standby (and
the dispatcher is idempotent anyway).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import psycopg

from mediaml.config import Settings

log = logging.getLogger("mediaml.scheduler")

LEADER_LOCK = 0x6D6D_7363_6865_64  # "mmsched"

# The periodic jobs, as data: task name (in mediaml.jobs.tasks) -> the setting holding its
# interval. The status page lists its "last periodic runs" from this table.
PERIODIC_JOBS: Mapping[str, str] = {
    "dispatcher": "dispatch_interval",
    "playback_cache_cleanup": "cleanup_interval",
    "update_maps": "map_interval",
}


@dataclass
class PeriodicJob:
    """A job queued every ``interval`` seconds."""

    name: str
    interval: float
    send: Callable[[], object]
    next_at: float = 0.0


class Scheduler(threading.Thread):
    """Queues each periodic job on time while holding the leader lock."""

    def __init__(self, settings: Settings, url: str, jobs: list[PeriodicJob]) -> None:
        super().__init__(name="mediaml-scheduler", daemon=True)
        self.settings, self.url, self.jobs = settings, url, jobs
        self.stop_event = threading.Event()
        self.leader = False
        self._conn: psycopg.Connection | None = None

    def _try_lead(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.url, autocommit=True)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
            return bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("scheduler could not reach the database: %s", exc)
            self._conn = None
            return False

    def tick(self, now: float) -> list[str]:
        """Queue every job that is due at ``now``; returns their names."""
        sent = []
        for job in self.jobs:
            if now >= job.next_at:
                try:
                    job.send()
                    sent.append(job.name)
                    log.info("scheduler: queued %s (every %gs)", job.name, job.interval)
                except Exception as exc:  # keep ticking; the next tick retries
                    log.error("scheduler could not queue %s: %s", job.name, exc)
                job.next_at = now + job.interval
        return sent

    def run(self) -> None:
        while not self.stop_event.is_set():
            if not self.leader:
                self.leader = self._try_lead()
                if self.leader:
                    log.info("scheduler: this node is the scheduler leader")
                else:
                    self.stop_event.wait(min(j.interval for j in self.jobs))
                    continue
            self.tick(time.monotonic())
            self.stop_event.wait(0.5)
        if self._conn is not None:
            self._conn.close()

    def stop(self) -> None:
        self.stop_event.set()


def default_jobs(settings: Settings) -> list[PeriodicJob]:
    """The dispatcher every minute, the cleanup and the explore maps every five (by default)."""
    from mediaml.jobs import tasks

    return [
        PeriodicJob(name, float(getattr(settings, interval)), getattr(tasks, name))
        for name, interval in PERIODIC_JOBS.items()
    ]
