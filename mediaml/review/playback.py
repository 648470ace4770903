"""Temp clips for review playback: cut from the all-intra proxy on demand, cached locally.

A temp clip is a stream copy of the clip's frames from its video's proxy (every frame a
keyframe, so the cut is frame-exact and needs no re-encode). It lives in
``Settings.playback_cache_dir`` under a name made of the video id, clip id and frame
range, so a cache hit needs only a file check — no FFmpeg, no proxy. ``cut_clip`` writes
under a temporary name and renames into place, so a reader never sees half a clip. The
``temp_clips`` queue calls :func:`prefetch` for the clips reviewers will open next; the
maintenance queue's cleanup (``mediaml.pipeline.cleanup``) evicts old files by mtime,
which a hit refreshes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from mediaml.config import Settings, get_settings
from mediaml.db.database import Connection, Database, get_db
from mediaml.errors import MediaError, MediamlError, NotFoundError, StorageError
from mediaml.media import cut_clip
from mediaml.storage import get_store
from mediaml.storage.store import ObjectStore

log = logging.getLogger(__name__)

PREFETCH_NICE = 5
"""How far below the dashboard prefetch cuts run (POSIX niceness): the clip a reviewer
waits for, the page and the event loop come first. Not further: with the machine busy
encoding at normal priority, a cut at nice 10 gets about a tenth of an encode thread's
CPU share, and in a bench run at nice 10 a quarter of the clips were not cut in time."""


@dataclass(frozen=True)
class PlaybackSource:
    """Where a clip's frames come from."""

    clip_id: int
    video_id: int
    start_frame: int
    end_frame: int
    fps: Fraction
    proxy_key: str | None
    title: str

    @property
    def filename(self) -> str:
        """The cache file name: ids and frames, so a changed clip never hits a stale file."""
        return f"{self.video_id}-{self.clip_id}-{self.start_frame}-{self.end_frame}.mp4"


def playback_source(conn: Connection, clip_id: int) -> PlaybackSource:
    """Look up the proxy and frame range of ``clip_id``.

    Raises:
        NotFoundError: no such clip (its video may have been deleted).
        MediaError: the video has no probed frame rate yet.
    """
    row = conn.execute(
        "SELECT c.id, c.video_id, c.start_frame, c.end_frame, v.fps_num, v.fps_den,"
        " v.proxy_key, v.title FROM clips c JOIN source_videos v ON v.id = c.video_id"
        " WHERE c.id = %s",
        (clip_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"clip {clip_id} does not exist (its video may have been deleted)")
    if not row["fps_num"]:
        raise MediaError(f"video {row['video_id']} has not been probed; encode it first")
    return PlaybackSource(
        clip_id=int(row["id"]),
        video_id=int(row["video_id"]),
        start_frame=int(row["start_frame"]),
        end_frame=int(row["end_frame"]),
        fps=Fraction(row["fps_num"], row["fps_den"]),
        proxy_key=row["proxy_key"],
        title=row["title"],
    )


def cached_path(source: PlaybackSource, settings: Settings | None = None) -> Path:
    """Where the temp clip of ``source`` lives in the playback cache (may not exist yet)."""
    return (settings or get_settings()).playback_cache_dir / source.filename


# One lock per cache file, so concurrent requests for the same clip in one process cut it
# once; other processes may race, which costs a duplicate cut, never a broken file.
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def temp_clip_path(
    clip: int | PlaybackSource,
    *,
    db: Database | None = None,
    store: ObjectStore | None = None,
    settings: Settings | None = None,
    nice: int = 0,
) -> Path:
    """The temp clip of ``clip``, cut from its proxy if it is not cached yet.

    Args:
        clip: a clip id, or a :class:`PlaybackSource` already looked up.
        nice: cut at this much lower CPU priority (prefetching ahead of the reviewer).

    Returns:
        A local MP4 file with exactly the clip's frames (and audio).

    Raises:
        NotFoundError: the clip no longer exists.
        MediaError: the video has no proxy, the proxy is missing from the store, or
            FFmpeg failed; no cache file is left behind.
    """
    settings = settings or get_settings()
    if isinstance(clip, PlaybackSource):
        source = clip
    else:
        with (db or get_db()).transaction() as conn:
            source = playback_source(conn, int(clip))
    path = cached_path(source, settings)
    if _hit(path):
        return path
    with _lock_for(source.filename):
        if _hit(path):
            return path
        store = store or get_store()
        with store.pinned():  # the cached proxy stays while FFmpeg reads it
            proxy = _proxy_file(source, store)
            path.parent.mkdir(parents=True, exist_ok=True)
            # cut_clip writes to a temporary name and renames it into place.
            cut_clip(proxy, source.start_frame, source.end_frame, path, fps=source.fps, nice=nice)
    return path


def _hit(path: Path) -> bool:
    try:
        os.utime(path)  # the cache cleanup evicts least recently used files first
    except FileNotFoundError:
        return False
    return True


def _proxy_file(source: PlaybackSource, store: ObjectStore) -> Path:
    if not source.proxy_key:
        raise MediaError(
            f"video {source.video_id} ({source.title!r}) has no review proxy; "
            "re-run its encode stage (mediaml run) before reviewing its clips"
        )
    try:
        return store.local_path(source.proxy_key)
    except StorageError:
        raise MediaError(
            f"the review proxy of video {source.video_id} ({source.proxy_key}) is missing "
            "from the object store; re-run its encode stage"
        ) from None


def prefetch(
    clip_ids: Iterable[int],
    *,
    db: Database | None = None,
    store: ObjectStore | None = None,
    settings: Settings | None = None,
) -> int:
    """Make sure the temp clips of ``clip_ids`` are cached (the ``temp_clips`` task body).

    Best effort: a clip that cannot be cut (deleted, proxy missing) is logged and skipped,
    since the reviewer will see the reason when they reach it. FFmpeg runs at
    :data:`PREFETCH_NICE` lower priority than the caller.

    Returns:
        How many temp clips were cut (cache hits do not count).
    """
    settings = settings or get_settings()
    made = 0
    for clip_id in clip_ids:
        try:
            with (db or get_db()).transaction() as conn:
                source = playback_source(conn, int(clip_id))
            if cached_path(source, settings).exists():
                continue
            temp_clip_path(source, store=store, settings=settings, nice=PREFETCH_NICE)
            made += 1
        except MediamlError as exc:
            log.warning("prefetch of clip %s skipped: %s", clip_id, exc)
    return made
