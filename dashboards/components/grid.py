"""A grid of clip cards with its heading and pager (its browser half is ``grid.js``).

One Bokeh model draws the cards, the line above them and the previous/next buttons:
a Panel button, pane and row each would be a model of its own to make, send and lay
out in the browser."""

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
    calls ``on_pick(clip_id)``.

    With ``turn_labels`` the cards have a pager above them: two buttons and
    ``page_label`` between them; a click on one calls ``on_turn(-1)`` or ``on_turn(1)``.
    """

    items = param.List(default=[], doc="The cards, in order.")
    empty_text = param.String(default="No clips.", doc="Shown when there are no items.")
    header = param.String(default="", doc="HTML above the cards (made by the server).")
    turn_labels = param.List(
        default=[], doc="The pager's buttons (previous, next); empty: no pager."
    )
    can_turn = param.List(default=[False, False], doc="Whether previous and next are enabled.")
    page_label = param.String(default="", doc="Text between the pager's buttons.")

    _esm = HERE / "grid.js"
    _stylesheets: ClassVar[list[str]] = [(HERE / "grid.css").read_text()]

    def __init__(
        self,
        on_pick: Callable[[int], None],
        on_turn: Callable[[int], None] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self._on_pick = on_pick
        self._on_turn = on_turn

    def _handle_msg(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        clip_id, step = msg.get("clip_id"), msg.get("turn")
        if isinstance(clip_id, int) and clip_id > 0:
            self._on_pick(clip_id)
        elif step in (-1, 1) and self._on_turn is not None and self.can_turn[step > 0]:
            self._on_turn(step)
