"""The "Make reel" control: joins the clips a page shows into one MP4 to download.

The page gives a function returning the clip ids in view (a result page, a map
selection); the reel is made in the background (:mod:`dashboards.reels`) while this
control shows its progress, then a download link.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import panel as pn

from dashboards.reels import start_reel
from mediaml.errors import MediamlError

POLL_MS = 400


class ReelMaker:
    """A button, two options and a status line; ``view`` is the Panel object to place.

    Args:
        clip_ids: returns ``(ids, what)`` — the clips to join and a few words naming them
            ("this page", "the selection").
    """

    def __init__(self, clip_ids: Callable[[], tuple[list[int], str]]) -> None:
        self._clip_ids = clip_ids
        self.button = pn.widgets.Button(
            name="Make reel",
            button_type="success",
            width=120,
            align="end",
            css_classes=["mm-make-reel"],
        )
        self.crossfade = pn.widgets.FloatInput(
            name="Crossfade (s)", value=0.5, start=0, end=5, step=0.1, width=110
        )
        self.captions = pn.widgets.Checkbox(name="Captions", value=True, align="end")
        self.status = pn.pane.HTML("", css_classes=["mm-reel-status"], align="end")
        self.button.on_click(self._start)
        self.view = pn.Row(self.crossfade, self.captions, self.button, self.status)
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
        self.status.object = body

    def _start(self, _event: Any = None) -> None:
        if self._future is not None and not self._future.done():
            return
        ids, what = self._clip_ids()
        if not ids:
            self._say("No clips to join here yet.", error=True)
            return
        self._fraction, self._count = 0.0, len(ids)
        self._future, self._url = start_reel(
            ids,
            crossfade=float(self.crossfade.value or 0),
            captions=bool(self.captions.value),
            progress=self._progress,
        )
        self.button.disabled = True
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
        self.button.disabled = False
        exc = future.exception()
        if exc is None:
            self._say(f"Reel of {self._count} clip(s) ready.", link=self._url)
        elif isinstance(exc, MediamlError | ValueError):
            self._say(f"Reel failed: {exc}", error=True)
        else:
            self._say(f"Reel failed unexpectedly: {type(exc).__name__}: {exc}", error=True)
