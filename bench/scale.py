"""How mediaml behaves as the catalogue grows: one row per measurement, one column per size.

Builds (or reuses, see ``bench/_catalogue.py``) synthetic catalogues of clustered
512-dim clip vectors, 100 clips per video, 1% archived, and measures each user-facing
path on each. Every measurement is one function taking a :class:`Catalogue` and
returning ``{row label: cell}``; :data:`MEASUREMENTS` lists them in table order, so a
new row is a new function added to the list.

Search rows: first ``warm_search()``, as ``mediaml serve`` runs it at start (the
benchmark's server may have just started), then ``similar()`` end to end from Python
(random live query clips, the first queries discarded as warm-up), recall@24 against exact brute force in numpy over the
same vectors, for page 1, page 4 (ranks 73-96), page 10 (ranks 217-240, with the cosine
shortfall: see :func:`search_deep_page`) and filtered to the query clip's own video. Index rows: build time (measured when the catalogue was built; cached
catalogues report the figure from that build) and size.

Explore rows (``bench/_explore.py``): the stored map's build time, ``/explore`` in
headless Chromium (ready time against ``/status``, server CPU and peak memory, websocket
payload, ``/healthz`` latency while the page builds beside a control server's,
box-selecting the whole map),
``clips()`` against raw SQL, and ``export_parquet`` time and peak memory against a binary
COPY.

Run: ``python bench/scale.py [--sizes 10k,100k,1M] [--queries 200]``; sizes default to
``MEDIAML_BENCH_SIZES`` or 10k,100k.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from psycopg.rows import tuple_row

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _explore
from _catalogue import (
    DIM,
    MODEL,
    STRATEGY,
    Catalogue,
    catalogue,
    index_mib,
    progress,
    sizes,
)

from mediaml.db import Database
from mediaml.embed import paging, similar, warm_search
from mediaml.embed.warm import summary

K = 24
WARMUP = 30
QUERIES = int(os.environ.get("MEDIAML_BENCH_QUERIES", "200"))

Row = dict[str, str]
Measurement = Callable[[Catalogue], Row]


def exact_ranking(cat: Catalogue, index: int, video_only: bool, depth: int) -> np.ndarray:
    """Clip ids of the ``depth`` live clips nearest to clip ``index`` (itself left out)."""
    query = cat.vectors[index]
    if video_only:
        candidates = np.flatnonzero((cat.video_ids == cat.video_ids[index]) & cat.live)
        scores = cat.vectors[candidates] @ query
    else:
        candidates = np.arange(cat.size)
        scores = cat.vectors @ query
        scores[~cat.live] = -np.inf
    scores[candidates == index] = -np.inf
    depth = min(depth, len(scores) - 1)
    top = np.argpartition(-scores, depth)[:depth]
    return cat.clip_ids[candidates[top[np.argsort(-scores[top])]]]


def _shortfall(
    cat: Catalogue, position: dict[int, int], index: int, truth: np.ndarray, frame: Any
) -> float:
    """Mean exact cosine of the true page's clips minus that of the returned page's."""
    ideal = cat.vectors[[position[int(c)] for c in truth]] @ cat.vectors[index]
    return float(ideal.mean() - frame["cosine"].to_numpy().mean())


def _timed_similar(
    cat: Catalogue, *, page: int, video_only: bool
) -> tuple[list[float], float, float]:
    """``similar()`` latencies (ms), mean recall of the page and mean cosine shortfall
    (exact cosine of the true page's clips minus that of the returned ones) over random
    query clips."""
    rng = np.random.default_rng(7)
    picks = rng.choice(np.flatnonzero(cat.live), QUERIES + WARMUP, replace=False)
    db = Database(cat.url, max_size=1)
    position = {int(c): i for i, c in enumerate(cat.clip_ids)}
    times, recalls, shortfalls = [], [], []
    try:
        for i, index in enumerate(picks):
            clip = int(cat.clip_ids[index])
            video = int(cat.video_ids[index]) if video_only else None
            start = time.perf_counter()
            frame = similar(
                clip, K, model=MODEL, strategy=STRATEGY, page=page, db=db, source_video=video
            )
            elapsed = (time.perf_counter() - start) * 1000
            # A page past 1 has its ranking extended in the background (for paging on):
            # let that finish before the next query, as a reader's pause would.
            paging.settle()
            if i < WARMUP:
                continue
            truth = exact_ranking(cat, index, video_only, K * page)[K * (page - 1) :]
            times.append(elapsed)
            recalls.append(len(set(frame["clip_id"].tolist()) & set(truth.tolist())) / len(truth))
            shortfalls.append(_shortfall(cat, position, index, truth, frame))
    finally:
        db.close()
    return times, float(np.mean(recalls)), float(np.mean(shortfalls))


def _cell(times: list[float], recall: float) -> str:
    p50, p95 = np.percentile(times, 50), np.percentile(times, 95)
    return f"{p50:.1f} / {p95:.1f} ms, recall {recall:.3f}"


def _vs_page_one(cat: Catalogue, times: list[float]) -> str:
    base = search_page_one.p95.get(cat.size)  # type: ignore[attr-defined]
    return f" ({np.percentile(times, 95) / base:.2f}x page 1)" if base else ""


def search_warm_up(cat: Catalogue) -> Row:
    """``warm_search()``, as ``mediaml serve`` runs it when it starts: the seconds its
    walk of each index took, and what it read into shared buffers. The search rows
    after it measure a server whose buffers hold the catalogue's search pages (the
    benchmark's server may have just started, like a notebook's)."""
    db = Database(cat.url, max_size=1)
    try:
        start = time.perf_counter()
        report = warm_search(db=db)
        elapsed = time.perf_counter() - start
    finally:
        db.close()
    label = "search warm-up at server start (`warm_search()`)"
    return {label: f"{elapsed:.1f} s: {summary(report)}"}


def search_page_one(cat: Catalogue) -> Row:
    """``similar(k=24)``: p50 / p95 latency and recall@24, the first page."""
    times, recall, _ = _timed_similar(cat, page=1, video_only=False)
    search_page_one.p95[cat.size] = float(np.percentile(times, 95))  # type: ignore[attr-defined]
    return {"`similar(k=24)` p50 / p95, recall@24": _cell(times, recall)}


search_page_one.p95 = {}  # type: ignore[attr-defined]


def search_page_four(cat: Catalogue) -> Row:
    """``similar(k=24, page=4)``: ranks 73-96, the last page inside the query's video
    (each video's 99 other clips are its true neighbours), where recall means something."""
    times, recall, _ = _timed_similar(cat, page=4, video_only=False)
    label = "`similar(k=24, page=4)` p50 / p95, recall (ranks 73-96)"
    return {label: _cell(times, recall) + _vs_page_one(cat, times)}


def search_deep_page(cat: Catalogue) -> Row:
    """``similar(k=24, page=10)``: ranks 217-240, and its p95 against page 1's.

    Past rank 99 the synthetic neighbours are unrelated clips whose cosines (~0.15) differ
    by noise, so the page's positional recall is near 0 for any index; the cosine
    shortfall says how much less similar the returned clips are than the true ones.
    """
    times, recall, shortfall = _timed_similar(cat, page=10, video_only=False)
    label = "`similar(k=24, page=10)` p50 / p95, recall, cosine shortfall (ranks 217-240)"
    cell = _cell(times, recall) + f", shortfall {shortfall:.3f}" + _vs_page_one(cat, times)
    return {label: cell}


def _timed_paging(cat: Catalogue, *, pause: bool) -> tuple[list[float], list[float], float]:
    """Pages 1-10 of ``similar(k=24)`` in turn for random query clips, as a reader pages
    on: latencies (ms) of page 1 and of page 10, and page 10's mean cosine shortfall.
    With ``pause`` the reader looks at each page until the ranking's background extension
    is done (:func:`mediaml.embed.paging.settle`, not timed); without, the pages are
    asked for back to back and a page may wait for the extension that reaches it."""
    rng = np.random.default_rng(11)
    picks = rng.choice(np.flatnonzero(cat.live), QUERIES // 2 + WARMUP, replace=False)
    db = Database(cat.url, max_size=2)
    position = {int(c): i for i, c in enumerate(cat.clip_ids)}
    first, tenth, shortfalls = [], [], []
    try:
        for i, index in enumerate(picks):
            clip = int(cat.clip_ids[index])
            for page in range(1, 11):
                start = time.perf_counter()
                frame = similar(clip, K, model=MODEL, strategy=STRATEGY, page=page, db=db)
                elapsed = (time.perf_counter() - start) * 1000
                if pause:
                    paging.settle()
                if i >= WARMUP and page in (1, 10):
                    (first if page == 1 else tenth).append(elapsed)
            paging.settle()
            if i >= WARMUP:
                truth = exact_ranking(cat, index, False, K * 10)[K * 9 :]
                shortfalls.append(_shortfall(cat, position, index, truth, frame))
    finally:
        db.close()
    return first, tenth, float(np.mean(shortfalls))


def search_paging_on(cat: Catalogue) -> Row:
    """Page 10 reached by paging on from page 1 (the dashboard's and a notebook's way):
    a slice of the ranking page 1 made, extended in the background, plus one round trip
    for the page's clip details."""
    row: Row = {}
    for pause, label in ((True, "a pause after each page"), (False, "back to back")):
        first, tenth, shortfall = _timed_paging(cat, pause=pause)
        ratio = np.percentile(tenth, 95) / np.percentile(first, 95)
        row[f"paging on to page 10 ({label}): page 10 p50 / p95, vs page 1's p95"] = (
            f"{np.percentile(tenth, 50):.1f} / {np.percentile(tenth, 95):.1f} ms "
            f"({ratio:.2f}x page 1's {np.percentile(first, 95):.1f} ms), "
            f"shortfall {shortfall:.3f}"
        )
    return row


def search_one_video(cat: Catalogue) -> Row:
    """``similar(k=24, source_video=...)`` within the query clip's video."""
    times, recall, _ = _timed_similar(cat, page=1, video_only=True)
    return {"`similar(k=24, source_video=v)` p50 / p95, recall": _cell(times, recall)}


def search_index(cat: Catalogue) -> Row:
    """The search index: build time (when the catalogue was built) and size."""
    return {
        "search index build time": cat.built_note("index_build_s"),
        "search index size (clips; videos' means)": (
            f"{index_mib(cat):,.1f} MiB; {index_mib(cat, 'video_vectors'):,.1f} MiB"
        ),
        "load (SQL + binary COPY of vectors)": cat.built_note("load_s"),
    }


MEASUREMENTS: list[Measurement] = [
    search_index,
    search_warm_up,
    search_page_one,
    search_page_four,
    search_deep_page,
    search_paging_on,
    search_one_video,
    *_explore.MEASUREMENTS,  # the explore map, /explore in Chromium, clips(), export
]


# -- review, status and the other catalogue reads (audit of session 13) -------------------

PENDING_SHARE = 5  # the newest 1/5 of videos wait for review


def prepare_review(cat: Catalogue) -> None:
    """Clips waiting for review, as a real catalogue has them while new footage comes in:
    the live clips of the newest fifth of the videos are ``pending_review`` (their
    vectors stay; nothing here reads them by state). Once per cached catalogue (bench_meta
    ``review_prepared``); the other rows do not depend on clip states."""
    import psycopg
    from _catalogue import _meta, _record

    with psycopg.connect(cat.url) as conn:
        if "review_prepared" in _meta(conn):
            return
        progress("clips pending review ...")
        (videos,) = conn.execute("SELECT max(id) FROM source_videos").fetchone() or (0,)
        conn.execute(
            "UPDATE clips SET state = 'pending_review' WHERE video_id > %s AND state = 'embedded'",
            (videos - videos // PENDING_SHARE,),
        )
        _record(conn, "review_prepared", time.time())
        conn.commit()
    with psycopg.connect(cat.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE clips")


def _median_ms(call: Callable[[], Any], times: int = 7) -> float:
    """Median wall time of ``call`` in ms, after one call not counted."""
    call()
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        spent.append(time.perf_counter() - start)
    return float(np.median(spent) * 1000)


def review_queue(cat: Catalogue) -> Row:
    """The review queue with a fifth of the clips waiting (see :func:`prepare_review`):
    claiming the next clip, an approval and its undo (each answer claims and describes
    the next clip with the pending count), and the count the navigation bar shows."""
    from mediaml import review

    prepare_review(cat)
    db = Database(cat.url, max_size=2)
    reviewer = "bench-reviewer"
    try:
        review.release(reviewer, db=db)
        claim = _median_ms(lambda: review.next_clip(reviewer, db=db))
        count = _median_ms(lambda: review.pending_count(db=db))
        acts, undos = [], []
        for _ in range(7):
            shown = review.next_clip(reviewer, db=db)
            assert shown is not None
            start = time.perf_counter()
            review.act(shown.clip_id, "approve", reviewer, db=db)
            acts.append(time.perf_counter() - start)
            start = time.perf_counter()
            review.undo(reviewer, db=db)
            undos.append(time.perf_counter() - start)
        review.release(reviewer, db=db)
        pending = review.pending_count(db=db)
    finally:
        db.close()
    return {
        f"review: claim the next clip / pending count ({pending:,} waiting)": (
            f"{claim:.1f} / {count:.1f} ms"
        ),
        "review: approve (with the next clip claimed) / undo, median of 7": (
            f"{np.median(acts) * 1000:.0f} / {np.median(undos) * 1000:.0f} ms"
        ),
    }


def catalogue_reads(cat: Catalogue) -> Row:
    """The notebook's other reads: ``status()`` (the status page reads it every 5 s),
    ``videos()`` (every video with its live clip count), the clips waiting for review
    (``clips(state=...)`` first page), a state no clip is in, the ingest page's list of
    the newest videos, the least similar clips (``ascending=True``), and ``embeddings()``
    in a fresh process (time and peak memory).

    ``videos()`` and ``clips(state=...)`` are shown beside session 13's statements (run
    here, on the same catalogue: :data:`_VIDEOS_BEFORE`, :data:`_CLIPS_BEFORE`) and the
    raw SQL that returns the same rows with nothing else (the baseline)."""
    from mediaml.catalog import ClipsTruncatedWarning, clips, status, videos
    from mediaml.db.videos import recent_videos

    prepare_review(cat)
    db = Database(cat.url, max_size=1)
    clip = int(cat.clip_ids[np.flatnonzero(cat.live)[cat.size // 3]])
    pending = "clips(state='pending_review')"
    warnings.simplefilter("ignore", ClipsTruncatedWarning)  # a first page is what is timed
    try:
        after = {
            "videos": _median_ms(lambda: videos(db=db), 5),
            pending: _median_ms(lambda: clips(state="pending_review", db=db), 5),
        }
        before = {
            "videos": _median_ms(lambda: _videos_before(db), 5),
            pending: _median_ms(lambda: _clips_before(db, ["pending_review"]), 5),
        }
        raw = {
            "videos": _median_ms(lambda: _fetch(db, _VIDEOS_RAW)),
            pending: _median_ms(lambda: _fetch(db, _CLIPS_RAW)),
        }
        none = "review_approved"  # no clip is in it
        row = {
            "`status()` (the status page, every 5 s)": f"{_median_ms(lambda: status(db=db)):.0f} ms",
            "`videos()`, every video with its clip count: now / session 13 / raw SQL": (
                _versus(after["videos"], before["videos"], raw["videos"])
            ),
            f"`{pending}` first page: now / session 13 / raw SQL": (
                _versus(after[pending], before[pending], raw[pending])
            ),
            f"`clips(state='{none}')`, no clip in it: now / session 13": (
                f"{_median_ms(lambda: clips(state=none, db=db)):,.1f} ms / "
                f"{_median_ms(lambda: _clips_before(db, [none]), 3):,.0f} ms"
            ),
            "the ingest page's newest 25 videos (`recent_videos`, every second)": (
                f"{_median_ms(lambda: _in_transaction(db, recent_videos, 25)):,.1f} ms"
            ),
            "`similar(k=24, ascending=True)`, least similar": (
                f"{_median_ms(lambda: _least_similar(clip, db)):,.0f} ms"
            ),
        }
    finally:
        db.close()
    spent = _explore._child(_EMBEDDINGS_CHILD, cat.url, MODEL, STRATEGY)
    row["`embeddings()`, every vector: time / peak memory (fresh process)"] = (
        f"{spent['s']:,.1f} s / {spent['peak_mb']:,.0f} MB"
        f" ({cat.size * DIM * 4 / 2**20:,.0f} MB of vectors)"
    )
    return row


def _versus(now: float, before: float, raw: float) -> str:
    return (
        f"{now:,.0f} / {before:,.0f} / {raw:,.0f} ms"
        f" ({before / now:,.1f}x faster; {now / raw:,.1f}x raw)"
    )


# The baselines: the same columns as plain rows, no counts, keyframes or frame.
_VIDEOS_RAW = (
    "SELECT id, title, state, source_uri, frame_count, fps_num, fps_den, duration_s, width,"
    " height, has_audio, last_error, retry_count, created_at FROM source_videos ORDER BY id"
)
_CLIPS_RAW = (
    "SELECT c.id, c.video_id, v.title, c.state, c.start_frame, c.end_frame, c.start_time,"
    " c.end_time, c.grouped_with, c.clip_key, c.last_error, c.retry_count, c.reviewed_by,"
    " c.is_demo FROM clips c JOIN source_videos v ON v.id = c.video_id"
    " WHERE c.state = 'pending_review' ORDER BY c.video_id, c.start_frame, c.id LIMIT 10000"
)


def _fetch(db: Database, query: str) -> Any:
    with db.transaction() as conn:
        return conn.cursor(row_factory=tuple_row).execute(query).fetchall()


def _in_transaction(db: Database, read: Callable[..., Any], *args: Any) -> Any:
    with db.transaction() as conn:
        return read(conn, *args)


# Session 13's videos(): each video's live clips counted from the index of live clips
# (every entry read), a dict per row, the frame rate divided in Python.
_VIDEOS_BEFORE = (
    "SELECT v.*, (SELECT count(*) FROM clips c WHERE c.video_id = v.id"
    "  AND c.state <> 'archived') AS clips FROM source_videos v ORDER BY v.id"
)


def _videos_before(db: Database) -> Any:
    import pandas as pd

    from mediaml.catalog import VIDEO_COLUMNS

    with db.transaction() as conn:
        rows = conn.execute(_VIDEOS_BEFORE).fetchall()
    for r in rows:
        r["video_id"] = r["id"]
        r["fps"] = float(Fraction(r["fps_num"], r["fps_den"])) if r["fps_num"] else None
    return pd.DataFrame(rows, columns=VIDEO_COLUMNS)


# Session 13's clips(state=...) page: one walk of the video-ordered index, the states
# filtered on the way (its keyframe per clip is looked up the same way as now).
_CLIPS_BEFORE = """
WITH page AS (
    SELECT c.id AS clip_id, c.video_id, v.title, c.state, c.start_frame, c.end_frame,
           c.start_time, c.end_time, c.grouped_with, c.clip_key, c.last_error,
           c.retry_count, c.reviewed_by, c.is_demo
    FROM clips c JOIN source_videos v ON v.id = c.video_id
    WHERE c.state = ANY(%(states)s)
    ORDER BY c.video_id, c.start_frame, c.id
    LIMIT 10001
)
SELECT page.*, k.key AS keyframe_key
FROM page LEFT JOIN LATERAL (
    SELECT m.key FROM (
        SELECT a.key, row_number() OVER (ORDER BY a.frame) - 1 AS i, count(*) OVER () AS n
        FROM clip_artifacts a
        WHERE a.clip_id = page.clip_id AND a.kind = 'keyframe'
    ) m
    WHERE m.i = m.n / 2
) k ON true
ORDER BY page.video_id, page.start_frame, page.clip_id
"""


def _clips_before(db: Database, states: list[str]) -> Any:
    import pandas as pd

    with db.transaction() as conn:
        cursor = conn.cursor(row_factory=tuple_row)
        rows = cursor.execute(_CLIPS_BEFORE, {"states": states}).fetchall()
        names = [column.name for column in cursor.description or ()]
    return pd.DataFrame(rows[:10000], columns=names)


def _least_similar(clip: int, db: Database) -> Any:
    return similar(clip, K, model=MODEL, strategy=STRATEGY, ascending=True, db=db)


_EMBEDDINGS_CHILD = """
import sys, time
from mediaml.db import Database
from mediaml.embed import embeddings
db = Database(sys.argv[1], max_size=1)
t = time.perf_counter()
frame = embeddings(sys.argv[2], sys.argv[3], db=db)
result = {"s": time.perf_counter() - t, "rows": len(frame)}
"""


def review_pages(cat: Catalogue) -> Row:
    """``/review`` (a fifth of the clips waiting), ``/status`` and ``/ingest`` in Chromium
    against ``mediaml serve``: time until the clip (the clip counts, the newest videos)
    are drawn, median of 3 after one load not counted, with the server's CPU per load;
    and an approval in the page until the next clip is shown."""
    from playwright.sync_api import expect, sync_playwright

    _explore.prepare(cat)
    prepare_review(cat)
    fact = ".mm-fact[data-fact=clip]"
    pages = {
        "/review": ("/review?reviewer=bench-page", lambda p: p.locator(fact).wait_for()),
        "/status": (
            "/status",
            lambda p: p.locator(".tabulator-row", has_text="pending_review").first.wait_for(),
        ),
        # The newest videos listed (their clips waiting for review counted).
        "/ingest": (
            "/ingest",
            lambda p: p.locator(".mm-video", has_text="to review").first.wait_for(),
        ),
    }
    proc, base = _explore._serve(cat)
    row: Row = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=_explore.CHROMIUM, args=_explore.CHROMIUM_ARGS
            )
            for name, (path, ready) in pages.items():
                loads, cpus = [], []
                for i in range(_explore.REPEAT + 1):
                    context = browser.new_context(viewport={"width": 1300, "height": 1000})
                    context.set_default_timeout(300_000)
                    page = context.new_page()
                    cpu = _explore._cpu_seconds(proc.pid)
                    start = time.perf_counter()
                    page.goto(base + path)
                    ready(page)
                    if i:
                        loads.append(time.perf_counter() - start)
                        cpus.append(_explore._cpu_seconds(proc.pid) - cpu)
                    if name == "/review" and i == _explore.REPEAT:
                        shown = page.locator(fact).inner_text()
                        start = time.perf_counter()
                        page.locator("button[data-action=approve]").click()
                        expect(page.locator(fact)).not_to_have_text(shown, timeout=300_000)
                        page.locator("button[data-action=approve]:enabled").wait_for()
                        row["/review: approve -> next clip shown"] = (
                            f"{time.perf_counter() - start:.2f} s"
                        )
                    context.close()
                row[f"{name} ready in Chromium / server CPU per load"] = (
                    f"{np.median(loads):.2f} s / {np.median(cpus):.2f} s"
                )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
    return row


MEASUREMENTS += [review_queue, catalogue_reads, review_pages]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=None, help="e.g. 10k,100k,1M")
    parser.add_argument("--rebuild", action="store_true", help="reload cached catalogues")
    parser.add_argument("--only", default="", help="comma list of measurement names")
    args = parser.parse_args()
    chosen = [m for m in MEASUREMENTS if not args.only or m.__name__ in args.only.split(",")]

    load_before = os.getloadavg()[0]
    columns = sizes(args.sizes)
    table: dict[str, dict[int, str]] = {}
    for n in columns:
        cat = catalogue(n, rebuild=args.rebuild)
        for measure in chosen:
            progress(f"{n:,}: {measure.__name__} ...")
            for label, cell in measure(cat).items():
                table.setdefault(label, {})[n] = cell
        del cat
    print(
        f"Synthetic clustered catalogues ({DIM}-dim vectors, 100 clips per video, 1% "
        f"archived), {QUERIES} random query clips per search row after {WARMUP} warm-up "
        f"queries, recall against exact brute force; {os.cpu_count()} CPUs, load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after."
    )
    print()
    print("| measurement | " + " | ".join(f"{n:,}" for n in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for label, cells in table.items():
        print(f"| {label} | " + " | ".join(cells.get(n, "") for n in columns) + " |")


if __name__ == "__main__":
    main()
