"""Session documents and document changes made off the server's event loop.

Every request of the dashboard server, ``/healthz`` among them, waits while the event
loop runs Python. These things Panel and Bokeh would do there cost the loop 20–500 ms
each under load:

* **Making a session's document** (the page function, the Bokeh models of what it
  returns, document validation) on every page request. :class:`OffLoopApplication`
  makes it in a worker thread instead: Bokeh awaits the application's
  ``on_session_created`` just before it initialises the new document, so the document
  is made there, in ``asyncio.to_thread``, and ``initialize_document`` then only hands
  it back. Nothing else can see that document yet (its session does not exist), so
  no lock is needed; Panel is told the worker owns it while it is made, and the event
  loop afterwards.
* **Changing a shown document**: :func:`change_off_loop` runs the change in a worker
  thread while the event loop holds the session's document lock (so no browser
  event, callback or other change of that document runs meanwhile), and serialises
  the resulting patch there too; the loop only writes the finished message to the
  websocket.
* **The page's HTML** (Panel bundles the resources its models need and renders its
  template, 15–50 ms a request): :class:`OffLoopDocHandler` renders it in a worker
  thread, with the new session's document locked, as soon as the session exists; Panel's
  handler then finds it ready.
* **Sending the whole document** when the browser connects and pulls it:
  :class:`OffLoopWSHandler` serialises it in a worker thread, with the document locked
  the same way, after making the changes a page asked for with :func:`before_pull`
  (a page body made by then goes out with the document, not as a patch after it).

:func:`install` puts both handlers in Bokeh's per-application routes, and makes
Bokeh's periodic discard of unused sessions give the loop a turn between two sessions.

They rely on Panel and Bokeh internals checked by ``tests/dashboard/test_offloop.py``:
the per-document owner thread (``state._thread_id_``), Panel's connected flag
(``state._connected``), the document's held events, the protocol handler's table,
Panel's page-rendering function and Bokeh's discard of one session
(``ApplicationContext._discard_session``).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from bokeh.application import Application as BokehApplication
from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent
from bokeh.server.contexts import ApplicationContext
from panel.io import server as panel_server
from panel.io.application import Application
from panel.io.document import monkeypatch_events
from panel.io.resources import Resources
from panel.io.server import DocHandler, WSHandler
from panel.io.state import set_curdoc, state

from dashboards.collect import collector
from dashboards.collect import install as install_collector

T = TypeVar("T")


class OffLoopApplication(Application):
    """Panel's application with each session's document made in a worker thread."""

    _made: ClassVar[weakref.WeakSet[Document]] = weakref.WeakSet()

    @classmethod
    def of(cls, app: BokehApplication) -> OffLoopApplication:
        """The same handlers as ``app`` (one built by Panel), made off the loop."""
        return cls(*app.handlers)

    async def on_session_created(self, session_context: Any) -> None:
        await super().on_session_created(session_context)
        doc = session_context._document
        if session_context.destroyed:
            return
        await asyncio.to_thread(self._make, doc)

    def _make(self, doc: Document) -> None:
        with collector.busy():
            super().initialize_document(doc)  # Panel notes this thread as the owner
        self._made.add(doc)

    def initialize_document(self, doc: Document) -> None:
        """Hand over a document made in :meth:`on_session_created` to the event loop's
        thread (or make it here, if that failed)."""
        if doc in self._made:
            self._made.discard(doc)
            state._thread_id_[doc] = threading.get_ident()
            return
        super().initialize_document(doc)


def _session(doc: Document) -> Any:
    context = doc.session_context
    return getattr(context, "session", None) if context is not None else None


def left(doc: Document | None) -> bool:
    """Whether the browser has left ``doc``'s page: its session has no open websocket.

    Bokeh keeps a session whose websocket closed (the reader went to another page, or
    closed the tab) until its unused lifetime is over (15 s by default, checked every
    17 s), and runs its periodic callbacks meanwhile. A page's periodic refresh skips
    its work then: reads and table updates nobody will see, taking CPU and the GIL from
    the pages being loaded. Call it from periodic callbacks only: a new session has no
    websocket either until the browser has loaded the page's scripts. False without a
    server session (tests, notebooks).
    """
    session = _session(doc) if doc is not None else None
    return session is not None and session.connection_count == 0


async def change_off_loop(doc: Document | None, change: Callable[[], T]) -> T:
    """Run ``change`` (which changes components shown in ``doc``) in a worker thread
    with ``doc``'s session locked, and send the browser its patch.

    The patch is serialised in the worker thread; the event loop only writes it. Call it
    from callbacks that run without the document lock (Panel's coroutine callbacks,
    ``bokeh.document.without_document_lock``): it waits for that lock, so a callback
    holding it would wait forever.
    """
    session = _session(doc) if doc is not None else None
    if doc is None or session is None or session.destroyed:
        # No server session (tests, notebooks): change it here, the way Panel does.
        return change()

    async def locked() -> T:
        result, messages, other = await asyncio.to_thread(_apply, doc, session, change)
        for event in other:  # callbacks added etc.: Bokeh registers them on this loop
            doc.callbacks.trigger_on_change(event)
        for connection, message in messages:
            await connection._socket.send_message(message)
        return result

    result: T = await session.with_document_locked(locked)
    return result


@collector.busy()
def _apply(
    doc: Document, session: Any, change: Callable[[], T], *, send: bool = True
) -> tuple[T, list[Any], list[Any]]:
    """In the worker thread: the change, with the document held, then its patch (none
    without ``send``: the browser is about to be sent the whole document)."""
    owner = state._thread_id_.get(doc)
    state._thread_id_[doc] = threading.get_ident()
    held = doc.callbacks.hold_value is not None
    if not held:
        doc.hold("combine")
    try:
        with set_curdoc(doc):
            result = change()
        if held:  # whoever holds the document sends its events
            return result, [], []
        events = list(doc.callbacks._held_events)
        doc.callbacks._held_events = []
        doc.unhold()
        monkeypatch_events(events)
        patched = [e for e in events if isinstance(e, DocumentPatchedEvent)]
        other = [e for e in events if not isinstance(e, DocumentPatchedEvent)]
        messages = []
        if patched and send:
            for connection in list(session._subscribed_connections):
                message = connection.protocol.create("PATCH-DOC", patched)
                messages.append((connection, _serialised(message)))
        return result, messages, other
    finally:
        if not held and doc.callbacks.hold_value is not None:
            doc.unhold()
        if owner is None:
            state._thread_id_.pop(doc, None)
        else:
            state._thread_id_[doc] = owner


def _serialised(message: Any) -> Any:
    """``message`` with its JSON made (Bokeh makes it lazily, when it is sent)."""
    _ = message.header_json, message.metadata_json, message.content_json
    return message


# Changes to make just before a session's document is first sent: document -> callables
# awaited on the event loop, each giving a change to make (or None).
_BEFORE_PULL: weakref.WeakKeyDictionary[
    Document, list[Callable[[], Awaitable[Callable[[], None] | None]]]
] = weakref.WeakKeyDictionary()


def before_pull(doc: Document, ready: Callable[[], Awaitable[Callable[[], None] | None]]) -> None:
    """Await ``ready()`` when the browser first asks for ``doc``, and make the change it
    returns (if any) just before the document is sent.

    The change is made in the worker thread that serialises the reply, with the document
    locked, and sends no patch: the browser's first document already holds it, and the
    browser draws the page once instead of drawing it and then the patch (a round trip
    and a second layout later). Under a server without :class:`OffLoopWSHandler`,
    ``ready`` is never awaited: the page must also make the change some other way.
    """
    _BEFORE_PULL.setdefault(doc, []).append(ready)


async def _pull_off_loop(message: Any, connection: Any) -> Any:
    """The ``PULL-DOC-REQ`` handler: the reply is made in a worker thread, after the
    changes asked for with :func:`before_pull`."""
    session = connection.session
    msgid = message.header["msgid"]
    doc = session.document
    changes = [c for c in [await ready() for ready in _BEFORE_PULL.pop(doc, [])] if c]

    @collector.busy()
    def reply() -> tuple[Any, list[Any]]:
        other: list[Any] = []
        if changes:
            # The websocket is open (the pull came through it); Panel only notes so when
            # the browser has drawn the page, and until then defers model updates to the
            # loop, after this reply is made.
            connected = state._connected.get(doc)
            state._connected[doc] = True
            try:
                for change in changes:
                    other += _apply(doc, session, change, send=False)[2]
            finally:
                if connected is None:
                    state._connected.pop(doc, None)
                else:
                    state._connected[doc] = connected
        made = connection.protocol.create("PULL-DOC-REPLY", msgid, doc)
        return _serialised(made), other

    async def locked() -> Any:
        made, other = await asyncio.to_thread(reply)
        for event in other:  # as in change_off_loop
            doc.callbacks.trigger_on_change(event)
        return made

    return await session.with_document_locked(locked)


class OffLoopWSHandler(WSHandler):
    """Panel's websocket handler, answering the browser's document pull off the loop."""

    async def on_message(self, fragment: str | bytes) -> None:
        collector.touch()  # a reader is acting: no full collection just now
        await super().on_message(fragment)

    async def _async_open(self, token: str) -> None:
        await super()._async_open(token)
        handler = getattr(self, "handler", None)
        if handler is not None:
            handler._handlers["PULL-DOC-REQ"] = _pull_off_loop


# Work to start once a new session's page is rendered: document -> callables.
_AFTER_PAGE: weakref.WeakKeyDictionary[Document, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def after_page(doc: Document, start: Callable[[], None]) -> None:
    """Call ``start()`` on the event loop once the HTML of ``doc``'s page is rendered,
    just before it is sent (by :class:`OffLoopDocHandler`).

    The browser then spends a while on the page's JavaScript and on pulling the
    document; work started here (in worker threads) overlaps that instead of following
    it, and does not slow the page's own rendering down. Pages not served by
    :class:`OffLoopDocHandler` never call it.
    """
    _AFTER_PAGE.setdefault(doc, []).append(start)


# Pages rendered ahead by OffLoopDocHandler: document -> (token, HTML).
_PAGES: weakref.WeakKeyDictionary[Document, tuple[str, str]] = weakref.WeakKeyDictionary()
_panel_render = panel_server.server_html_page_for_session


def render_page(session: Any, resources: Any) -> str:
    """The page's HTML for a new session, made the way Panel's page handler makes it."""
    doc = session.document
    with collector.busy(), set_curdoc(doc):
        page: str = _panel_render(
            session,
            resources=resources,
            title=doc.title,
            token=session.token,
            template=doc.template,
            template_variables=doc.template_variables,
        )
    return page


def _rendered_or_render(
    session: Any, resources: Any, title: str, token: Any = None, **kw: Any
) -> str:
    """Panel's ``server_html_page_for_session``, answered from :data:`_PAGES` when the
    page was rendered ahead for this very session and token."""
    ready = _PAGES.pop(session.document, None)
    if ready is not None and ready[0] == (token or session.token):
        return ready[1]
    page: str = _panel_render(session, resources, title, token, **kw)
    return page


# Bokeh's JavaScript bundles a page can do without, and the Panel extension that needs
# each (None: none). No plot of ours draws with WebGL. (Bokeh's tables cannot go: Panel's
# own bundle, loaded by every page, builds on them.)
UNUSED_BOKEH_JS: dict[str, str | None] = {"bokeh-gl": None}


def page_resources(doc: Document, bokeh_resources: Any) -> Resources:
    """The resources a page's HTML loads: Bokeh's, without the bundles of
    :data:`UNUSED_BOKEH_JS` that the page's Panel extensions (``shell(...,
    extensions=...)``) do not need.

    Bokeh's own pages leave out the bundles their models do not use; Panel's load them
    all (WebGL's is 190 KB of the 2.9 MB of JavaScript the explore page loaded), and the
    browser fetches, parses and runs them before drawing anything.
    Pages whose extensions are unknown (no ``shell``) load them all.
    """
    resources = Resources.from_bokeh(bokeh_resources)
    extensions = state._extensions_.get(doc)
    if extensions is not None:
        resources.components = [
            c
            for c in resources.components
            if c not in UNUSED_BOKEH_JS or UNUSED_BOKEH_JS[c] in extensions
        ]
    return resources


def _count_as_loading(session: Any) -> None:
    """No full collection until the browser has drawn this session's page
    (:meth:`dashboards.collect.IdleCollector.loading`): Bokeh's ``DocumentReady``, which
    the browser sends once every root of the document is drawn (Panel's onload comes
    from it too), or the session's end, whichever is first."""
    page, doc = session.id, session.document
    collector.loading(page)
    doc.on_event("document_ready", lambda _event: collector.loaded(page))
    doc.on_session_destroyed(lambda _context: collector.loaded(page))


class OffLoopDocHandler(DocHandler):
    """Panel's page handler, with the page's HTML rendered in a worker thread."""

    async def get_session(self) -> Any:
        collector.touch()
        session = await super().get_session()  # type: ignore[misc]
        if session is None or session.document in _PAGES:
            return session
        _count_as_loading(session)
        resources = page_resources(session.document, self.application.resources())

        async def locked() -> None:
            page = await asyncio.to_thread(render_page, session, resources)
            _PAGES[session.document] = (session.token, page)

        await session.with_document_locked(locked)
        for start in _AFTER_PAGE.pop(session.document, []):
            start()
        return session


_bokeh_discard = ApplicationContext._discard_session


async def _discard_in_turn(self: ApplicationContext, session: Any, should_discard: Any) -> None:
    """Bokeh's discard of one unused session, after one turn of the event loop.

    Every 17 s Bokeh discards the sessions unused for 15 s, one after the other, in
    one step of the loop (nothing in a discard waits): ~1 ms of CPU each (the document's
    destruction and Panel's clean-up), 11 sessions 11-12 ms, and a health check that
    came meanwhile waited for all of them (a 55 ms ``/healthz`` at 100k clips). With a
    turn before each, the loop answers what came in between two discards."""
    await asyncio.sleep(0)
    await _bokeh_discard(self, session, should_discard)


def install() -> None:
    """Servers built from now on render pages and answer document pulls off the loop
    (Panel puts its own handlers in Bokeh's per-application routes the same way), and
    discard unused sessions one per turn of the loop."""
    from bokeh.server.urls import per_app_patterns

    ours = {DocHandler: OffLoopDocHandler, WSHandler: OffLoopWSHandler}
    per_app_patterns[:] = [
        (route[0], ours[route[1]], *route[2:]) if route[1] in ours else route
        for route in per_app_patterns
    ]
    panel_server.server_html_page_for_session = _rendered_or_render  # type: ignore[assignment]
    ApplicationContext._discard_session = _discard_in_turn  # type: ignore[method-assign]
    install_collector()
