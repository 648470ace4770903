"""Re-queue failed videos and clips."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mediaml.db import Database, get_db
from mediaml.states import CLIP_RETRY, VIDEO_RETRY

_MACHINES = {"source_videos": VIDEO_RETRY, "clips": CLIP_RETRY}
_KINDS = {"videos": ("source_videos",), "clips": ("clips",), "all": ("source_videos", "clips")}


def retry(
    what: str = "all", ids: Sequence[int] | None = None, *, db: Database | None = None
) -> pd.DataFrame:
    """Put failed items back in the state before the stage that failed.

    Args:
        what: ``videos``, ``clips`` or ``all``.
        ids: only these ids (of the chosen kind); all failed items when None.

    Returns:
        One row per re-queued item: ``kind``, ``id``, ``from_state``, ``to_state``,
        ``last_error``. The dispatcher (or ``run_pipeline``) picks them up.
    """
    if what not in _KINDS:
        raise ValueError(f"what must be one of {', '.join(_KINDS)}, not {what!r}")
    db = db or get_db()
    rows = []
    with db.transaction() as conn:
        for table in _KINDS[what]:
            for failed, to in _MACHINES[table].items():
                query = (
                    f"UPDATE {table} SET state = %s, retry_count = 0, enqueued_at = NULL"
                    f" WHERE state = %s{' AND id = ANY(%s)' if ids is not None else ''}"
                    " RETURNING id, last_error"
                )
                params: list[object] = [to, failed]
                if ids is not None:
                    params.append(list(ids))
                for r in conn.execute(query, params).fetchall():
                    rows.append(
                        {
                            "kind": "video" if table == "source_videos" else "clip",
                            "id": r["id"],
                            "from_state": failed,
                            "to_state": to,
                            "last_error": r["last_error"],
                        }
                    )
    return pd.DataFrame(rows, columns=["kind", "id", "from_state", "to_state", "last_error"])
