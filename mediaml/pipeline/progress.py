"""Progress of a long step on one video: a log line every 10 %, a database write every
few percent.

FFmpeg reports its position about twice a second and downloads report every chunk;
neither is worth a log line or a database write each time. `StageProgress` turns those
reports into a line per 10 % step (``encode video 7: 40 %``) for the operator, and into
``source_videos.progress`` updates at most every `DB_STEP` (and never more often than
`DB_MIN_INTERVAL` seconds) for the dashboard's ingest page to poll.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from mediaml.db import Database

log = logging.getLogger("mediaml.progress")

LOG_STEP = 0.10
"""A log line each time progress crosses a multiple of this."""
DB_STEP = 0.05
"""The stored progress moves in steps of at least this much (or reaches 1)."""
DB_MIN_INTERVAL = 0.5
"""Seconds between two database writes of one item's progress."""


class StageProgress:
    """Callable progress sink for stage ``stage`` of video ``video_id``.

    Call it with the fraction done (0..1); it may be called from any thread (FFmpeg's
    stderr reader, a download loop). Writes only while this node still holds the item's
    lease, so a late report from an abandoned run never overwrites a newer one.

    Args:
        db: where ``source_videos.progress`` lives (None: log only).
        video_id: the video.
        stage: ``download`` or ``encode`` (used in log lines).
        node: the lease owner of this run.
    """

    def __init__(self, db: Database | None, video_id: int, stage: str, node: str) -> None:
        self.db, self.video_id, self.stage, self.node = db, video_id, stage, node
        self._lock = threading.Lock()
        self._logged = -1
        self._stored = -1.0
        self._stored_at = 0.0

    def start(self) -> None:
        """Record that the stage has started (progress 0)."""
        self._store(0.0, force=True)

    def __call__(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        with self._lock:
            step = int(fraction / LOG_STEP + 1e-9)
            if step > self._logged:
                self._logged = step
                if step > 0:
                    log.info(
                        "%s video %s: %d %%",
                        self.stage,
                        self.video_id,
                        round(step * LOG_STEP * 100),
                    )
            due = fraction >= 1.0 or (
                fraction - self._stored >= DB_STEP
                and time.monotonic() - self._stored_at >= DB_MIN_INTERVAL
            )
            if not due or fraction <= self._stored:
                return
            self._stored, self._stored_at = fraction, time.monotonic()
        self._store(fraction)

    def bytes(self, done: int, total: int | None) -> None:
        """Adapter for download callbacks ``(bytes so far, total or None)``."""
        if total:
            self(done / total)

    def _store(self, fraction: float, *, force: bool = False) -> None:
        if self.db is None:
            return
        if force:
            with self._lock:
                self._stored, self._stored_at = fraction, time.monotonic()
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "UPDATE source_videos SET progress = %s WHERE id = %s AND lease_owner = %s",
                    (round(fraction, 3), self.video_id, self.node),
                )
        except psycopg.Error as exc:  # progress is a nicety: never fail the stage for it
            log.warning("could not record progress of video %s: %s", self.video_id, exc)
