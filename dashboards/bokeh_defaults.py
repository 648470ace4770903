"""Bokeh property defaults worked out once per model class, not once per model.

Every Bokeh model reads the defaults of the properties it was not given: when it is made,
when Panel builds it, and again when it is serialised for the browser. Bokeh works each
one out anew every time (``PropertyDescriptor.instance_default``: the class's overridden
defaults looked up, the value copied, then validated and transformed by
``prepare_value``), about 3,000 times for one explore page body of 87 models. Profiled,
that was a quarter of the CPU time a page body costs to make and send, all of it in
Python holding the GIL while the server's event loop waits (``/healthz`` among others).

For a *stable* default (Bokeh's own term: a plain value, not made by a function and not a
container or model that a caller could change in place) the answer depends only on the
property and the model's class, unless a theme overrides it. :func:`install` keeps those
answers; themed models, unstable defaults and values that cannot be hashed (so might be
changed in place) still go through Bokeh every time.
"""

from __future__ import annotations

from typing import Any

from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import PropertyDescriptor

_bokeh_instance_default = PropertyDescriptor.instance_default
_bokeh_has_unstable_default = PropertyDescriptor.has_unstable_default
_bokeh_themed_values = HasProps.themed_values
# (property descriptor, model class) -> the default, for stable defaults only.
_stable: dict[tuple[PropertyDescriptor[Any], type[HasProps]], Any] = {}
# (property descriptor, model class) -> whether its default is unstable.
_unstable: dict[tuple[PropertyDescriptor[Any], type[HasProps]], bool] = {}


def _immutable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def instance_default(self: PropertyDescriptor[Any], obj: HasProps) -> Any:
    """Bokeh's ``PropertyDescriptor.instance_default``, remembered per class for stable,
    unthemed defaults."""
    if obj.themed_values() is not None:
        return _bokeh_instance_default(self, obj)
    key = (self, type(obj))
    try:
        return _stable[key]
    except KeyError:
        pass
    value = _bokeh_instance_default(self, obj)
    if not has_unstable_default(self, obj) and _immutable(value):
        _stable[key] = value
    return value


def has_unstable_default(self: PropertyDescriptor[Any], obj: HasProps) -> bool:
    """Bokeh's ``PropertyDescriptor.has_unstable_default`` (asked at every read of a
    default), remembered per class: it depends only on the property and the class's
    overridden defaults."""
    key = (self, type(obj))
    try:
        return _unstable[key]
    except KeyError:
        pass
    unstable = _unstable[key] = _bokeh_has_unstable_default(self, obj)
    return unstable


def themed_values(self: HasProps) -> dict[str, Any] | None:
    """Bokeh's ``HasProps.themed_values`` (asked at every read of a default) without a
    failed attribute lookup and its exception when no theme applies: Bokeh keeps a
    theme's values in the instance's ``__themed_values__`` and deletes it when none."""
    values: dict[str, Any] | None = self.__dict__.get("__themed_values__")
    return values


def install() -> None:
    """Remember stable defaults from now on (in this process; idempotent)."""
    HasProps.themed_values = themed_values  # type: ignore[method-assign]
    PropertyDescriptor.instance_default = instance_default  # type: ignore[method-assign]
    PropertyDescriptor.has_unstable_default = has_unstable_default  # type: ignore[method-assign]


def uninstall() -> None:
    """Work every default out anew again, as Bokeh does (for tests)."""
    HasProps.themed_values = _bokeh_themed_values  # type: ignore[method-assign]
    PropertyDescriptor.instance_default = _bokeh_instance_default  # type: ignore[method-assign]
    PropertyDescriptor.has_unstable_default = _bokeh_has_unstable_default  # type: ignore[method-assign]
    _stable.clear()
    _unstable.clear()
