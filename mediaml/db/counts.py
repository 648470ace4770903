"""How many clips are in each state, read from ``clip_state_counts`` (kept by triggers as
clips change; see migration 0013) in a few rows at any catalogue size.

The table holds one row per state and statement that changed it, with the change; a
state's count is the sum of its rows. When more than :data:`FOLD_ABOVE` rows have piled
up, a reader folds them into one row per state (one statement; concurrent writers keep
appending, and a second reader folding at the same moment skips its turn).
"""

from __future__ import annotations

from mediaml.db.database import Connection

# Rows the table may hold before a reader folds them (a sum over this many is ~1 ms).
FOLD_ABOVE = 1000
# pg_try_advisory_xact_lock key: one fold at a time ("mediaml" counts).
_FOLD_LOCK = 0x6D65_6469_616D_6C01 - 2**63


def clip_counts(conn: Connection) -> dict[str, int]:
    """Clips per state (states with none are absent), as of this transaction's snapshot."""
    rows = conn.execute(
        "SELECT state, sum(n) AS n, count(*) AS parts FROM clip_state_counts GROUP BY state"
    ).fetchall()
    if sum(int(r["parts"]) for r in rows) > FOLD_ABOVE:
        fold(conn)
    return {r["state"]: int(r["n"]) for r in rows if int(r["n"])}


def clips_in_state(conn: Connection, state: str) -> int:
    """How many clips are in ``state``."""
    return clip_counts(conn).get(state, 0)


def fold(conn: Connection) -> bool:
    """Replace the rows by one per state (same sums); False when another reader is
    folding right now (then this one leaves it to that one)."""
    locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", (_FOLD_LOCK,)).fetchone()
    if not locked or not locked["ok"]:
        return False
    conn.execute(
        "WITH gone AS (DELETE FROM clip_state_counts RETURNING state, n)"
        " INSERT INTO clip_state_counts SELECT state, sum(n) FROM gone GROUP BY state"
        " HAVING sum(n) <> 0"
    )
    return True
