"""The ingest page's two browser components: the upload box and the live list of videos
(their browser halves are ``upload.js`` and ``ingest_list.js``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import param
from panel.custom import JSComponent

HERE = Path(__file__).parent
_CSS = (HERE / "ingest.css").read_text()


class UploadBox(JSComponent):
    """A file picker and drop zone that streams each file to ``url`` with an HTTP PUT
    (showing its upload progress) and reports ``{"video_id", "title"}`` or
    ``{"error", "name"}`` for each file to ``on_done``."""

    url = param.String(default="/upload", doc="The streaming upload route.")
    max_bytes = param.Integer(default=0, doc="Largest file accepted (checked before sending).")

    _esm = HERE / "upload.js"
    _stylesheets: ClassVar[list[str]] = [_CSS]

    def __init__(self, on_done: Callable[[dict[str, Any]], None], **params: Any) -> None:
        super().__init__(**params)
        self._on_done = on_done

    def _handle_msg(self, msg: Any) -> None:
        if isinstance(msg, dict):
            self._on_done(msg)


class IngestList(JSComponent):
    """Rows of videos (dicts from :func:`dashboards.pages.ingest.row_view`) with their
    stage, a progress bar, the error and a retry button; a retry click calls
    ``on_retry(video_id)``."""

    items = param.List(default=[], doc="The rows, newest first.")

    _esm = HERE / "ingest_list.js"
    _stylesheets: ClassVar[list[str]] = [_CSS]

    def __init__(self, on_retry: Callable[[int], None], **params: Any) -> None:
        super().__init__(**params)
        self._on_retry = on_retry

    def _handle_msg(self, msg: Any) -> None:
        video_id = msg.get("retry") if isinstance(msg, dict) else None
        if isinstance(video_id, int) and video_id > 0:
            self._on_retry(video_id)
