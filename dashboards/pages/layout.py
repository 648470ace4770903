"""The frame around every page: navigation, who is signed in, page-level notes."""

from __future__ import annotations

import html
from collections.abc import Sequence

import panel as pn
from panel.viewable import Viewable

from dashboards.context import get_context

PAGES = (
    ("review", "Review"),
    ("explore", "Explore"),
    ("ingest", "Add videos"),
    ("status", "Status"),
)

_CSS = """
.mm-nav { display: flex; gap: 18px; align-items: baseline; font-family: system-ui, sans-serif;
          border-bottom: 1px solid #ddd; padding: 6px 0 8px 0; width: 100%; }
.mm-nav a { text-decoration: none; color: #1c7ed6; font-size: 1.05em; }
.mm-nav a.mm-current { color: #000; font-weight: 700; }
.mm-nav .mm-brand { font-weight: 700; margin-right: 12px; }
.mm-nav .mm-user { margin-left: auto; color: #555; }
.mm-notes { color: #b00020; font-family: system-ui, sans-serif; }
"""


def page_url(name: str) -> str:
    """The URL of a page: ``/name`` under ``mediaml serve``, ``?page=name`` under
    ``panel serve dashboards/app.py``."""
    return f"?page={name}" if get_context().single_app else f"/{name}"


def user() -> str | None:
    """The signed-in user (None when logins are off)."""
    if get_context().auth is None:
        return None
    return pn.state.user or None


def shell(current: str, body: Viewable, *, notes: Sequence[str] = ()) -> pn.Column:
    """``body`` under the navigation bar, with any ``notes`` (ignored parameters) on top."""
    links = "".join(
        f'<a href="{page_url(name)}" class="{"mm-current" if name == current else ""}"'
        f' data-page="{name}">{label}</a>'
        for name, label in PAGES
    )
    who = user()
    account = (
        f'<span class="mm-user">signed in as <b>{html.escape(who)}</b> · '
        '<a href="/logout">log out</a></span>'
        if who
        else ""
    )
    nav = pn.pane.HTML(
        f'<nav class="mm-nav"><span class="mm-brand">mediaml</span>{links}{account}</nav>',
        stylesheets=[_CSS],
        sizing_mode="stretch_width",
        margin=(0, 10),
    )
    parts: list[Viewable] = [nav]
    if notes:
        parts.append(
            pn.pane.HTML(
                '<div class="mm-notes">' + "<br>".join(html.escape(n) for n in notes) + "</div>",
                stylesheets=[_CSS],
                margin=(0, 10),
            )
        )
    parts.append(body)
    return pn.Column(*parts, sizing_mode="stretch_width")
