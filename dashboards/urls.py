"""URLs the browser fetches media from (the routes are in :mod:`dashboards.routes`)."""

from __future__ import annotations

import logging

from mediaml.db import get_db
from mediaml.errors import MediamlError
from mediaml.storage import get_store

log = logging.getLogger(__name__)


def playback_url(clip_id: int) -> str:
    """Where the browser fetches a clip's temp clip (cut on first request)."""
    return f"/playback/{clip_id}.mp4"


def preview_urls(clip_ids: list[int]) -> dict[int, str]:
    """Clip id -> what to play as its preview: the exported clip file when it has one
    (served from the store, signed in production), else its temp clip. One indexed query."""
    if not clip_ids:
        return {}
    with get_db().transaction() as conn:
        rows = conn.execute(
            "SELECT id, clip_key FROM clips WHERE id = ANY(%s)", (list(clip_ids),)
        ).fetchall()
    keys = {int(r["id"]): r["clip_key"] for r in rows}
    store = get_store()
    urls = {}
    for clip_id in clip_ids:
        key = keys.get(clip_id)
        url = None
        if key:
            try:
                url = store.url(key)
            except MediamlError as exc:
                log.warning("no URL for the file of clip %s: %s", clip_id, exc)
        urls[clip_id] = url or playback_url(clip_id)
    return urls
