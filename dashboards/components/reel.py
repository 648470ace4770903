"""The "Make reel" control: joins the clips a page shows into one MP4 to download.

The page gives a function returning the clip ids in view (a result page, a map
selection); the reel is made in the background (:mod:`dashboards.reels`) while this
control shows its progress, then a download link.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar

import panel as pn
import param
from panel.custom import JSComponent

from dashboards.reels import start_reel
from mediaml.errors import MediamlError

POLL_MS = 400
HERE = Path(__file__).parent
MAX_CROSSFADE = 5.0


class ReelMaker(JSComponent):
    """A button, two options and a status line, drawn by one model (``reel.js``): the
    options travel with the click, so they cost no model or message of their own.

    Args:
        clip_ids: returns ``(ids, what)`` — the clips to join and a few words naming them
            ("this page", "the selection").
    """

    crossfade = param.Number(default=0.5, bounds=(0, MAX_CROSSFADE), doc="Initial crossfade (s).")
    captions = param.Boolean(default=True, doc="Initially, whether clips get captions.")
    busy = param.Boolean(default=False, doc="A reel is being made: the button is disabled.")
    status = param.String(default="", doc="HTML after the button (made by the server).")

    _esm = HERE / "reel.js"
    _stylesheets: ClassVar[list[str]] = [(HERE / "reel.css").read_text()]

    def __init__(self, clip_ids: Callable[[], tuple[list[int], str]], **params: Any) -> None:
        # Panel's widgets' margin, so the control lines up with those above it.
        super().__init__(**{"margin": (5, 10), **params})
        self._clip_ids = clip_ids
        self._future: Future[Path] | None = None
        self._fraction = 0.0
        self._url = ""
        self._count = 0
        self._poller: Any = None

    def _say(self, text: str, *, error: bool = False, link: str = "") -> None:
        color = "#b00020" if error else "#3e4c59"
        body = f'<span style="color:{color}">{html.escape(text)}</span>'
        if link:
            body += (
                f' <a class="mm-reel-link" href="{html.escape(link)}" download>Download reel</a>'
            )
        self.status = body

    def _handle_msg(self, msg: Any) -> None:
        options = msg.get("make") if isinstance(msg, dict) else None
        if isinstance(options, dict):
            crossfade = options.get("crossfade")
            if isinstance(crossfade, int | float) and math.isfinite(crossfade):
                self.crossfade = min(max(float(crossfade), 0.0), MAX_CROSSFADE)
            self.captions = bool(options.get("captions", self.captions))
            self._start()

    def _start(self) -> None:
        if self._future is not None and not self._future.done():
            return
        ids, what = self._clip_ids()
        if not ids:
            self._say("No clips to join here yet.", error=True)
            return
        self._fraction, self._count = 0.0, len(ids)
        self._future, self._url = start_reel(
            ids,
            crossfade=float(self.crossfade),
            captions=bool(self.captions),
            progress=self._progress,
        )
        self.busy = True
        self._say(f"Making a reel of {len(ids)} clip(s) from {what}…")
        self._poller = pn.state.add_periodic_callback(self._poll, period=POLL_MS)

    def _progress(self, fraction: float) -> None:
        self._fraction = fraction  # called from the reel thread; read by _poll

    def _poll(self) -> None:
        future = self._future
        if future is None:
            return
        if not future.done():
            self._say(f"Making a reel of {self._count} clip(s)… {self._fraction:.0%}")
            return
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self.busy = False
        exc = future.exception()
        if exc is None:
            self._say(f"Reel of {self._count} clip(s) ready.", link=self._url)
        elif isinstance(exc, MediamlError | ValueError):
            self._say(f"Reel failed: {exc}", error=True)
        else:
            self._say(f"Reel failed unexpectedly: {type(exc).__name__}: {exc}", error=True)
