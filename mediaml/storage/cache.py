"""The local object cache: copies of stored objects under ``<cache dir>/objects``.

Stages on one worker reuse these copies instead of downloading an object again. The
cache is bounded like the playback cache: copies unused for ``max_age`` seconds go, and
least recently used copies go until the total is at most ``max_bytes``. Space is made
before a copy is added, and again by the periodic cleanup job.

A copy in use is never evicted. Code that uses a path from the cache holds it inside
:meth:`ObjectCache.pinned` (the pipeline runner does so around every step): each copy
looked up or added there is held with a shared ``flock`` until the block ends, and
eviction only deletes a file it can lock exclusively. The locks are seen by every
process on the machine (workers, the web process, notebooks).

The cap's contract: after each addition or cleanup the copies total at most
``max_bytes``, plus whatever copies in use kept the cache from getting there.
:meth:`ObjectCache.usage` counts between additions and evictions made in this process,
never in the middle of one: a plain walk of the directory that overlaps an addition
can count the copy it evicted and the copy it added, and report more than was ever
there at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from mediaml.config import SETTINGS_BY_NAME, Settings
from mediaml.files import atomic_path

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class CacheUsage:
    """Files and bytes in the cache against its limits, and what a cleanup removed."""

    files: int = 0
    bytes: int = 0
    max_bytes: int = 0
    max_age: float = 0.0
    pinned: int = 0
    removed_old: int = 0
    removed_lru: int = 0
    bytes_freed: int = 0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)

    def line(self) -> str:
        """One line for logs, the status page and ``/healthz``."""
        return (
            f"{self.files} files, {self.bytes / 1e6:.1f} MB of {self.max_bytes / 1e6:.0f} MB"
            f" ({self.pinned} in use)"
        )


class ObjectCache:
    """Bounded local copies of stored objects, keyed by object key.

    Args:
        root: the cache directory (``<cache dir>/objects``).
        max_bytes: total size above which least recently used copies are evicted.
        max_age: seconds a copy may go unused before it is evicted.
    """

    def __init__(
        self, root: Path, *, max_bytes: int | None = None, max_age: float | None = None
    ) -> None:
        self.root = Path(root)
        self.max_bytes = _default("MEDIAML_OBJECT_CACHE_MAX_BYTES", int, max_bytes)
        self.max_age = _default("MEDIAML_OBJECT_CACHE_MAX_AGE", float, max_age)
        self._local = threading.local()
        # admit holds it across make_room and the add; usage holds it to count
        self._evicting = _lock_of(self.root)

    def path(self, key: str) -> Path:
        """Where the copy of ``key`` lives (``key`` must already be validated)."""
        return self.root / key

    # -- pins ------------------------------------------------------------------------

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Hold every copy looked up or added in this thread until the block ends."""
        outer = getattr(self._local, "pins", None)
        self._local.pins = [] if outer is None else outer
        try:
            yield
        finally:
            if outer is None:
                for fd in self._local.pins:
                    os.close(fd)  # closing releases the flock
                self._local.pins = None

    def _pin(self, path: Path) -> bool:
        """Take a shared lock on ``path`` for the current pin scope; False when the file
        was evicted meanwhile (the caller treats that as a miss)."""
        pins = getattr(self._local, "pins", None)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            # Eviction unlinks under an exclusive lock: after waiting for it, check the
            # name still points at the file we locked.
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise FileNotFoundError(path)
        except FileNotFoundError:
            os.close(fd)
            return False
        if pins is None:
            os.close(fd)  # not in a pin scope: nothing to hold
        else:
            pins.append(fd)
        return True

    # -- lookups and additions ----------------------------------------------------------

    def lookup(self, key: str) -> Path | None:
        """The copy of ``key`` (marked as just used and pinned), or None."""
        path = self.path(key)
        if not self._pin(path):
            return None
        with suppress(FileNotFoundError):
            os.utime(path)
        return path

    def admit(self, source: Path, key: str, *, move: bool = False, link: bool = False) -> Path:
        """Add ``source`` as the copy of ``key`` (moved, hard-linked or copied), making
        room first, and return the pinned copy."""
        size = source.stat().st_size
        # Room and addition as one step: two threads admitting at once must not both
        # count on the same free space.
        with self._evicting:
            self.make_room(size)
            dest = self.path(key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if move:
                os.replace(source, dest)
            else:
                with atomic_path(dest) as part:
                    if link:
                        with suppress(OSError):  # another file system: copy instead
                            os.link(source, part)
                            os.utime(part)  # just added: last in line for eviction
                    if not part.exists():
                        shutil.copyfile(source, part)
            self._pin(dest)
        return dest

    # -- eviction -------------------------------------------------------------------------

    def _scan(self) -> list[tuple[Path, int, float]]:
        found = []
        for path in self.root.rglob("*") if self.root.exists() else ():
            if path.name.startswith("."):
                continue  # a copy being written (see mediaml.files.atomic_path)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                found.append((path, st.st_size, st.st_mtime))
        return found

    def make_room(self, incoming: int = 0, now: float | None = None) -> CacheUsage:
        """Evict expired copies, then least recently used ones until the cache plus
        ``incoming`` bytes fits ``max_bytes``; copies in use stay.

        Returns:
            The cache's usage afterwards and what was removed.
        """
        now = time.time() if now is None else now
        with self._evicting:
            files = sorted(self._scan(), key=lambda f: f[2])
            usage = CacheUsage(max_bytes=self.max_bytes, max_age=self.max_age)
            total = sum(size for _p, size, _m in files)
            for path, size, mtime in files:
                expired = now - mtime > self.max_age
                if not expired and total + incoming <= self.max_bytes:
                    continue
                if not _evict(path):
                    usage.pinned += 1
                    continue
                total -= size
                usage.bytes_freed += size
                if expired:
                    usage.removed_old += 1
                else:
                    usage.removed_lru += 1
            removed = usage.removed_old + usage.removed_lru
            usage.files, usage.bytes = len(files) - removed, total
        if removed:
            log.info(
                "object cache: removed %d expired + %d least recently used (%.1f MB); now %s",
                usage.removed_old,
                usage.removed_lru,
                usage.bytes_freed / 1e6,
                usage.line(),
            )
        return usage

    def usage(self) -> CacheUsage:
        """Files and bytes now in the cache (nothing is removed), counted between two
        additions or evictions made in this process, not during one."""
        with self._evicting:
            files = self._scan()
        return CacheUsage(
            files=len(files),
            bytes=sum(size for _p, size, _m in files),
            max_bytes=self.max_bytes,
            max_age=self.max_age,
        )

    def discard(self, key: str) -> None:
        """Drop the copy of ``key`` (the object was deleted from the store)."""
        self.path(key).unlink(missing_ok=True)


def object_cache(settings: Settings) -> ObjectCache:
    """The object cache of this machine, with the limits ``settings`` give."""
    return ObjectCache(
        settings.cache_dir / "objects",
        max_bytes=settings.object_cache_max_bytes,
        max_age=settings.object_cache_max_age,
    )


_LOCKS: dict[Path, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_of(root: Path) -> threading.RLock:
    """The one lock of the cache at ``root`` in this process, shared by every
    `ObjectCache` on it (the store's, the cleanup job's)."""
    key = Path(os.path.abspath(root))
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())


def _default(name: str, kind: Callable[[str], T], value: T | None) -> T:
    """``value``, else the setting's documented default (settings live in one table)."""
    if value is not None:
        return value
    default = SETTINGS_BY_NAME[name].default
    assert default is not None
    return kind(default)


def _evict(path: Path) -> bool:
    """Delete ``path`` unless someone holds it; True when it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)
