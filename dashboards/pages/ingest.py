"""The ingest page: add videos by URL or upload, and watch each one move through the
pipeline (stage, download/encode progress, errors with a retry button).

Adding and polling run off the event loop: the URL form and the retry button hand their
database work to a thread, and the list is refreshed every `REFRESH_MS` by one small query
(:func:`mediaml.db.videos.recent_videos`) in a thread as well. Progress numbers come from
``source_videos.progress``, which the workers update every few percent.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from typing import Any

import pandas as pd
import panel as pn

from dashboards.components.ingest import IngestList, UploadBox
from dashboards.context import get_context
from dashboards.offloop import left
from dashboards.pages.layout import page_url, shell
from dashboards.uploads import UPLOAD_ROUTE
from mediaml import states
from mediaml.db import get_db
from mediaml.db.videos import recent_videos
from mediaml.errors import MediamlError
from mediaml.pipeline.fetch import source_kind

log = logging.getLogger(__name__)

REFRESH_MS = 1000
SHOWN = 25
# Kinds a dashboard user may add by URL. Local paths would read the server's own disk.
URL_KINDS = ("http", "ytdl", "s3")
STAGES = {
    states.NEW: "queued",
    states.DOWNLOADING: "downloading",
    states.DOWNLOADED: "waiting to encode",
    states.ENCODING: "encoding",
    states.ENCODED: "waiting for shot detection",
    states.DETECTING_SCENES: "saving shots",
    states.DONE: "ready",
    states.DOWNLOAD_FAILED: "download failed",
    states.ENCODING_FAILED: "encoding failed",
    states.DETECT_SCENES_FAILED: "shot detection failed",
}
FAILED = (states.DOWNLOAD_FAILED, states.ENCODING_FAILED, states.DETECT_SCENES_FAILED)


def split_urls(text: str) -> list[str]:
    """The URLs in ``text`` (one per line, or separated by spaces or commas)."""
    return [u for u in re.split(r"[\s,]+", text.strip()) if u]


def check_urls(urls: list[str]) -> tuple[list[str], list[str]]:
    """Split ``urls`` into those the dashboard accepts and messages about the rest."""
    good, problems = [], []
    for url in urls:
        try:
            kind = source_kind(url)
        except MediamlError as exc:
            problems.append(str(exc))
            continue
        if kind not in URL_KINDS:
            problems.append(
                f"{url}: the dashboard takes http(s)://, s3:// and ytdl+https:// URLs; "
                "upload local files with the box below"
            )
        else:
            good.append(url)
    return good, problems


def add_urls(urls: list[str]) -> list[dict[str, Any]]:
    """Register ``urls`` as videos and queue their download (blocking: call in a thread).

    Returns:
        One dict per URL: ``source``, ``video_id``, ``created``, ``error``.
    """
    from mediaml.jobs.tasks import queue_downloads
    from mediaml.pipeline.ingest import ingest

    frame = ingest(urls, check=False)
    ids = [int(v) for v in frame["video_id"].dropna()]
    if ids:
        queue_downloads(ids)
    return [
        {
            "source": r.source,
            "video_id": None if pd.isna(r.video_id) else int(r.video_id),
            "created": bool(r.created),
            "error": r.error or None,
        }
        for r in frame.itertuples()
    ]


def row_view(video: dict[str, Any]) -> dict[str, Any]:
    """What the list shows for one row of :func:`recent_videos`."""
    state = video["state"]
    stage = STAGES.get(state, state)
    progress = None
    if state in (states.DOWNLOADING, states.ENCODING) and video["progress"] is not None:
        progress = round(float(video["progress"]) * 100)
        stage = f"{stage} {progress} %"
    pending = int(video["pending_clips"] or 0)
    if state == states.DONE:
        stage = f"ready · {pending} clip{'s' if pending != 1 else ''} to review"
    tone = "bad" if state in FAILED else "ok" if state == states.DONE else "busy"
    review_url = None
    if state == states.DONE and pending:
        review_url = f"{page_url('review')}{'&' if '?' in page_url('review') else '?'}" + (
            f"clip={video['first_pending_clip']}"
        )
    source = str(video["source_uri"])
    if source.startswith("upload://"):
        source = "uploaded file"
    return {
        "video_id": int(video["id"]),
        "title": str(video["title"]),
        "source": source,
        "state": state,
        "stage": stage,
        "progress": progress,
        "error": video["last_error"] if state in FAILED else None,
        "retry": state in FAILED,
        "pending": pending,
        "review_url": review_url,
        "tone": tone,
    }


def _recent() -> list[dict[str, Any]]:
    with get_db().transaction() as conn:
        return [row_view(v) for v in recent_videos(conn, SHOWN)]


def _retry(video_id: int) -> int:
    from mediaml.jobs.tasks import queue_downloads
    from mediaml.pipeline import retry

    done = retry("videos", [video_id])
    queue_downloads([video_id])  # a failed download goes straight back to the workers
    return len(done)


class IngestView:
    """One session's ingest page."""

    def __init__(self) -> None:
        settings = get_context().settings
        self.doc = pn.state.curdoc
        self.urls = pn.widgets.TextAreaInput(
            name="Video URLs",
            placeholder="One per line: https://…/video.mp4, a video page (yt-dlp), s3://bucket/key",
            height=110,
            sizing_mode="stretch_width",
            css_classes=["mm-url-input"],
        )
        self.add = pn.widgets.Button(name="Add URLs", button_type="primary", width=130)
        self.add.on_click(self._on_add)
        self.message = pn.pane.HTML("", css_classes=["mm-ingest-message"], margin=(0, 10))
        self.upload = UploadBox(
            on_done=self._on_upload,
            url=UPLOAD_ROUTE,
            max_bytes=settings.max_download_bytes,
            sizing_mode="stretch_width",
            margin=(0, 10),
        )
        self.list = IngestList(
            on_retry=self._on_retry, sizing_mode="stretch_width", margin=(0, 10, 20, 10)
        )
        self.view = pn.Column(
            pn.pane.HTML("<h2>Add videos</h2>", margin=(0, 10)),
            self.urls,
            self.add,
            self.message,
            pn.pane.HTML("<h3>Upload files</h3>", margin=(0, 10)),
            self.upload,
            pn.pane.HTML("<h3>Latest videos</h3>", margin=(0, 10)),
            self.list,
            sizing_mode="stretch_width",
            max_width=1100,
        )
        self._refreshing = False

    def _say(self, text: str, *, error: bool = False) -> None:
        kind = "mm-error" if error else "mm-muted"
        self.message.object = (
            f'<p class="{kind}" style="color:{"#b00020" if error else "#3e4c59"}">'
            f"{html.escape(text)}</p>"
            if text
            else ""
        )

    async def refresh(self) -> None:
        """Re-read the newest videos (in a thread) and redraw the list (not once the
        browser has left the page: :func:`dashboards.offloop.left`)."""
        if self._refreshing or left(self.doc):  # a slow database must not pile up polls
            return
        self._refreshing = True
        try:
            self.list.items = await asyncio.get_running_loop().run_in_executor(None, _recent)
        except MediamlError as exc:
            self._say(f"Cannot read the videos: {exc}", error=True)
        finally:
            self._refreshing = False

    async def _on_add(self, _event: Any) -> None:
        good, problems = check_urls(split_urls(self.urls.value_input or self.urls.value or ""))
        if not good and not problems:
            self._say("Paste one or more URLs first.", error=True)
            return
        added: list[dict[str, Any]] = []
        if good:
            self.add.disabled = True
            try:
                added = await asyncio.get_running_loop().run_in_executor(None, add_urls, good)
            except MediamlError as exc:
                problems.append(str(exc))
            finally:
                self.add.disabled = False
        problems += [f"{a['source']}: {a['error']}" for a in added if a["error"]]
        new = [a for a in added if a["created"]]
        known = [a for a in added if a["video_id"] is not None and not a["created"]]
        parts = []
        if new:
            parts.append(f"Added {len(new)} video{'s' if len(new) != 1 else ''}.")
        if known:
            parts.append(
                "Already known: " + ", ".join(f"video {a['video_id']}" for a in known) + "."
            )
        self._say(" ".join([*parts, *problems]), error=bool(problems))
        if new and not problems:
            self.urls.value = ""
        await self.refresh()

    def _on_upload(self, msg: dict[str, Any]) -> None:
        if msg.get("error"):
            self._say(f"{msg.get('name', 'upload')}: {msg['error']}", error=True)
        else:
            self._say(f"Uploaded {msg.get('name')} as video {msg.get('video_id')}.")
        pn.state.execute(self.refresh)

    def _on_retry(self, video_id: int) -> None:
        async def retry() -> None:
            try:
                n = await asyncio.get_running_loop().run_in_executor(None, _retry, video_id)
            except MediamlError as exc:
                self._say(f"Retry of video {video_id} failed: {exc}", error=True)
                return
            self._say(
                f"Video {video_id} is queued again." if n else f"Video {video_id} is not failed."
            )
            await self.refresh()

        pn.state.execute(retry)


def page() -> pn.viewable.Viewable:
    """Build the ingest page for one session."""
    view = IngestView()
    pn.state.onload(view.refresh)
    pn.state.add_periodic_callback(view.refresh, period=REFRESH_MS)  # type: ignore[arg-type]
    return shell("ingest", view.view)
