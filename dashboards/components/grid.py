"""A grid of clip cards (its browser half is ``grid.js``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import param
from panel.custom import JSComponent

HERE = Path(__file__).parent


class ClipGrid(JSComponent):
    """Cards of ``items`` (dicts: clip_id, title, start_frame, end_frame, similarity,
    thumb, and optionally preview: the URL played while the card is hovered, see
    :func:`dashboards.urls.preview_urls`; without it the clip's temp clip plays); a click
    calls ``on_pick(clip_id)``."""

    items = param.List(default=[], doc="The cards, in order.")
    empty_text = param.String(default="No clips.", doc="Shown when there are no items.")

    _esm = HERE / "grid.js"
    _stylesheets: ClassVar[list[str]] = [(HERE / "grid.css").read_text()]

    def __init__(self, on_pick: Callable[[int], None], **params: Any) -> None:
        super().__init__(**params)
        self._on_pick = on_pick

    def _handle_msg(self, msg: Any) -> None:
        clip_id = msg.get("clip_id") if isinstance(msg, dict) else None
        if isinstance(clip_id, int) and clip_id > 0:
            self._on_pick(clip_id)
