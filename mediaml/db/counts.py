"""How many clips are in each state, read from ``clip_state_counts`` (kept by triggers as
clips change; see migration 0013) in a few rows at any catalogue size; and how many live
clips each video has, read from ``video_clip_counts`` (migration 0016) in about one row
per video, without reading the clips.

Each table holds one row per state (video) and statement that changed its count, with
the change; a count is the sum of its rows. When more than :data:`FOLD_ABOVE` rows have
piled up (beyond one per video), a reader folds them into one row per state (video):
one statement; concurrent writers keep appending, and a second reader folding at the
same moment skips its turn.
"""

from __future__ import annotations

from mediaml.db.database import Connection

# Rows the table may hold before a reader folds them (a sum over this many is ~1 ms).
FOLD_ABOVE = 1000
# pg_try_advisory_xact_lock key: one fold at a time ("mediaml" counts).
_FOLD_LOCK = 0x6D65_6469_616D_6C01 - 2**63
_FOLD_VIDEOS_LOCK = 0x6D65_6469_616D_6C02 - 2**63

# Live clips per video: join it to source_videos on video_id (a video with none has no row).
LIVE_CLIPS = "SELECT video_id, sum(n)::bigint AS n FROM video_clip_counts GROUP BY video_id"


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
    return _fold(conn, "clip_state_counts", "state", _FOLD_LOCK)


def fold_live_clips_if_piled_up(conn: Connection) -> bool:
    """Fold ``video_clip_counts`` into one row per video (same sums, videos at zero
    dropped) when it holds more than :data:`FOLD_ABOVE` rows beyond one per video.
    Returns whether it folded."""
    row = conn.execute(
        "SELECT count(*) - count(DISTINCT video_id) AS extra FROM video_clip_counts"
    ).fetchone()
    if row is None or int(row["extra"]) <= FOLD_ABOVE:
        return False
    return _fold(conn, "video_clip_counts", "video_id", _FOLD_VIDEOS_LOCK)


def _fold(conn: Connection, table: str, key: str, lock: int) -> bool:
    locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s) AS ok", (lock,)).fetchone()
    if not locked or not locked["ok"]:
        return False
    # Names from the two callers above, never from input.
    conn.execute(
        f"WITH gone AS (DELETE FROM {table} RETURNING {key}, n)"
        f" INSERT INTO {table} SELECT {key}, sum(n) FROM gone GROUP BY {key}"
        " HAVING sum(n) <> 0"
    )
    return True
