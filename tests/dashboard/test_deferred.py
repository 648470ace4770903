"""Deferred page bodies: models made in a worker thread are the ones Panel attaches.

If a Panel upgrade stopped reusing a component's models per root, pages would still
work (Panel would make the models again) but on the event loop: this test says so.
"""

from __future__ import annotations

import threading

import panel as pn
from bokeh.document import Document

from dashboards.pages.deferred import _root_of, prebuild


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
