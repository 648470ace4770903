"""Session documents and document changes made off the server's event loop.

Every request of the dashboard server, ``/healthz`` among them, waits while the event
loop runs Python. Two things Panel and Bokeh would do there cost the loop 50–500 ms
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
* **Sending the whole document** when the browser connects and pulls it:
  :class:`OffLoopWSHandler` (installed by :func:`serve_pulls_off_loop`) serialises it in
  a worker thread, with the document locked the same way.

Both rely on Panel internals checked by ``tests/dashboard/test_offloop.py``: the
per-document owner thread (``state._thread_id_``) and the document's held events.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from bokeh.application import Application as BokehApplication
from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent
from panel.io.application import Application
from panel.io.document import monkeypatch_events
from panel.io.server import WSHandler
from panel.io.state import set_curdoc, state

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


async def change_off_loop(doc: Document | None, change: Callable[[], T]) -> T:
    """Run ``change`` (which changes components shown in ``doc``) in a worker thread
    with ``doc``'s session locked, and send the browser its patch.

    The patch is serialised in the worker thread; the event loop only writes it. Call it
    from callbacks that run without the document lock (Panel's coroutine callbacks,
    ``bokeh.document.without_document_lock``).
    """
    session = _session(doc) if doc is not None else None
    if doc is None or session is None or session.destroyed or session._pending_writes is not None:
        # No server session (tests, notebooks), or its lock is taken (this may run inside
        # a locked callback: waiting for the lock would wait forever): change it here,
        # the way Panel does.
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


def _apply(doc: Document, session: Any, change: Callable[[], T]) -> tuple[T, list[Any], list[Any]]:
    """In the worker thread: the change, with the document held, then its patch."""
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
        if patched:
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


async def _pull_off_loop(message: Any, connection: Any) -> Any:
    """The ``PULL-DOC-REQ`` handler: the reply is made in a worker thread."""
    session = connection.session
    msgid = message.header["msgid"]

    def reply() -> Any:
        made = connection.protocol.create("PULL-DOC-REPLY", msgid, session.document)
        return _serialised(made)

    async def locked() -> Any:
        return await asyncio.to_thread(reply)

    return await session.with_document_locked(locked)


class OffLoopWSHandler(WSHandler):
    """Panel's websocket handler, answering the browser's document pull off the loop."""

    async def _async_open(self, token: str) -> None:
        await super()._async_open(token)
        handler = getattr(self, "handler", None)
        if handler is not None:
            handler._handlers["PULL-DOC-REQ"] = _pull_off_loop


def serve_pulls_off_loop() -> None:
    """Servers built from now on answer document pulls off the loop (Panel puts its own
    websocket handler in Bokeh's per-application routes the same way)."""
    from bokeh.server.urls import per_app_patterns

    per_app_patterns[:] = [
        (route[0], OffLoopWSHandler, *route[2:]) if route[1] is WSHandler else route
        for route in per_app_patterns
    ]
