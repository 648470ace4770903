"""``panel serve dashboards/app.py --plugins dashboards.routes``: the whole dashboard as
one Panel app, the page chosen by ``?page=review|explore|status``.

``mediaml serve`` is the usual way to run it (one path per page, logins wired from the
settings); this entry point exists for people who already run ``panel serve``.
"""

from __future__ import annotations

import panel as pn

from dashboards.context import get_context
from dashboards.query import QueryParam, read_query
from dashboards.server import pages

NAMES = tuple(pages())


def app() -> pn.viewable.Viewable:
    """The page named by ``?page=`` (default: review)."""
    get_context()
    values, notes = read_query(pn.state.session_args, [QueryParam("page", "choice", NAMES)])
    view = pages()[values.get("page", "review")]()
    if notes:
        view.insert(1, pn.pane.Alert(" ".join(notes), alert_type="warning"))
    return view


if __name__.startswith("bokeh_app"):
    app().servable(title="mediaml")
