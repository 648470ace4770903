"""Page bodies made off the event loop.

Panel makes a session's widgets and their Bokeh models on the server's event loop, while
every other request (the health check among them) waits. A page built with
:func:`deferred_body` answers with a loading line instead; once the browser has the page,
a worker thread makes the real body, fills it with its data and makes its Bokeh models
(:func:`prebuild`), and attaches them with the document locked, serialising the patch there
too (:func:`dashboards.offloop.change_off_loop`): the event loop only writes it. The
browser draws the body once, with its data.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from typing import Any

import panel as pn
from panel.io.state import set_curdoc

from dashboards.offloop import change_off_loop

log = logging.getLogger(__name__)

# What a deferred body's maker returns: the parts to show, and what to run on the event
# loop once they are in the page (or None).
Parts = tuple[list[Any], Callable[[], None] | None]


def prebuild(parts: list[Any], doc: Any, root: Any, parent: Any) -> None:
    """Make the Bokeh models of ``parts`` for ``root`` in this (worker) thread.

    Panel keeps a component's models per root (``_models``) and reuses them when the
    component joins a layout of that root, so the layout change on the event loop only
    attaches them. Models not in a document yet need no document lock. Were Panel's
    internals to differ, nothing is made here and Panel makes the models itself.
    """
    with set_curdoc(doc):
        for part in parts:
            make = getattr(part, "_get_model", None)
            if make is not None and root.ref["id"] not in getattr(part, "_models", {}):
                make(doc, root, parent, None)


def _root_of(layout: pn.layout.ListPanel, doc: Any) -> tuple[Any, Any] | None:
    """``(root model, layout's model)`` of a layout shown once in ``doc``."""
    for ref, (model, _parent) in list(layout._models.items()):
        for root in doc.roots:
            if root.ref["id"] == ref:
                return root, model
    return None


def deferred_body(make: Callable[[], Parts], what: str) -> pn.Column:
    """A column that shows "Loading…" until ``make()``, run in a worker thread once the
    browser has the page (with this session as Panel's current document), gives the
    parts to show; ``what`` names the page in the message shown if ``make`` fails."""
    loading = pn.pane.HTML('<p class="mm-muted mm-loading">Loading…</p>')
    body = pn.Column(loading, sizing_mode="stretch_width")
    doc = pn.state.curdoc

    def build_parts() -> Parts:
        with set_curdoc(doc):
            parts, attached = make()
        found = _root_of(body, doc)
        if found is not None:
            prebuild(parts, doc, *found)
        return parts, attached

    async def build() -> None:
        try:
            parts, attached = await asyncio.to_thread(build_parts)
        except Exception as exc:  # shown on the page instead of a "Loading…" forever
            log.exception("%s page failed", what)
            loading.object = (
                f'<p class="mm-error">{html.escape(what)} is unavailable:'
                f" {html.escape(str(exc))}</p>"
            )
            return

        def attach() -> None:
            body.objects = parts

        await change_off_loop(doc, attach)
        if attached is not None:
            attached()

    pn.state.onload(build)
    return body
