"""The frame around every page: navigation (with the review queue's length), who is
signed in, page-level notes, and the type and spacing every page shares."""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Sequence

import panel as pn
from bokeh.document import without_document_lock
from panel.viewable import Viewable

from dashboards.context import get_context
from dashboards.offloop import change_off_loop, left
from mediaml import review
from mediaml.errors import MediamlError

log = logging.getLogger(__name__)

PAGES = (
    ("review", "Review"),
    ("explore", "Explore"),
    ("ingest", "Add videos"),
    ("status", "Status"),
)
# How often an open page re-reads the pending count (one indexed count, off the loop).
PENDING_REFRESH_MS = 30_000

# One type scale and spacing for every page; the review page adds its dark surface.
_CSS = """
:host { --mm-font: system-ui, -apple-system, "Segoe UI", sans-serif; }
.mm-nav { display: flex; gap: 20px; align-items: baseline; font-family: var(--mm-font);
          font-size: 15px; border-bottom: 1px solid #dee2e6; padding: 8px 12px;
          width: 100%; box-sizing: border-box; }
.mm-nav a { text-decoration: none; color: #1c7ed6; }
.mm-nav a:hover { text-decoration: underline; }
.mm-nav a.mm-current { color: #212529; font-weight: 700; }
.mm-nav .mm-brand { font-weight: 800; margin-right: 8px; letter-spacing: 0.02em; }
.mm-nav .mm-user { margin-left: auto; color: #495057; }
.mm-count { display: inline-block; min-width: 1.4em; margin-left: 6px; padding: 0 6px;
            border-radius: 9px; background: #e7f5ff; color: #1864ab; font-size: 12px;
            font-weight: 700; text-align: center; font-variant-numeric: tabular-nums; }
.mm-count.mm-zero { background: #ebfbee; color: #2b8a3e; }
.mm-nav.mm-dark { background: #101113; border-bottom-color: #2c2e33; color: #c1c2c5; }
.mm-nav.mm-dark a { color: #74c0fc; }
.mm-nav.mm-dark a.mm-current { color: #f8f9fa; }
.mm-nav.mm-dark .mm-user { color: #909296; }
.mm-nav.mm-dark .mm-count { background: #1c2a3a; color: #a5d8ff; }
.mm-nav.mm-dark .mm-count.mm-zero { background: #1b2e21; color: #8ce99a; }
.mm-notes { color: #b00020; font-family: var(--mm-font); font-size: 14px; padding: 4px 12px; }
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


class NavBar:
    """The navigation bar of one page, with the number of clips waiting for review.

    The count is read in the background when the page opens and every
    ``PENDING_REFRESH_MS``; the review page sets it after every action instead (its
    answers carry the count already).
    """

    def __init__(self, current: str, *, dark: bool = False) -> None:
        self.current = current
        self.dark = dark
        self.pending: int | None = None
        self.pane = pn.pane.HTML(
            self._html(), stylesheets=[_CSS], sizing_mode="stretch_width", margin=0
        )
        self.doc = pn.state.curdoc
        if self.doc is not None and self.doc.session_context is not None:
            self.refresh()
            pn.state.add_periodic_callback(self._every, period=PENDING_REFRESH_MS)

    def _html(self) -> str:
        links = []
        for name, label in PAGES:
            count = ""
            if name == "review" and self.pending is not None:
                zero = " mm-zero" if self.pending == 0 else ""
                count = (
                    f'<span class="mm-count{zero}" data-pending="{self.pending}" '
                    f'title="clips pending review">{self.pending:,}</span>'
                )
            current = "mm-current" if name == self.current else ""
            links.append(
                f'<a href="{page_url(name)}" class="{current}" data-page="{name}">{label}{count}</a>'
            )
        who = user()
        account = (
            f'<span class="mm-user">signed in as <b>{html.escape(who)}</b> · '
            '<a href="/logout">log out</a></span>'
            if who
            else ""
        )
        theme = " mm-dark" if self.dark else ""
        return (
            f'<nav class="mm-nav{theme}"><span class="mm-brand">mediaml</span>'
            f"{''.join(links)}{account}</nav>"
        )

    def set_pending(self, count: int) -> None:
        """Show ``count`` clips pending review."""
        self.pending = count
        self.pane.object = self._html()

    def _every(self) -> None:
        if not left(self.doc):  # nobody would see it (dashboards.offloop.left)
            self.refresh()

    def refresh(self) -> None:
        """Re-read the pending count off the event loop, then show it."""
        doc = self.doc

        def count() -> None:
            try:
                n = review.pending_count()
            except MediamlError as exc:  # the nav must never break a page; the log says why
                log.warning("pending count unavailable: %s", exc)
                return
            if doc is not None:
                # Changed off the event loop: any change of a big page (explore) makes
                # Bokeh walk all its models.
                @without_document_lock
                async def show() -> None:
                    await change_off_loop(doc, lambda: self.set_pending(n))

                with contextlib.suppress(RuntimeError):  # the tab closed meanwhile
                    doc.add_next_tick_callback(show)  # type: ignore[arg-type]

        get_context().background(count)


def shell(
    current: str,
    body: Viewable,
    *,
    notes: Sequence[str] = (),
    nav: NavBar | None = None,
    extensions: Sequence[str] = (),
) -> pn.Column:
    """``body`` under the navigation bar, with any ``notes`` (ignored parameters) on top.

    ``extensions`` names the Panel extensions the page uses (e.g. ``"tabulator"``): only
    their JavaScript and CSS are in the page. Without this, every extension imported by
    any page would be in every page (Tabulator's alone is 550 KB for the browser to load
    and run).
    """
    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        # What `pn.extension(*extensions)` records for a session, without the rest of
        # its work (~50 ms a page).
        pn.state._extensions_[doc] = list(extensions)
    parts: list[Viewable] = [(nav or NavBar(current)).pane]
    if notes:
        parts.append(
            pn.pane.HTML(
                '<div class="mm-notes">' + "<br>".join(html.escape(n) for n in notes) + "</div>",
                stylesheets=[_CSS],
                margin=0,
            )
        )
    parts.append(body)
    return pn.Column(*parts, sizing_mode="stretch_width", margin=0)
