"""Reels made from the dashboard: one background thread makes them, ``/reels/<name>``
serves them (with Range, behind the login) for download.

A reel is CPU work (a decode and an H.264 encode), so the web process makes one at a
time, never on the event loop; a second request waits its turn. Reels live in
``<cache dir>/reels`` and are removed a day after they were made.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dashboards.context import get_context
from dashboards.routes import _FileHandler

REEL_ROUTE = "/reels/"
REEL_MAX_AGE_S = 24 * 3600
_NAME = re.compile(r"^reel-[0-9a-f]{32}\.mp4$")
_pool = ThreadPoolExecutor(1, thread_name_prefix="mediaml-reel")


def reels_dir() -> Path:
    """Where this process keeps the reels it made."""
    return get_context().settings.cache_dir / "reels"


def _remove_old(folder: Path, now: float) -> None:
    for old in folder.glob("reel-*.mp4"):
        try:
            if now - old.stat().st_mtime > REEL_MAX_AGE_S:
                old.unlink()
        except FileNotFoundError:  # another session removed it first
            pass


def _make(
    clip_ids: list[int], target: Path, options: dict[str, Any], progress: Callable[[float], None]
) -> Path:
    from mediaml.reels import reel

    _remove_old(target.parent, time.time())
    return reel(clip_ids, target, progress=progress, **options)


def start_reel(
    clip_ids: Sequence[int],
    *,
    crossfade: float,
    captions: bool,
    progress: Callable[[float], None],
) -> tuple[Future[Path], str]:
    """Queue a reel of ``clip_ids``; returns its future and the URL it will be served at."""
    folder = reels_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"reel-{uuid.uuid4().hex}.mp4"
    options = {"crossfade": crossfade, "captions": captions}
    future = _pool.submit(_make, [int(c) for c in clip_ids], folder / name, options, progress)
    return future, REEL_ROUTE + name


class ReelHandler(_FileHandler):
    """``GET /reels/reel-<hex>.mp4``: a reel made by this process."""

    def default_root(self) -> Path:
        return reels_dir()

    async def get(self, path: str, include_body: bool = True) -> None:
        if not self.allowed():
            return self.refuse()
        if not _NAME.match(path):
            return self.fail(404, f"{path!r} is not a reel")
        self.set_header("Content-Disposition", f'attachment; filename="{path}"')
        await super().get(path, include_body)


def reel_routes() -> list[tuple[str, Any, dict[str, Any]]]:
    """The reel download route, for :func:`dashboards.routes.routes`."""
    return [(REEL_ROUTE + "(.+)", ReelHandler, {})]
