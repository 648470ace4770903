"""One Panel server for the review, explore and status pages plus the extra routes."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, cast

import panel as pn
from bokeh.server.server import Server
from panel.io.application import build_applications

from dashboards.auth import MediamlAuthProvider
from dashboards.bokeh_defaults import install as remember_bokeh_defaults
from dashboards.collect import log_request
from dashboards.context import DEFAULT_PREFETCH, configure
from dashboards.offloop import OffLoopApplication, install
from dashboards.routes import routes
from mediaml.config import Settings

log = logging.getLogger(__name__)

TITLES = {
    "review": "mediaml · review",
    "explore": "mediaml · explore",
    "status": "mediaml · status",
    "ingest": "mediaml · add videos",
}


def pages() -> dict[str, Callable[[], Any]]:
    """Page slug -> function building that page for one session."""
    from dashboards.pages import explore, ingest, review, status

    return {
        "review": review.page,
        "explore": explore.page,
        "ingest": ingest.page,
        "status": status.page,
    }


# Modules that Panel and Bokeh import the first time a page needs them, not when they are
# imported themselves: Panel's Markdown pane renders with markdown-it, its plugins and
# linkify (and imports Python-Markdown, which imports ElementTree), Tabulator imports
# pandas' Styler, a session its Location. With the ones warm_first_use loads by using
# them, about 0.25 s of CPU, which the first pages after a start paid while holding the
# GIL. `tests/dashboard/test_warm.py` names any module a page still imports after the
# start.
FIRST_USE_MODULES = (
    "markdown",
    "markdown_it",
    "linkify_it",
    "mdit_py_plugins.anchors",
    "mdit_py_plugins.deflist",
    "mdit_py_plugins.footnote",
    "mdit_py_plugins.tasklists",
    "xml.etree.ElementTree",
    "pandas.io.formats.style",
    "panel.io.location",
    "panel.io.browser",
    "mediaml.plugins",
)


def warm_first_use() -> None:
    """Load now what the pages would load on their first use, so that the first page
    after a start does not pay for it and ``gc.freeze`` at start-up sees it too: the
    modules of :data:`FIRST_USE_MODULES` (one that is not installed, a library's own
    optional dependency, is skipped); Bokeh's DataFrame conversion (narwhals and its
    pandas backend, for the status tables); PIL's image formats (the map is a PNG)."""
    import importlib

    import pandas as pd
    from bokeh.models import ColumnDataSource
    from PIL import Image

    for name in FIRST_USE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            log.debug("not installed: %s", name)
    ColumnDataSource.from_df(pd.DataFrame({"n": [0], "at": pd.to_datetime(["2024-01-01"])}))
    Image.init()


def warm_explore_map(settings: Settings) -> None:
    """Read the stored map the explore page opens with (the first model with vectors,
    the configured strategy if it has vectors, the first map method; what a page without
    choices in its address shows) and draw its first view, so that the first explore
    page after a start finds both in this process's caches. A page that comes while
    they are read waits for that read (:func:`mediaml.projections.read_map`) instead of
    starting a second one. Only this one map: at a million clips it holds ~24 MB of
    arrays for as long as the process runs, as every map a page has shown does."""
    from dashboards.explore_map import POINTS_SHOWN, first_view
    from dashboards.pages.explore import opening_strategy
    from mediaml.embed import variants
    from mediaml.projections import methods, read_map

    found = variants()
    if not found:
        return
    model = next(iter(found))
    strategy = opening_strategy(found[model], settings.embed_strategy)
    points = read_map(model, strategy, methods()[0])
    if points is not None and len(points) > POINTS_SHOWN:
        first_view(points)


def use_local_resources() -> None:
    """Serve Panel's and Bokeh's JavaScript and CSS from this server, never from a CDN
    (reviewers' machines may have no internet, and we load no third-party code)."""
    os.environ["BOKEH_RESOURCES"] = "server"


def make_server(
    settings: Settings,
    *,
    port: int,
    address: str = "127.0.0.1",
    prefetch: int = DEFAULT_PREFETCH,
    allow_origins: tuple[str, ...] = (),
) -> Server:
    """Build (but do not start) the dashboard server.

    Args:
        settings: process settings (database, store, logins).
        port: TCP port; address: interface to listen on.
        prefetch: upcoming clips to cut ahead of each reviewer (0 turns it off).
        allow_origins: extra ``host:port`` origins allowed to open the websocket (the
            public host is added from ``PUBLIC_HOST``).

    Raises:
        ConfigError: production without logins; DatabaseError: no database.
    """
    ctx = configure(settings, prefetch=prefetch)
    use_local_resources()
    origins = {f"localhost:{port}", f"127.0.0.1:{port}", f"{address}:{port}", *allow_origins}
    if settings.public_host:
        origins.add(settings.public_host)
    kwargs: dict[str, Any] = {}
    if ctx.auth is not None:
        kwargs.update(
            auth_provider=MediamlAuthProvider(ctx.auth, ctx.limiter),
            cookie_secret=ctx.auth.cookie_secret,
        )
    if settings.production:
        # Behind Render's proxy the client's address is the last X-Forwarded-For hop;
        # login backoff per address needs it.
        kwargs["use_xheaders"] = True
    # Each session's document is made, and sent to the browser, off the event loop.
    install()
    # Bokeh's stable property defaults are worked out once per model class.
    remember_bokeh_defaults()
    apps = build_applications(cast(Any, pages()), title=TITLES)
    server: Server = pn.serve(
        {slug.lstrip("/"): OffLoopApplication.of(app) for slug, app in apps.items()},
        port=port,
        address=address,
        websocket_origin=sorted(origins),
        show=False,
        start=False,
        title=TITLES,
        extra_patterns=routes(),
        log_function=log_request,  # every request but /healthz delays full collections
        **kwargs,
    )
    log.info(
        "dashboard on http://%s:%d (logins %s, prefetch %d)",
        address,
        port,
        "on" if ctx.auth else "off",
        prefetch,
    )
    return server
