"""Page bodies made off the event loop, while the browser loads the page.

Panel makes a session's widgets and their Bokeh models on the server's event loop, while
every other request (the health check among them) waits. A page built with
:func:`deferred_body` answers with a loading line instead, and a worker thread starts
making the real body as soon as the page's HTML is ready: its widgets, their data and
their Bokeh models (:func:`prebuild`), while the browser runs the page's JavaScript and
pulls the document (about as long as the body takes to make). A body made by the time
the browser pulls the document is sent in it (:func:`dashboards.offloop.before_pull`):
the browser draws the whole page once, with no patch and no round trip after the page
is shown. A body made later is attached once the browser has the page, with the document
locked and the patch serialised there too (:func:`dashboards.offloop.change_off_loop`):
the event loop only writes it.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import panel as pn
from panel.io.state import set_curdoc

from dashboards.collect import collector
from dashboards.offloop import after_page, before_pull, change_off_loop

log = logging.getLogger(__name__)

# What a deferred body's maker returns: the parts to show, and what to run on the event
# loop once they are in the page (or None).
Parts = tuple[list[Any], Callable[[], None] | None]
# Bodies being made at once; more sessions queue (each body is CPU work in Python, so
# more threads would only share the GIL).
_BODIES = ThreadPoolExecutor(2, thread_name_prefix="mediaml-page-body")


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
    """A column that shows "Loading…" until ``make()`` gives the parts to show.

    ``make`` runs in a worker thread (with this session as Panel's current document),
    started as soon as the page's HTML is ready (:func:`dashboards.offloop.after_page`;
    else when the browser has the page); the parts are attached once the browser has
    the page (Panel's onload). ``what`` names the page in the message shown if ``make``
    fails.
    """
    loading = pn.pane.HTML('<p class="mm-muted mm-loading">Loading…</p>')
    body = pn.Column(loading, sizing_mode="stretch_width")
    doc = pn.state.curdoc

    @collector.busy()  # no full collection while a body is made
    def build_parts() -> Parts:
        with set_curdoc(doc):
            parts, attached = make()
        found = _root_of(body, doc)  # the page's models exist once its HTML is made
        if found is not None:
            prebuild(parts, doc, *found)
        return parts, attached

    made: list[Future[Parts]] = []
    sent_with_page: list[bool] = []

    def start() -> None:
        if not made:
            made.append(_BODIES.submit(build_parts))

    async def first_pull() -> Callable[[], None] | None:
        """The change that puts the body in the document the browser first pulls, if
        the body is made by then. The pull does not wait for it: the browser would sit
        idle meanwhile instead of drawing the page's frame (measured: waiting up to 2 s
        made loads at load 14 a median 3.1 s instead of 2.6 s)."""
        start()
        if not made[0].done() or made[0].exception() is not None:
            return None  # build() attaches it once made, or shows the error
        parts, _ = made[0].result()

        def attach() -> None:
            body.objects = parts
            sent_with_page.append(True)

        return attach

    if doc is not None:
        # Started as soon as the page's HTML is ready (under ``mediaml serve``): the
        # body is made while the browser loads the page, and sent with the document.
        after_page(doc, start)
        before_pull(doc, first_pull)

    async def build() -> None:
        try:
            start()  # not started yet: a page not served by mediaml serve
            parts, attached = await asyncio.wrap_future(made[0])
        except Exception as exc:  # shown on the page instead of a "Loading…" forever
            log.exception("%s page failed", what)
            loading.object = (
                f'<p class="mm-error">{html.escape(what)} is unavailable:'
                f" {html.escape(str(exc))}</p>"
            )
            return

        def attach() -> None:
            body.objects = parts

        if not sent_with_page:
            await change_off_loop(doc, attach)
        if attached is not None:
            attached()

    pn.state.onload(build)
    return body
