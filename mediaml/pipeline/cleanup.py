"""Playback cache cleanup: age limit, size limit (least recently used first), disk space.
The same run applies the object cache's limits (:mod:`mediaml.storage.cache`).

:func:`plan_cleanup` is pure (files and the time in, files to delete out) so the rules are
tested exactly; :func:`cleanup_playback_cache` does the I/O and logs one line per run.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mediaml.config import Settings
from mediaml.storage.cache import object_cache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedFile:
    """A file in the playback cache; ``last_used`` is its mtime (touched on every hit)."""

    path: Path
    size: int
    last_used: float


@dataclass
class CleanupStats:
    """What one cleanup run did."""

    files_before: int = 0
    bytes_before: int = 0
    removed_old: int = 0
    removed_lru: int = 0
    bytes_freed: int = 0
    files_after: int = 0
    bytes_after: int = 0
    free_disk_bytes: int = 0
    low_disk: bool = False
    stale_work_dirs: int = 0
    object_cache: dict[str, int | float] = field(default_factory=dict)

    def line(self) -> str:
        """The one log line per run that operators look for."""
        return (
            f"playback cache cleanup: removed {self.removed_old} expired + {self.removed_lru} "
            f"least recently used ({self.bytes_freed / 1e6:.1f} MB); now {self.files_after} "
            f"files, {self.bytes_after / 1e6:.1f} MB; free disk {self.free_disk_bytes / 1e9:.2f} GB"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_cleanup(
    files: list[CachedFile], now: float, max_age: float, max_bytes: int
) -> tuple[list[CachedFile], list[CachedFile]]:
    """Decide what to delete.

    Returns:
        ``(expired, evicted)``: files older than ``max_age`` seconds, then — among the
        rest, least recently used first — as many as needed to bring the total to at most
        ``max_bytes``.
    """
    expired = [f for f in files if now - f.last_used > max_age]
    keep = sorted((f for f in files if f not in expired), key=lambda f: f.last_used)
    total = sum(f.size for f in keep)
    evicted = []
    for f in keep:
        if total <= max_bytes:
            break
        evicted.append(f)
        total -= f.size
    return expired, evicted


def scan(directory: Path) -> list[CachedFile]:
    """Every regular file under ``directory``."""
    found = []
    for path in directory.rglob("*") if directory.exists() else ():
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if path.is_file():
            found.append(CachedFile(path, st.st_size, st.st_mtime))
    return found


def cleanup_playback_cache(settings: Settings, now: float | None = None) -> CleanupStats:
    """Apply the cache rules to ``settings.playback_cache_dir`` and warn on low disk."""
    now = time.time() if now is None else now
    directory = settings.playback_cache_dir
    files = scan(directory)
    stats = CleanupStats(files_before=len(files), bytes_before=sum(f.size for f in files))
    expired, evicted = plan_cleanup(
        files, now, settings.playback_cache_max_age, settings.playback_cache_max_bytes
    )
    for f in (*expired, *evicted):
        try:
            f.path.unlink()
        except FileNotFoundError:
            continue
        stats.bytes_freed += f.size
    stats.removed_old, stats.removed_lru = len(expired), len(evicted)
    stats.files_after = stats.files_before - len(expired) - len(evicted)
    stats.bytes_after = stats.bytes_before - stats.bytes_freed
    stats.stale_work_dirs = _remove_stale_work_dirs(settings, now)
    cache = object_cache(settings).make_room(now=now)
    stats.object_cache = cache.as_dict()
    directory.mkdir(parents=True, exist_ok=True)
    stats.free_disk_bytes = shutil.disk_usage(directory).free
    stats.low_disk = stats.free_disk_bytes < settings.min_free_disk_bytes
    log.info(stats.line())
    log.info("object cache cleanup: %s", cache.line())
    if stats.low_disk:
        log.warning(
            "free disk is %.0f MB, below MEDIAML_MIN_FREE_DISK_BYTES (%.0f MB) on %s",
            stats.free_disk_bytes / 1e6,
            settings.min_free_disk_bytes / 1e6,
            directory,
        )
    return stats


def _remove_stale_work_dirs(settings: Settings, now: float) -> int:
    """Scratch dirs of steps killed mid-way (older than two leases)."""
    work = settings.cache_dir / "work"
    removed = 0
    for d in work.iterdir() if work.exists() else ():
        try:
            if now - d.stat().st_mtime > 2 * settings.lease_seconds:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def touch(path: Path) -> None:
    """Mark a cached file as just used (the LRU rule reads mtime)."""
    os.utime(path)
