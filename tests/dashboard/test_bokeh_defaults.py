"""Bokeh property defaults remembered per model class (dashboards/bokeh_defaults.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import panel as pn
import pytest
from bokeh.core.property.bases import Property
from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.document import Document
from bokeh.model import Model
from bokeh.models import GlyphRenderer, Plot
from bokeh.themes import Theme

from dashboards import bokeh_defaults


@pytest.fixture
def remembered() -> Iterator[None]:
    bokeh_defaults.install()
    yield
    bokeh_defaults.uninstall()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_every_bokeh_model_gets_the_defaults_bokeh_gives(remembered: None) -> None:
    checked = 0
    for cls in sorted(set(Model.model_class_reverse_map.values()), key=lambda c: c.__name__):
        try:
            models = [cls(), cls()]
        except Exception:  # abstract, or needs arguments
            continue
        for name in sorted(cls.properties()):
            descriptor = cls.lookup(name)
            if not isinstance(descriptor, PropertyDescriptor):
                continue  # an alias of another property
            for obj in models:  # the second one is answered from what the first left
                ours = descriptor.instance_default(obj)
                theirs = bokeh_defaults._bokeh_instance_default(descriptor, obj)
                unstable = descriptor.has_unstable_default(obj)
                assert unstable == bokeh_defaults._bokeh_has_unstable_default(descriptor, obj)
                if unstable:  # made anew for each model
                    assert (descriptor, cls) not in bokeh_defaults._stable
                    assert type(ours) is type(theirs), (cls.__name__, name)
                else:
                    assert _same(ours, theirs), (cls.__name__, name, ours, theirs)
            checked += 1
    assert checked > 5_000
    # Mutable defaults are never shared between models.
    first, second = Plot(), Plot()
    assert first.renderers is not second.renderers
    first.renderers.append(GlyphRenderer())
    assert second.renderers == []


def test_themed_models_get_their_theme(remembered: None) -> None:
    doc = Document()
    plot = Plot()
    doc.add_root(plot)
    assert plot.themed_values() is None
    assert plot.background_fill_color == "#ffffff"
    doc.theme = Theme(json={"attrs": {"Plot": {"background_fill_color": "#123456"}}})
    assert plot.themed_values() == {"background_fill_color": "#123456"}
    assert plot.background_fill_color == "#123456"
    assert Plot().background_fill_color == "#ffffff"  # not in that document
    doc.theme = Theme(json={})
    assert plot.themed_values() is None
    assert plot.background_fill_color == "#ffffff"


def test_a_second_model_of_a_class_reuses_its_defaults(
    remembered: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = [0]
    bokeh_themed_default = Property.themed_default

    def counted(self: Property[Any], *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return bokeh_themed_default(self, *args, **kwargs)

    monkeypatch.setattr(Property, "themed_default", counted)

    def made() -> int:
        calls[0] = 0
        doc = Document()
        root = pn.Row(pn.widgets.Button(label="Go"), pn.pane.HTML("<b>x</b>")).get_root(doc)
        doc.add_root(root)
        doc.to_json()
        return calls[0]

    bokeh_defaults.uninstall()
    made()  # Panel's own first-use work
    bokehs = made()
    assert made() == bokehs  # Bokeh works every default out each time
    bokeh_defaults.install()
    made()  # remembers the stable ones
    ours = made()
    # What is left: defaults that are models or containers (made anew for each model).
    assert ours < 0.6 * bokehs, (ours, bokehs)
