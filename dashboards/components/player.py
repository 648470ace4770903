"""The review player component (its browser half is ``timeline.js`` + ``player.js``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import param
from panel.custom import JSComponent

HERE = Path(__file__).parent


class ReviewPlayer(JSComponent):
    """Shows one clip, plays it, its place in its video, and reports the reviewer's actions.

    Set ``clip`` (a dict from :meth:`mediaml.review.ReviewClip.to_dict` plus ``url``),
    ``context`` (a dict from :meth:`mediaml.review.ClipContext.to_dict` whose neighbours
    carry ``url`` and ``poster``), ``upcoming`` (``[{"clip_id", "url", "clip", "ready"}]``:
    the next clips in order, their views, and whether their temp clip is cut; preloaded in the
    browser) and ``message``; bump ``revision`` after handling an action so the buttons
    come back. Each action arrives at ``on_action`` as ``{"action", "clip_id"}`` plus
    ``offset_seconds`` (split) or ``frame`` and ``to`` (move a cut).
    """

    clip = param.Dict(default=None, allow_None=True, doc="The clip on screen, or None.")
    context = param.Dict(default=None, allow_None=True, doc="Its neighbours and timeline.")
    upcoming = param.List(default=[], doc="Clips likely next, to preload.")
    message = param.String(default="", doc="A line for the reviewer.")
    message_kind: param.Selector = param.Selector(default="info", objects=["info", "error"])
    revision = param.Integer(default=0, doc="Incremented after each handled action.")

    # One ES module from two files: the context drawing, then the player using it.
    _esm = "\n".join((HERE / name).read_text() for name in ("timeline.js", "player.js"))
    _stylesheets: ClassVar[list[str]] = [(HERE / "player.css").read_text()]

    def __init__(self, on_action: Callable[[dict[str, Any]], None], **params: Any) -> None:
        super().__init__(**params)
        self._on_action = on_action

    def _handle_msg(self, msg: Any) -> None:
        self._on_action(msg if isinstance(msg, dict) else {})
