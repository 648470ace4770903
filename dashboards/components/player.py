"""The review player component (its browser half is ``player.js``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import param
from panel.custom import JSComponent

HERE = Path(__file__).parent


class ReviewPlayer(JSComponent):
    """Shows one clip, plays it, and reports the reviewer's actions.

    Set ``clip`` (a dict from :meth:`mediaml.review.ReviewClip.to_dict` plus ``url``) and
    ``message``; bump ``revision`` after handling an action so the buttons come back.
    Each action arrives at ``on_action`` as ``{"action", "clip_id", "offset_seconds"?}``.
    """

    clip = param.Dict(default=None, allow_None=True, doc="The clip on screen, or None.")
    message = param.String(default="", doc="A line for the reviewer.")
    message_kind: param.Selector = param.Selector(default="info", objects=["info", "error"])
    revision = param.Integer(default=0, doc="Incremented after each handled action.")

    _esm = HERE / "player.js"
    _stylesheets: ClassVar[list[str]] = [(HERE / "player.css").read_text()]

    def __init__(self, on_action: Callable[[dict[str, Any]], None], **params: Any) -> None:
        super().__init__(**params)
        self._on_action = on_action

    def _handle_msg(self, msg: Any) -> None:
        self._on_action(msg if isinstance(msg, dict) else {})
