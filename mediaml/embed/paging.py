"""A search's pages: page 1 runs the search, the later pages read the ranking it made.

A deep page of a fresh search needs a deeper index walk (one candidate per row of the
earlier pages), so reaching page 10 by searching again for every page would cost more
with every page. Instead each search keeps its ranking (clip ids and scores, best first)
in a per-process cache, keyed by the search (the `Database` object, model, strategy,
query, filters, order):

- **Page 1 always searches**, so a new search sees the catalogue as it is now, and
  ranks page 2 as well when the index walk yields that at no extra cost
  (:data:`LOOKAHEAD_CANDIDATES`).
- **A later page is a slice of the ranking**, plus one round trip for its clips'
  current details (title, state). Paging on never repeats or skips a clip, even while
  clips are being embedded meanwhile.
- **Once a reader pages on** (page 2 or later), one background thread extends the
  ranking :data:`PREFETCH_PAGES` pages past the page shown whenever it reaches fewer
  than :data:`AHEAD_PAGES` past it, so the next pages are there before they are asked
  for; a page asked for while its extension is under way waits for it. A search that
  ends on page 1, as most do, costs nothing more.
- A page the ranking does not reach (a jump far ahead, an expired or evicted ranking,
  a clip archived or deleted since) is searched afresh, like page 1.

Rankings expire after :data:`RANKING_TTL` seconds (writes by other processes show up
then, or on the next page 1) and are not used again once this process has written
vectors (:func:`mediaml.embed.store.write_generation`). The least recently used are
dropped past :data:`MAX_RANKINGS` rankings or :data:`MAX_KEPT_ROWS` ranked rows in all
(about 100 bytes a row).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mediaml.db.database import Connection, Database
from mediaml.embed.nearest import (
    DETAILS,
    EF_SEARCH_FLOOR,
    Hit,
    candidate_count,
    page_frame,
    search_session,
)
from mediaml.embed.store import write_generation

log = logging.getLogger(__name__)

# Page 1 ranks page 2 too when that keeps the walk inside its first candidate list
# (EF_SEARCH_FLOOR, less room for the query clip and archived clips the walk skips):
# page 1's candidates plus one per row of page 2, at most LOOKAHEAD_CANDIDATES (pages
# of up to 26 rows). Past the list, pgvector's iterative scan walks on and page 1 would
# cost more (at 10k clips 100 candidates took 1.8x the time of 98).
LOOKAHEAD_CANDIDATES = EF_SEARCH_FLOOR * 4 // 5
# The ranking is extended when it reaches fewer than AHEAD_PAGES past the page shown,
# to PREFETCH_PAGES past it.
AHEAD_PAGES = 2
PREFETCH_PAGES = 5
RANKING_TTL = 300.0
MAX_RANKINGS = 256
MAX_KEPT_ROWS = 200_000
# How long a page waits for the extension under way that will reach it.
EXTENSION_WAIT = 5.0

Search = Callable[[Connection, int, int], "tuple[list[Hit], bool] | None"]
"""Runs a search on a connection for ``limit`` rows, the first ``skip`` of them only
needed roughly (earlier pages): the ranked hits and whether nothing lies beyond them;
None when the query itself is missing (e.g. the clip has no vector)."""


@dataclass
class _Ranking:
    database: Database
    search: Search
    ascending: bool
    limit: int  # the most rows a search may rank (MAX_RESULTS + 1)
    hits: list[tuple[int, float]]  # (clip_id, score), in rank order
    complete: bool  # no clip lies beyond hits
    served: int  # rows handed out in pages: they keep their ranks
    made: float = field(default_factory=time.monotonic)
    generation: int = field(default_factory=write_generation)
    extending: threading.Event | None = None

    def covers(self, rows: int) -> bool:
        """Whether the ranking decides the first ``rows`` ranks: it is complete, or it
        goes past them without a tie across the boundary (the clip after could tie)."""
        if self.complete or rows == 0:
            return True
        if len(self.hits) <= rows:
            return False
        return abs(self.hits[-1][1] - self.hits[rows - 1][1]) > 1e-9


_LOCK = threading.Lock()
_RANKINGS: OrderedDict[Hashable, _Ranking] = OrderedDict()
_EXTENSIONS: queue.Queue[tuple[Hashable, _Ranking, int]] = queue.Queue(maxsize=16)
_WORKER: list[threading.Thread] = []


def search_page(
    conn: Connection,
    database: Database,
    key: Hashable,
    search: Search,
    *,
    k: int,
    page: int,
    ascending: bool,
    limit: int,
) -> pd.DataFrame | None:
    """Page ``page`` of ``k`` rows of the search ``key`` (see the module docstring).

    Args:
        conn: a connection to read with (:func:`search_session`).
        database: the database, for the background extension's own connection.
        key: identifies the search: the same key must always mean the same search.
        search: runs the search (see :data:`Search`).
        k: rows per page.
        page: 1-based page.
        ascending: the ranking is worst first (scores ascend).
        limit: the most rows a search may rank.

    Returns:
        The page frame, or None when ``search`` says the query is missing.
    """
    needed = k * page
    if page > 1:
        frame = _from_ranking(conn, key, k, page)
        if frame is not None:
            return frame
    skip = k * (page - 1)
    # Page 1 ranks page 2 as well when its walk yields that anyway (the search's skip
    # then says that page 2's rows need one candidate each, on top of page 1's own); a
    # first look at a later page (a jump) ranks just that page, and its background
    # extension adds the next ones.
    rows, rough = needed + 1, skip
    if page == 1 and candidate_count(2 * k + 1, k) <= LOOKAHEAD_CANDIDATES:
        rows, rough = 2 * k + 1, k
    found = search(conn, min(limit, rows), rough)
    if found is None:
        return None
    hits, complete = found
    ranking = _Ranking(
        database=database,
        search=search,
        ascending=ascending,
        limit=limit,
        hits=[(clip, score) for clip, score, _ in hits],
        complete=complete,
        served=min(needed, len(hits)),
    )
    with _LOCK:
        _RANKINGS[key] = ranking
        _RANKINGS.move_to_end(key)
        _evict()
    if page > 1:  # most searches end on page 1: only a reader paging on has it extended
        _extend_if_short(key, ranking, k, page)
    return page_frame(hits[skip:needed], skip + 1)


def _from_ranking(conn: Connection, key: Hashable, k: int, page: int) -> pd.DataFrame | None:
    """The page from the kept ranking, or None when it has none that reaches it."""
    needed = k * page
    with _LOCK:
        ranking = _RANKINGS.get(key)
        if ranking is None or not _fresh(ranking):
            _RANKINGS.pop(key, None)
            return None
        _RANKINGS.move_to_end(key)
        extending = ranking.extending
    if not ranking.covers(needed) and extending is not None:
        extending.wait(EXTENSION_WAIT)
    with _LOCK:
        if not ranking.covers(needed):
            return None
        chosen = ranking.hits[needed - k : needed]
    details = _details(conn, [clip for clip, _ in chosen])
    if len(details) < len(chosen):
        return None  # a clip was archived or deleted since: search afresh
    with _LOCK:
        ranking.served = max(ranking.served, min(needed, len(ranking.hits)))
    _extend_if_short(key, ranking, k, page)
    return page_frame([(clip, score, details[clip]) for clip, score in chosen], needed - k + 1)


def _evict() -> None:
    """Drop the least recently used rankings past the bounds (under _LOCK)."""
    rows = sum(len(r.hits) for r in _RANKINGS.values())
    while len(_RANKINGS) > 1 and (len(_RANKINGS) > MAX_RANKINGS or rows > MAX_KEPT_ROWS):
        _, dropped = _RANKINGS.popitem(last=False)
        rows -= len(dropped.hits)


def _fresh(ranking: _Ranking) -> bool:
    return (
        time.monotonic() - ranking.made <= RANKING_TTL and ranking.generation == write_generation()
    )


def _details(conn: Connection, clip_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The current details of the clips that are still searchable, in one round trip."""
    if not clip_ids:
        return {}
    # The same columns the search statement returns (DETAILS), title from the video.
    columns = ", ".join("v.title" if name == "title" else f"c.{name}" for name in DETAILS)
    rows = conn.execute(
        f"SELECT c.id AS clip_id, {columns}"
        " FROM clips c JOIN source_videos v ON v.id = c.video_id"
        " WHERE c.id = ANY(%s) AND c.state <> 'archived'",
        (list(clip_ids),),
    ).fetchall()
    return {int(r["clip_id"]): {name: r[name] for name in DETAILS} for r in rows}


def _extend_if_short(key: Hashable, ranking: _Ranking, k: int, page: int) -> None:
    """Queue an extension of the ranking when it reaches fewer than AHEAD_PAGES past
    ``page``."""
    with _LOCK:
        if ranking.complete or ranking.extending is not None:
            return
        if ranking.covers(min(ranking.limit - 1, k * (page + AHEAD_PAGES))):
            return
        target = min(ranking.limit, k * (page + PREFETCH_PAGES) + 1)
        if target <= len(ranking.hits):
            return
        ranking.extending = threading.Event()
    try:
        _EXTENSIONS.put_nowait((key, ranking, target))
    except queue.Full:  # busy: the page that needs it searches afresh
        _done(ranking)
        return
    _start_worker()


def settle(timeout: float = 30.0) -> bool:
    """Wait until no ranking extension is queued or running (for tests and benchmarks:
    a reader's pause between pages). Returns False when ``timeout`` ran out first."""
    deadline = time.monotonic() + timeout
    with _EXTENSIONS.all_tasks_done:
        while _EXTENSIONS.unfinished_tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _EXTENSIONS.all_tasks_done.wait(left)
    return True


def _start_worker() -> None:
    with _LOCK:
        if _WORKER and _WORKER[0].is_alive():
            return
        worker = threading.Thread(target=_work, name="mediaml-ranking-extension", daemon=True)
        _WORKER[:] = [worker]
    worker.start()


def _work() -> None:
    while True:
        key, ranking, target = _EXTENSIONS.get()
        try:
            _extend(key, ranking, target)
        except Exception:  # the ranking stays as it was; a page past it searches afresh
            log.debug("extending a search ranking failed", exc_info=True)
        finally:
            _done(ranking)
            _EXTENSIONS.task_done()


def _done(ranking: _Ranking) -> None:
    with _LOCK:
        extending, ranking.extending = ranking.extending, None
    if extending is not None:
        extending.set()


def _extend(key: Hashable, ranking: _Ranking, target: int) -> None:
    """Search ``target`` rows deep and merge what lies past the served rows."""
    with _LOCK:
        if _RANKINGS.get(key) is not ranking:
            return  # replaced, forgotten or evicted meanwhile
        served = ranking.served
    with search_session(ranking.database) as conn:
        found = ranking.search(conn, target, served)
    if found is None:
        return
    hits, complete = found
    sign = 1.0 if ranking.ascending else -1.0
    with _LOCK:
        fixed = ranking.hits[: ranking.served]
        seen = {clip for clip, _ in fixed}
        rest = {clip: score for clip, score in ranking.hits[ranking.served :]}
        rest.update((clip, score) for clip, score, _ in hits if clip not in seen)
        ordered = sorted(rest.items(), key=lambda item: (sign * item[1], item[0]))
        ranking.hits = fixed + ordered
        ranking.complete = complete
        _evict()
