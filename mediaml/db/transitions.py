"""The one function through which videos and clips change state."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from mediaml.db.database import Connection
from mediaml.errors import IllegalTransitionError, NotFoundError
from mediaml.states import allowed_sources, check_transition

_TABLES = ("source_videos", "clips")


def transition(
    conn: Connection,
    table: str,
    row_id: int,
    to_state: str,
    *,
    expect: str | frozenset[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Move one row to ``to_state`` atomically, setting ``fields`` in the same update.

    The update only matches when the row's current state may legally move to
    ``to_state`` (and is ``expect``, when given), so two workers racing for the same
    item cannot both win.

    Returns:
        The updated row.

    Raises:
        NotFoundError: no such row.
        IllegalTransitionError: the row's current state does not allow the move (or is
            not ``expect``); the message names the current state.
    """
    if table not in _TABLES:
        raise ValueError(f"transition() works on {_TABLES}, not {table!r}")
    sources = allowed_sources(table, to_state)
    if expect is not None:
        sources &= frozenset({expect}) if isinstance(expect, str) else expect
    assignments = [sql.SQL("state = {}").format(sql.Literal(to_state))]
    assignments += [
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in fields
    ]
    query = sql.SQL(
        "UPDATE {} SET {} WHERE id = %(_id)s AND state = ANY(%(_from)s) RETURNING *"
    ).format(sql.Identifier(table), sql.SQL(", ").join(assignments))
    row = conn.execute(query, {**fields, "_id": row_id, "_from": list(sources)}).fetchone()
    if row is not None:
        return row
    current = conn.execute(
        sql.SQL("SELECT state FROM {} WHERE id = %s").format(sql.Identifier(table)), (row_id,)
    ).fetchone()
    noun = table[:-1].replace("_", " ")
    if current is None:
        raise NotFoundError(f"{noun} {row_id} does not exist")
    check_transition(table, current["state"], to_state)
    raise IllegalTransitionError(
        f"{noun} {row_id} is {current['state']!r}, not {expect!r} as expected"
    )
