"""Deferred page bodies: models made in a worker thread are the ones Panel attaches.

If a Panel upgrade stopped reusing a component's models per root, pages would still
work (Panel would make the models again) but on the event loop: this test says so.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc

from dashboards.pages.deferred import _root_of, deferred_body, prebuild


def test_models_made_in_a_worker_thread_are_attached_as_they_are():
    doc = Document()
    body = pn.Column(pn.pane.HTML("Loading…"))
    root = body.get_root(doc)
    doc.add_root(root)
    assert _root_of(body, doc) == (root, root)
    parts = [
        pn.widgets.Button(name="Go"),
        pn.Row(pn.pane.HTML("<b>x</b>"), pn.widgets.Select(options=["a", "b"], value="b")),
    ]
    worker = threading.Thread(target=prebuild, args=(parts, doc, root, root))
    worker.start()
    worker.join()
    made = [part._models[root.ref["id"]][0] for part in parts]
    assert made[1].children[1].value == "b"  # made with the values set before
    body.objects = parts
    assert list(root.children) == made  # the same objects: nothing made again
    assert all(model.document is doc for model in made)


def test_no_root_yet_means_nothing_is_made():
    body = pn.Column(pn.pane.HTML("Loading…"))
    assert _root_of(body, Document()) is None


def _made(make, what: str) -> pn.Column:
    """A deferred body outside a server session, made on a running event loop (Panel runs
    the onload callback at once there), returned when it no longer says "Loading…"."""

    async def run() -> pn.Column:
        with set_curdoc(Document()):
            body = deferred_body(make, what)
        deadline = time.monotonic() + 10
        while "Loading" in str(getattr(body.objects[0], "object", "")):
            assert time.monotonic() < deadline, "the deferred body did not arrive"
            await asyncio.sleep(0.02)
        return body

    # In a thread of its own: an earlier test may leave an event loop set in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_a_body_that_cannot_be_made_says_why_instead_of_loading_forever():
    def make():
        raise RuntimeError("the database does not answer: start it")

    body = _made(make, "Explore")
    assert body.objects[0].object == (
        '<p class="mm-error">Explore is unavailable: the database does not answer: start it</p>'
    )


def test_the_parts_replace_the_loading_line_then_the_hook_runs():
    made, hooked = [pn.pane.HTML("one"), pn.pane.HTML("two")], []

    def make():
        return made, lambda: hooked.append(True)

    body = _made(make, "Status")
    assert body.objects == made and hooked == [True]
