"""``panel serve dashboards/app.py --plugins dashboards.routes``: the whole dashboard as
one Panel app, the page chosen by ``?page=review|explore|status``.

``mediaml serve`` is the usual way to run it (one path per page, logins wired from the
settings); this entry point exists for people who already run ``panel serve``.
"""

from __future__ import annotations

import panel as pn

from dashboards import routes
from dashboards.auth import LOGIN_URL
from dashboards.context import get_context, session_identity
from dashboards.query import QueryParam, read_query
from dashboards.server import pages

NAMES = tuple(pages())


def app() -> pn.viewable.Viewable:
    """The page named by ``?page=`` (default: review); with logins on and nobody logged
    in, only a link to the login (``panel serve`` has no login of its own)."""
    if get_context().auth is not None and not session_identity().login:
        return login_required()
    values, notes = read_query(pn.state.session_args, [QueryParam("page", "choice", NAMES)])
    view = pages()[values.get("page", "review")]()
    if notes:
        view.insert(1, pn.pane.Alert(" ".join(notes), alert_type="warning"))
    return view


def login_required() -> pn.viewable.Viewable:
    """What a session without a login sees: nothing of the library."""
    if routes.plugged_in:
        text = f'<a href="{LOGIN_URL}?next=/app">Log in</a> to use the mediaml dashboard.'
    else:
        text = (
            "Logins are on (MEDIAML_AUTH_USERS) and this server cannot check them: run "
            "<code>panel serve dashboards/app.py --plugins dashboards.routes</code> or "
            "<code>mediaml serve</code>."
        )
    return pn.pane.HTML(f'<p class="mm-login-required">{text}</p>', margin=20)


if __name__.startswith("bokeh_app"):
    app().servable(title="mediaml")
