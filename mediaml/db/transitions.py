"""The one door through which videos and clips change state.

Every ``UPDATE ... SET state`` in mediaml is built here (``tests/test_state_door.py``
scans the package's SQL for any other), so a rule added here holds everywhere:

- the move must be legal in :mod:`mediaml.states`: the update only matches rows whose
  current state may move to the target (and is ``expect``, when given);
- it is lease-aware: ``owner`` limits the move to rows whose lease that owner holds, so a
  worker that lost its lease cannot finish, fail or release an item another worker has
  taken since; ``lease_expired`` limits it to rows whose lease ran out (crash recovery).

:func:`transition` moves one row and raises when it cannot; :func:`transition_all` moves
a set of rows in one statement (crash recovery, a shutdown's release, retries) and
returns the rows it moved. Field values may be SQL expressions (:func:`seconds_from_now`,
:func:`plus_one`), so set-based moves stay one statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from psycopg import sql

from mediaml.db.database import Connection
from mediaml.errors import IllegalTransitionError, NotFoundError
from mediaml.states import allowed_sources, check_transition

_TABLES = ("source_videos", "clips")


def seconds_from_now(seconds: float) -> sql.Composable:
    """A field value: the time ``seconds`` from now (lease expiry, next retry)."""
    return sql.SQL("now() + make_interval(secs => {})").format(sql.Literal(float(seconds)))


def plus_one(column: str) -> sql.Composable:
    """A field value: ``column`` + 1 (counting attempts in a set-based move)."""
    return sql.SQL("{} + 1").format(sql.Identifier(column))


def _sources(table: str, to_state: str, expect: str | Iterable[str] | None) -> list[str]:
    if table not in _TABLES:
        raise ValueError(f"state changes work on {_TABLES}, not {table!r}")
    sources = allowed_sources(table, to_state)
    if expect is not None:
        sources &= frozenset({expect}) if isinstance(expect, str) else frozenset(expect)
    return sorted(sources)


def _update(
    table: str,
    to_state: str,
    sources: list[str],
    fields: Mapping[str, Any],
    *,
    owner: str | None,
    lease_expired: bool,
    ids: Sequence[int] | None,
    where: str,
    returning: str,
) -> tuple[sql.Composed, dict[str, Any]]:
    """The UPDATE statement (alias ``t``) and its parameters; the one place it is built."""
    params: dict[str, Any] = {"_from": sources}
    assignments = [sql.SQL("state = {}").format(sql.Literal(to_state))]
    for name, value in fields.items():
        if isinstance(value, sql.Composable):
            rhs: sql.Composable = value
        else:
            rhs = sql.Placeholder(f"_f_{name}")
            params[f"_f_{name}"] = value
        assignments.append(sql.SQL("{} = {}").format(sql.Identifier(name), rhs))
    conditions = [sql.SQL("t.state = ANY(%(_from)s)")]
    if ids is not None:
        conditions.append(sql.SQL("t.id = ANY(%(_ids)s)"))
        params["_ids"] = list(ids)
    if owner is not None:
        conditions.append(sql.SQL("t.lease_owner = %(_owner)s"))
        params["_owner"] = owner
    if lease_expired:
        conditions.append(sql.SQL("t.lease_expires_at < now()"))
    if where:
        conditions.append(sql.SQL("(") + sql.SQL(where) + sql.SQL(")"))  # type: ignore[arg-type]
    query = sql.SQL("UPDATE {} AS t SET {} WHERE {} RETURNING {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(assignments),
        sql.SQL(" AND ").join(conditions),
        sql.SQL(returning),
    )
    return query, params


def transition_all(
    conn: Connection,
    table: str,
    to_state: str,
    *,
    expect: str | Iterable[str],
    ids: Sequence[int] | None = None,
    owner: str | None = None,
    lease_expired: bool = False,
    where: str = "",
    params: Mapping[str, Any] | None = None,
    returning: str = "t.id",
    **fields: Any,
) -> list[dict[str, Any]]:
    """Move every matching row from ``expect`` to ``to_state`` in one statement.

    Args:
        expect: the state(s) to move from; only those the state machine allows count.
        ids: only these rows (all matching rows when None).
        owner: only rows whose lease this owner holds.
        lease_expired: only rows whose lease has run out.
        where: an extra SQL condition on ``t`` (named parameters from ``params``).
        returning: the columns to return (``t.*`` for whole rows).
        fields: columns to set with the state (values or SQL expressions).

    Returns:
        The moved rows (``returning`` columns); rows that did not match are left alone.

    Raises:
        IllegalTransitionError: no state in ``expect`` may move to ``to_state``.
    """
    sources = _sources(table, to_state, expect)
    if not sources:
        raise IllegalTransitionError(f"{table} cannot move from {expect!r} to {to_state!r}")
    if ids is not None and not ids:
        return []
    query, values = _update(
        table,
        to_state,
        sources,
        fields,
        owner=owner,
        lease_expired=lease_expired,
        ids=ids,
        where=where,
        returning=returning,
    )
    return conn.execute(query, {**(params or {}), **values}).fetchall()


def transition(
    conn: Connection,
    table: str,
    row_id: int,
    to_state: str,
    *,
    expect: str | frozenset[str] | None = None,
    owner: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Move one row to ``to_state`` atomically, setting ``fields`` in the same update.

    The update only matches when the row's current state may legally move to
    ``to_state`` (and is ``expect``, when given, and its lease is ``owner``'s, when
    given), so two workers racing for the same item cannot both win.

    Returns:
        The updated row.

    Raises:
        NotFoundError: no such row.
        IllegalTransitionError: the row's current state does not allow the move (or is
            not ``expect``, or another owner holds it); the message names the current state.
    """
    sources = _sources(table, to_state, expect)
    query, values = _update(
        table,
        to_state,
        sources,
        fields,
        owner=owner,
        lease_expired=False,
        ids=[row_id],
        where="",
        returning="t.*",
    )
    row = conn.execute(query, values).fetchone()
    if row is not None:
        return row
    current = conn.execute(
        sql.SQL("SELECT state, lease_owner FROM {} WHERE id = %s").format(sql.Identifier(table)),
        (row_id,),
    ).fetchone()
    noun = table[:-1].replace("_", " ")
    if current is None:
        raise NotFoundError(f"{noun} {row_id} does not exist")
    check_transition(table, current["state"], to_state)
    if owner is not None and current["lease_owner"] != owner:
        raise IllegalTransitionError(
            f"{noun} {row_id} is held by {current['lease_owner']!r}, not {owner!r}"
        )
    raise IllegalTransitionError(
        f"{noun} {row_id} is {current['state']!r}, not {expect!r} as expected"
    )
