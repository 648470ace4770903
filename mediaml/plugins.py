"""Plugins: embedders and shot detectors that other packages add through entry points.

A package makes its embedder or detector available to mediaml, without editing mediaml,
by declaring an entry point in its own ``pyproject.toml`` (as pytest and datasette
plugins do)::

    [project.entry-points."mediaml.embedders"]
    mean-colour = "mediaml_meancolour:BACKEND"      # a mediaml.embed.embedder.Backend

    [project.entry-points."mediaml.detectors"]
    every-second = "mediaml_everysecond:DETECTOR"   # a mediaml.media.detectors.Detector

Installed plugins are found when a name is looked up, so ``pip install`` is all it takes;
the model or detector is then chosen by name like a built-in one (``MEDIAML_EMBED_MODEL``,
``MEDIAML_DETECTOR``, ``model=`` arguments). See docs/plugins.md for a whole example.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)

EMBEDDERS = "mediaml.embedders"
DETECTORS = "mediaml.detectors"


def load_plugins(group: str, kind: type) -> dict[str, Any]:
    """Every installed entry point of ``group`` whose object is a ``kind``, by its name.

    A plugin that cannot be imported, or that is not a ``kind``, is left out with one
    warning naming its distribution and what went wrong, so one broken package does
    not take the others down.
    """
    found: dict[str, Any] = {}
    for point in entry_points(group=group):
        where = f"{point.dist.name if point.dist else '?'} ({point.value})"
        try:
            obj = point.load()
        except Exception as exc:  # any error inside third-party code
            log.warning("%s plugin %r from %s failed to load: %s", group, point.name, where, exc)
            continue
        if not isinstance(obj, kind):
            log.warning(
                "%s plugin %r from %s is a %s, not a %s; left out",
                group,
                point.name,
                where,
                type(obj).__name__,
                kind.__name__,
            )
            continue
        found[str(getattr(obj, "name", point.name))] = obj
    return found
