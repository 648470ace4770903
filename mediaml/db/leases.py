"""Leases: who holds a video or clip, and until when. The one place claims are taken,
renewed and given back.

A lease is ``lease_owner`` + ``lease_expires_at``. Workers hold in-flight items under a
lease named after their node (renewed by a heartbeat; an expired one is recovered by the
dispatcher). Reviewers hold the pending clip on their screen under a *review claim*,
``review:<reviewer>``. A row is free when nobody holds a live lease on it.

Claims that also change state (a worker's ``ready -> in_flight``) go through
:func:`mediaml.db.transitions.transition_all`, so the state machine's rules hold for them
too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from mediaml.db.database import Connection
from mediaml.db.transitions import seconds_from_now, transition_all

REVIEW_PREFIX = "review:"


def review_owner(reviewer: str) -> str:
    """The ``lease_owner`` value of a reviewer's claim."""
    return REVIEW_PREFIX + reviewer


def reviewer_of(owner: str | None) -> str | None:
    """The reviewer named by a ``lease_owner`` value (None for a worker's lease)."""
    if owner and owner.startswith(REVIEW_PREFIX):
        return owner[len(REVIEW_PREFIX) :]
    return None


def free(alias: str = "t", owner_param: str | None = None) -> str:
    """SQL condition: nobody holds a live lease on the row (except ``%(owner_param)s``)."""
    p = f"{alias}." if alias else ""
    mine = f" OR {p}lease_owner = %({owner_param})s" if owner_param else ""
    return (
        f"({p}lease_owner IS NULL{mine} OR {p}lease_expires_at IS NULL"
        f" OR {p}lease_expires_at <= now())"
    )


def claim(
    conn: Connection,
    table: str,
    owner: str,
    seconds: float,
    *,
    ids: Sequence[int],
    state: str,
    to_state: str | None = None,
    where: str = "",
    params: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Take a lease for ``owner`` on the free rows of ``ids`` that are in ``state``.

    Args:
        seconds: how long the lease lasts unless renewed.
        to_state: also move the rows to this state (a worker's claim).
        where: extra SQL condition on ``t`` (named parameters from ``params``).

    Returns:
        The claimed rows, whole; rows not in ``state`` or held by someone else are skipped.
    """
    condition = free("t", "_claimant") + (f" AND ({where})" if where else "")
    values = {**(params or {}), "_claimant": owner}
    lease: dict[str, Any] = {"lease_owner": owner, "lease_expires_at": seconds_from_now(seconds)}
    if to_state is not None:
        return transition_all(
            conn,
            table,
            to_state,
            expect=state,
            ids=ids,
            where=condition,
            params=values,
            returning="t.*",
            **lease,
        )
    if not ids:
        return []
    query = sql.SQL(
        "UPDATE {} AS t SET lease_owner = %(_claimant)s, lease_expires_at = {}"
        " WHERE t.id = ANY(%(_ids)s) AND t.state = %(_state)s AND {} RETURNING t.*"
    ).format(sql.Identifier(table), lease["lease_expires_at"], sql.SQL(condition))
    return conn.execute(query, {**values, "_ids": list(ids), "_state": state}).fetchall()


def renew(
    conn: Connection, table: str, row_id: int, owner: str, seconds: float, *, state: str
) -> bool:
    """Extend ``owner``'s lease on a row in ``state``; False when the lease is lost."""
    row = conn.execute(
        sql.SQL(
            "UPDATE {} SET lease_expires_at = {} WHERE id = %s AND state = %s"
            " AND lease_owner = %s RETURNING id"
        ).format(sql.Identifier(table), seconds_from_now(seconds)),
        (row_id, state, owner),
    ).fetchone()
    return row is not None


def give_back(
    conn: Connection, table: str, owner: str, *, state: str, keep: int | None = None
) -> int:
    """Drop ``owner``'s leases on rows in ``state`` (except row ``keep``); returns how many.

    For leases without a state change (review claims); a worker gives back an in-flight
    item by moving it back to its ready state through :mod:`mediaml.db.transitions`.
    """
    cur = conn.execute(give_back_statement(table), (owner, state, keep))
    return cur.rowcount


def give_back_statement(table: str) -> sql.Composed:
    """:func:`give_back`'s statement; parameters: owner, state, the row to keep (or None).

    It reads only held rows (an index of them, migration 0017), not every row in ``state``.
    """
    return sql.SQL(
        "UPDATE {} SET lease_owner = NULL, lease_expires_at = NULL"
        " WHERE lease_owner = %s AND state = %s AND id IS DISTINCT FROM %s"
    ).format(sql.Identifier(table))
