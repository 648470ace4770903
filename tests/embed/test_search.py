"""Search against exact brute force on random clustered data: recall, filters, pages,
ascending order, keyframe_multi grouping, text search, random clips, bulk export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mediaml.db import Database
from mediaml.embed import embeddings, paging, random_clip, search_text, similar
from mediaml.embed.clips import embed_clip
from mediaml.embed.nearest import COLUMNS, candidate_count, ef_search, nearest_query
from mediaml.embed.search import MAX_RESULTS
from mediaml.embed.store import ensure_index, index_name, upsert_many
from mediaml.embed.video_vectors import refresh_video_vectors
from mediaml.errors import ModelError, NotFoundError, QueryError

from .conftest import DIM

MODEL = "test-model"
AVG, MULTI = "keyframe_multi_avg", "keyframe_multi"
VIDEOS, PER_VIDEO = 20, 100


@dataclass
class Model:
    name: str = MODEL
    version: str = "1"
    dim: int = DIM


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class Corpus:
    db: Database
    clips: np.ndarray  # clip ids
    videos: np.ndarray  # video id per clip
    vectors: np.ndarray  # keyframe_multi_avg vector per clip
    parts: np.ndarray  # (clips, 3, dim) keyframe_multi vectors
    archived: set[int]

    def brute(self, query: np.ndarray, k: int, *, exclude=None, video=None, ascending=False):
        keep = np.array([c != exclude and c not in self.archived for c in self.clips], dtype=bool)
        if video is not None:
            keep &= self.videos == video
        scores = self.vectors[keep] @ query
        order = np.argsort(scores if ascending else -scores, kind="stable")[:k]
        return self.clips[keep][order], scores[order]


@pytest.fixture(scope="module")
def corpus(pg_server) -> Iterator[Corpus]:
    """2000 clips in 20 videos; each video is a cluster of vectors; a few archived."""
    from mediaml.db.clips import DetectedCut, create_initial_clips
    from mediaml.db.videos import create_video

    name = pg_server.create_database()
    db = Database(pg_server.url(name), max_size=1)
    rng = np.random.default_rng(42)
    clip_ids, video_ids = [], []
    with db.transaction() as conn:
        for n in range(VIDEOS):
            video, _ = create_video(
                conn,
                f"video {n}",
                f"file:///{n}.mp4",
                fps_num=25,
                fps_den=1,
                frame_count=PER_VIDEO * 10,
                duration_s=PER_VIDEO * 10 / 25,
            )
            cuts = [DetectedCut(10 * i) for i in range(1, PER_VIDEO)]
            for clip in create_initial_clips(conn, video["id"], cuts):
                clip_ids.append(clip["id"])
                video_ids.append(video["id"])
    centres = _unit(rng.standard_normal((VIDEOS, DIM)))
    owner = np.repeat(np.arange(VIDEOS), PER_VIDEO)
    parts = _unit(
        centres[owner][:, None, :] * 1.0 + rng.standard_normal((len(clip_ids), 3, DIM)) * 0.25
    )
    vectors = _unit(parts.mean(axis=1))
    archived = set(rng.choice(clip_ids, 40, replace=False).tolist())
    with db.transaction() as conn:
        bulk_load(conn, Model(), AVG, zip(clip_ids, vectors, strict=True))
        bulk_load(conn, Model(), MULTI, zip(clip_ids, parts, strict=True))
        conn.execute("UPDATE clips SET state = 'archived' WHERE id = ANY(%s)", (list(archived),))
        conn.execute("ANALYZE")
    yield Corpus(db, np.array(clip_ids), np.array(video_ids), vectors, parts, archived)
    db.close()
    pg_server.drop_database(name)


def bulk_load(conn, model: Model, strategy: str, items) -> None:
    """Insert vectors first and build the variant's index once afterwards: an HNSW bulk
    build is far faster than the row-by-row inserts of upsert_many (tested elsewhere)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO embeddings (clip_id, model_name, model_version, generation_strategy,"
            " part, dim, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (clip, model.name, model.version, strategy, part, model.dim, vector)
                for clip, vectors in items
                for part, vector in enumerate(np.atleast_2d(vectors))
            ],
        )
    refresh_video_vectors(conn, model_name=model.name, strategy=strategy)
    ensure_index(conn, model.name, strategy, model.dim)


def _recall(found, expected) -> float:
    return len(set(found) & set(expected)) / len(expected)


def test_similar_agrees_with_brute_force(corpus):
    rng = np.random.default_rng(0)
    live = [c for c in corpus.clips if c not in corpus.archived]
    recalls = []
    for clip in rng.choice(live, 15, replace=False):
        query = corpus.vectors[list(corpus.clips).index(clip)]
        result = similar(int(clip), 24, model=MODEL, strategy=AVG, db=corpus.db)
        expected, _ = corpus.brute(query, 24, exclude=clip)
        recalls.append(_recall(result["clip_id"], expected))
        assert list(result.columns) == COLUMNS
        assert list(result["rank"]) == list(range(1, 25))
        assert result["similarity"].is_monotonic_decreasing
        assert clip not in set(result["clip_id"])
        assert not set(result["clip_id"]) & corpus.archived
        # The similarity of what is returned is exact, whatever the index found.
        exact = corpus.vectors[[list(corpus.clips).index(c) for c in result["clip_id"]]] @ query
        np.testing.assert_allclose(result["cosine"], exact, atol=1e-5)
        np.testing.assert_allclose(result["similarity"], np.clip(exact, 0, 1) * 100, atol=1e-3)
    assert np.mean(recalls) >= 0.95, recalls


def test_rows_carry_clip_and_video_details(corpus):
    clip = int(corpus.clips[1])
    row = similar(clip, 1, model=MODEL, strategy=AVG, db=corpus.db).iloc[0]
    with corpus.db.transaction() as conn:
        stored = conn.execute(
            "SELECT c.*, v.title FROM clips c JOIN source_videos v ON v.id = c.video_id"
            " WHERE c.id = %s",
            (int(row["clip_id"]),),
        ).fetchone()
    for column in (
        "video_id",
        "title",
        "start_frame",
        "end_frame",
        "start_time",
        "end_time",
        "state",
    ):
        assert row[column] == stored[column]


def test_pages_continue_where_the_last_one_ended(corpus):
    clip = int(corpus.clips[5])
    pages = [similar(clip, 10, model=MODEL, strategy=AVG, page=p, db=corpus.db) for p in (1, 2, 3)]
    together = pd.concat(pages, ignore_index=True)
    assert list(together["rank"]) == list(range(1, 31))
    assert together["clip_id"].is_unique
    assert together["cosine"].is_monotonic_decreasing
    whole = similar(clip, 30, model=MODEL, strategy=AVG, db=corpus.db)
    assert _recall(together["clip_id"], whole["clip_id"]) >= 0.9


def test_a_deep_page_agrees_with_brute_force_and_walks_like_page_one(corpus, monkeypatch):
    """Page 8 of 12 (ranks 85-96, still inside the query's video cluster) re-ranks page
    1's candidates plus one per row passed over, found by page 1's graph walk."""
    rng = np.random.default_rng(3)
    live = [c for c in corpus.clips if c not in corpus.archived]
    recalls = []
    paging.settle()
    monkeypatch.setattr(paging, "AHEAD_PAGES", 0)  # no extension walks meanwhile
    for clip in rng.choice(live, 8, replace=False):
        query = corpus.vectors[list(corpus.clips).index(clip)]
        result = similar(int(clip), 12, model=MODEL, strategy=AVG, page=8, db=corpus.db)
        expected, _ = corpus.brute(query, 96, exclude=clip)
        assert list(result["rank"]) == list(range(85, 97))
        recalls.append(_recall(result["clip_id"], expected[84:]))
    assert np.mean(recalls) >= 0.9, recalls
    with corpus.db.transaction() as conn:
        walked = conn.execute("SHOW hnsw.ef_search").fetchone()["hnsw.ef_search"]
    assert walked == str(ef_search(candidate_count(12 + 1)))
    assert candidate_count(12 * 8 + 1, skip=12 * 7) < candidate_count(12 * 8 + 1)


def test_ascending_lists_the_least_similar_first(corpus):
    clip = int(corpus.clips[7])
    result = similar(clip, 24, model=MODEL, strategy=AVG, ascending=True, db=corpus.db)
    expected, scores = corpus.brute(corpus.vectors[7], 24, exclude=clip, ascending=True)
    assert len(result) == 24 and result["cosine"].is_monotonic_increasing
    assert _recall(result["clip_id"], expected) >= 0.9
    assert result["cosine"].iloc[0] == pytest.approx(scores[0], abs=1e-5)


def test_source_video_filter_returns_a_full_page_of_that_video(corpus):
    clip = int(corpus.clips[0])
    other_video = int(corpus.videos[-1])
    result = similar(clip, 24, model=MODEL, strategy=AVG, source_video=other_video, db=corpus.db)
    expected, _ = corpus.brute(corpus.vectors[0], 24, exclude=clip, video=other_video)
    assert len(result) == 24 and set(result["video_id"]) == {other_video}
    assert _recall(result["clip_id"], expected) >= 0.95
    # Asking for more than the video has returns what it has, once each.
    everything = similar(
        clip, 500, model=MODEL, strategy=AVG, source_video=other_video, db=corpus.db
    )
    live = sum(
        1
        for c, v in zip(corpus.clips, corpus.videos, strict=True)
        if v == other_video and c not in corpus.archived
    )
    assert len(everything) == live and everything["clip_id"].is_unique


def test_keyframe_multi_groups_by_clip_with_the_best_pair(corpus):
    clip_index = 3
    clip = int(corpus.clips[clip_index])
    result = similar(clip, 24, model=MODEL, strategy=MULTI, db=corpus.db)
    assert len(result) == 24 and result["clip_id"].is_unique
    queries = corpus.parts[clip_index]
    best = np.einsum("pd,cqd->cpq", queries, corpus.parts).max(axis=(1, 2))
    live = np.array([c != clip and c not in corpus.archived for c in corpus.clips])
    order = np.argsort(-best[live], kind="stable")[:24]
    expected = corpus.clips[live][order]
    assert _recall(result["clip_id"], expected) >= 0.9
    scores = dict(zip(corpus.clips, best, strict=True))
    np.testing.assert_allclose(result["cosine"], [scores[c] for c in result["clip_id"]], atol=1e-5)


def test_a_walk_that_misses_finds_the_video_through_the_means(corpus, monkeypatch):
    """The graph walk cut to one candidate, and none of the candidates' videos read: the
    videos with the nearest mean vectors still give the exact top 24 (each corpus video
    is a cluster holding a query's 24 nearest). Without them the page has at most the
    one candidate (none here: the walk's one row is the query clip itself)."""
    from mediaml.embed import nearest

    clip = next(int(c) for c in corpus.clips if c not in corpus.archived)
    query = corpus.vectors[list(corpus.clips).index(clip)]
    expected, _ = corpus.brute(query, 24, exclude=clip)
    monkeypatch.setattr(nearest, "SEED_HITS", 0)
    routing = nearest.ROUTED_VIDEOS
    pages = {}
    for routed in (routing, 0):
        monkeypatch.setattr(nearest, "ROUTED_VIDEOS", routed)
        params = {"q": query, "order": query, "exclude": clip}
        pages[routed] = _one_candidate_walk(corpus, params, from_clip=False)
    assert pages[routing] == list(expected)
    assert len(pages[0]) <= 1


def test_a_search_from_a_clip_reads_the_clips_own_video_without_a_walk(corpus, monkeypatch):
    """The graph walk cut to one candidate, no candidate's video read and no means walked:
    the clip's own video still gives the exact top 24 (each corpus video is a cluster
    holding a query's 24 nearest). A search from a vector gets at most the one candidate
    under the same settings."""
    from mediaml.embed import nearest

    clip = next(int(c) for c in corpus.clips if c not in corpus.archived)
    query = corpus.vectors[list(corpus.clips).index(clip)]
    expected, _ = corpus.brute(query, 24, exclude=clip)
    monkeypatch.setattr(nearest, "SEED_HITS", 0)
    monkeypatch.setattr(nearest, "ROUTED_VIDEOS", 0)
    params = {"clip": clip, "q": query, "order": query, "exclude": clip}
    pages = {
        from_clip: _one_candidate_walk(corpus, params, from_clip) for from_clip in (True, False)
    }
    assert pages[True] == list(expected)
    assert len(pages[False]) <= 1


def _one_candidate_walk(corpus, params: dict, from_clip: bool) -> list[int]:
    """The clip ids of a top-24 search whose graph walk stops at one candidate."""
    with corpus.db.transaction() as conn:
        for setting in ("hnsw.ef_search = 1", "hnsw.iterative_scan = off", "enable_seqscan = off"):
            conn.execute(f"SET LOCAL {setting}")
        query_sql = nearest_query(MODEL, AVG, DIM, limit=24, exclude=True, from_clip=from_clip)
        return [r["clip_id"] for r in conn.execute(query_sql, params).fetchall()]


def test_iterative_scan_fills_pages_when_most_clips_are_archived(db_url, db, make_clips):
    """90% archived: a plain HNSW scan would return a couple of clips from its 40
    candidates; the iterative scan keeps walking the index until the page is full.

    On this small table the planner would rather scan it exactly, so sequential scans
    and sorts are turned off for the database to make the index path the one that runs."""
    import psycopg

    clips = np.array([c for video in make_clips(10, 200) for c in video])
    rng = np.random.default_rng(3)
    vectors = _unit(rng.standard_normal((len(clips), DIM)))
    live = set(rng.choice(clips, len(clips) // 10, replace=False).tolist())
    with db.transaction() as conn:
        bulk_load(conn, Model(), AVG, zip(clips.tolist(), vectors, strict=True))
        conn.execute("UPDATE clips SET state = 'archived' WHERE NOT id = ANY(%s)", (sorted(live),))
        conn.execute("ANALYZE")
    with psycopg.connect(db_url, autocommit=True) as admin:
        name = admin.info.dbname
        admin.execute(f"ALTER DATABASE {name} SET enable_seqscan = off")
        admin.execute(f"ALTER DATABASE {name} SET enable_bitmapscan = off")
        # Nor sorting every row by distance (the exact re-ranking still sorts).
        admin.execute(f"ALTER DATABASE {name} SET enable_sort = off")
    forced = Database(db_url)  # new connections, with the settings above
    try:
        with forced.transaction() as conn:
            query = nearest_query(MODEL, AVG, DIM, limit=24, exclude=True)
            params = {"q": vectors[0], "order": vectors[0], "exclude": 0}
            plan = "\n".join(
                r["QUERY PLAN"] for r in conn.execute(b"EXPLAIN " + query.as_bytes(conn), params)
            )
        assert f"Index Scan using {index_name(MODEL, AVG, DIM)}" in plan, plan
        anchor = int(sorted(live)[0])
        result = similar(anchor, 24, model=MODEL, strategy=AVG, db=forced)
    finally:
        forced.close()
    assert len(result) == 24 and set(result["clip_id"]) <= live
    keep = np.array([c in live and c != anchor for c in clips])
    scores = vectors[keep] @ vectors[list(clips).index(anchor)]
    expected = clips[keep][np.argsort(-scores)[:24]]
    assert _recall(result["clip_id"], expected) >= 0.9


def test_text_search_with_the_tiny_text_model(db, make_clips, clip_model):
    phrases = ["a red car", "a dog on a beach", "snow on mountains", "a city at night"]
    [clips] = make_clips(1, len(phrases) + 20)
    text_vectors = clip_model.embed_texts(phrases)
    noise = _unit(np.random.default_rng(1).standard_normal((20, DIM)))
    with db.transaction() as conn:
        # Clips whose stored vector is exactly a phrase's text vector, among noise.
        upsert_many(conn, list(zip(clips, [*text_vectors, *noise], strict=True)), clip_model, AVG)
    for phrase, clip in zip(phrases, clips, strict=False):
        result = search_text(phrase, 5, strategy=AVG)
        assert result["clip_id"].iloc[0] == clip
        assert result["similarity"].iloc[0] == pytest.approx(100.0, abs=1e-3)
    everything = np.vstack([text_vectors, noise])
    query = clip_model.embed_texts(["a red car at night"])[0]
    expected = np.array(clips)[np.argsort(-(everything @ query))[:10]]
    result = search_text("  a red car at night ", 10, strategy=AVG)
    assert list(result["clip_id"]) == list(expected)
    page2 = search_text("a red car at night", 5, strategy=AVG, page=2)
    assert list(page2["clip_id"]) == list(expected[5:10]) and list(page2["rank"]) == [
        6,
        7,
        8,
        9,
        10,
    ]
    long_query = "a red car " * 60  # far past 77 tokens: truncated, still answered
    assert len(search_text(long_query, 3, strategy=AVG)) == 3


def test_bad_queries(db, make_clips, clip_model):
    [[clip, bare]] = make_clips(1, 2)
    with db.transaction() as conn:
        upsert_many(conn, [(clip, clip_model.embed_texts(["x"]))], clip_model, AVG)
    for empty in ("", "   \n"):
        with pytest.raises(QueryError, match="search text is empty"):
            search_text(empty)
    with pytest.raises(QueryError, match="k must be a positive"):
        similar(clip, 0, strategy=AVG)
    with pytest.raises(QueryError, match="page must be 1 or more"):
        similar(clip, 5, strategy=AVG, page=0)
    with pytest.raises(QueryError, match=f"first {MAX_RESULTS}"):
        search_text("x", 100, page=MAX_RESULTS)
    with pytest.raises(NotFoundError, match="clip 424242 does not exist"):
        similar(424242, strategy=AVG)
    with pytest.raises(NotFoundError, match=f"clip {bare} has no clip-vit-base-patch32"):
        similar(bare, strategy=AVG)
    with pytest.raises(ModelError, match="no text tower"):
        search_text("a red car", model="mediaml-descriptor-v1")
    # A variant with no vectors at all is an empty result, not an error.
    empty = search_text("x", strategy="keyframe_single")
    assert empty.empty and list(empty.columns) == COLUMNS


def test_random_clip(corpus):
    picks = {random_clip(model=MODEL, strategy=AVG, db=corpus.db) for _ in range(30)}
    assert None not in picks and len(picks) > 10
    assert picks <= set(corpus.clips.tolist()) - corpus.archived
    video = int(corpus.videos[0])
    in_video = {
        random_clip(model=MODEL, strategy=AVG, source_video=video, db=corpus.db) for _ in range(10)
    }
    assert {int(corpus.videos[list(corpus.clips).index(c)]) for c in in_video} == {video}
    assert random_clip(model="no-such-model", strategy=AVG, db=corpus.db) is None
    assert random_clip(model=MODEL, strategy=AVG, source_video=10**9, db=corpus.db) is None


def test_embeddings_export(corpus):
    frame = embeddings(MODEL, AVG, db=corpus.db)
    live = [c for c in corpus.clips if c not in corpus.archived]
    assert list(frame["clip_id"]) == sorted(live)
    assert set(frame["model_name"]) == {MODEL} and set(frame["dim"]) == {DIM}
    row = frame.iloc[0]
    np.testing.assert_allclose(
        row["vector"], corpus.vectors[list(corpus.clips).index(row["clip_id"])], rtol=1e-6
    )
    table = embeddings(MODEL, MULTI, as_arrow=True, include_archived=True, db=corpus.db)
    assert table.num_rows == 3 * len(corpus.clips)
    assert table.schema.field("vector").type == pa.list_(pa.float32(), DIM)
    matrix = np.asarray(table.column("vector").combine_chunks().flatten()).reshape(-1, DIM)
    np.testing.assert_allclose(matrix[:3], corpus.parts[0], rtol=1e-6)
    assert embeddings("no-such-model", AVG, db=corpus.db).empty
    assert embeddings("no-such-model", AVG, as_arrow=True, db=corpus.db).num_rows == 0


def test_embed_then_search_end_to_end(db, make_clips, clip_model, tmp_path):
    """Keyframe files -> stored vectors -> similar(): the closest clip looks the same."""
    from PIL import Image

    [clips] = make_clips(1, 3)
    colours = [(200, 20, 20), (195, 30, 25), (20, 30, 200)]
    for clip, colour in zip(clips, colours, strict=True):
        path = tmp_path / f"{clip}.jpg"
        Image.new("RGB", (320, 180), colour).save(path)
        with db.transaction() as conn:
            embed_clip(conn, clip, [path])
    result = similar(clips[0], 2)
    assert list(result["clip_id"]) == [clips[1], clips[2]]


def test_search_leaves_pooled_connections_transactional(corpus):
    """Searching borrows a pooled connection in autocommit mode and gives it back as it
    was; the HNSW settings it leaves on the session only concern HNSW scans."""
    similar(int(corpus.clips[2]), 5, model=MODEL, strategy=AVG, db=corpus.db)
    with corpus.db.transaction() as conn:
        assert not conn.autocommit
        expected = str(ef_search(candidate_count(5)))
        assert conn.execute("SHOW hnsw.ef_search").fetchone()["hnsw.ef_search"] == expected
        assert conn.execute("SHOW hnsw.iterative_scan").fetchone()["hnsw.iterative_scan"] == (
            "relaxed_order"
        )


def test_pages_never_overlap_when_vectors_tie(db_url, db, make_clips):
    """Several clips with exactly the same vector (duplicate shots): consecutive pages
    still partition the results, ties ordered by clip id. The HNSW index is forced (as
    on a large table), since its order among equal distances is arbitrary."""
    import psycopg

    [clips] = make_clips(1, 31)
    anchor, others = clips[0], clips[1:]
    rng = np.random.default_rng(11)
    base = _unit(rng.standard_normal(DIM))
    twin = _unit(base + 0.05 * _unit(rng.standard_normal(DIM)))
    rows = (
        [(anchor, base)]
        + [(c, twin) for c in others[:20]]
        + [(c, _unit(rng.standard_normal(DIM))) for c in others[20:]]
    )
    with db.transaction() as conn:
        bulk_load(conn, Model(), AVG, rows)
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {admin.info.dbname} SET enable_seqscan = off")
        admin.execute(f"ALTER DATABASE {admin.info.dbname} SET enable_sort = off")
    forced = Database(db_url)
    try:
        pages = [
            similar(anchor, 6, model=MODEL, strategy=AVG, page=p, db=forced)["clip_id"].tolist()
            for p in (1, 2, 3, 4)
        ]
    finally:
        forced.close()
    seen = [c for page in pages for c in page]
    assert len(seen) == len(set(seen)) == 24
    assert seen[:20] == sorted(others[:20])  # the 20 tied clips first, by id


def test_paging_through_ten_pages_agrees_with_brute_force(corpus):
    """A reader paging on (a pause after each page, when the ranking is extended):
    ranks 1-120 once each, best first, as brute force has them."""
    clip = int(corpus.clips[11])
    pages = []
    for p in range(1, 11):
        pages.append(similar(clip, 12, model=MODEL, strategy=AVG, page=p, db=corpus.db))
        assert paging.settle()
    together = pd.concat(pages, ignore_index=True)
    assert list(together["rank"]) == list(range(1, 121))
    assert together["clip_id"].is_unique
    expected, _ = corpus.brute(corpus.vectors[11], 120, exclude=clip)
    assert _recall(together["clip_id"], expected) >= 0.95
    np.testing.assert_allclose(together["cosine"], np.sort(together["cosine"])[::-1])


def _two_clusters(db, make_clips, rng):
    """60 clips near a base vector and 60 random ones, indexed; returns (anchor, clips,
    base vector)."""
    [near, far] = make_clips(2, 60)
    base = _unit(rng.standard_normal(DIM))
    rows = [(near[0], base)]
    rows += [(c, _unit(base + 0.3 * _unit(rng.standard_normal(DIM)))) for c in near[1:]]
    rows += [(c, _unit(rng.standard_normal(DIM))) for c in far]
    with db.transaction() as conn:
        bulk_load(conn, Model(), AVG, rows)
    return near[0], near + far, base


def test_later_pages_come_from_the_ranking_page_one_made(db_url, db, make_clips):
    """Page 1 searches; pages 2.. are slices of its ranking, extended in the background:
    a vector another process changes meanwhile does not move a clip between pages, so
    pages never repeat or skip one. The next page 1 searches the catalogue as it is."""
    import psycopg

    anchor, _, base = _two_clusters(db, make_clips, np.random.default_rng(5))
    first = similar(anchor, 10, model=MODEL, strategy=AVG, db=db)
    assert paging.settle()
    moved = int(first["clip_id"].iloc[0])
    # Another process turns page 1's best clip into the farthest one and page 4's
    # into the nearest one: not seen by pages 2-5 of this search.
    later_best = None
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute(
            "UPDATE embeddings SET embedding = %s::vector WHERE clip_id = %s",
            (str((-base).tolist()), moved),
        )
        fourth = similar(anchor, 10, model=MODEL, strategy=AVG, page=4, db=db)
        later_best = int(fourth["clip_id"].iloc[-1])
        other.execute(
            "UPDATE embeddings SET embedding = %s::vector WHERE clip_id = %s",
            (str(base.tolist()), later_best),
        )
    pages = [first] + [
        similar(anchor, 10, model=MODEL, strategy=AVG, page=p, db=db) for p in (2, 3, 4, 5)
    ]
    together = pd.concat(pages, ignore_index=True)
    assert list(together["rank"]) == list(range(1, 51))
    assert together["clip_id"].is_unique
    assert int(together["clip_id"].iloc[39]) == later_best  # still rank 40
    # A new search sees both changes.
    fresh = similar(anchor, 10, model=MODEL, strategy=AVG, db=db)
    assert int(fresh["clip_id"].iloc[0]) == later_best
    assert moved not in set(fresh["clip_id"])


def test_a_page_whose_clip_was_archived_is_searched_afresh(db, make_clips):
    anchor, _, _ = _two_clusters(db, make_clips, np.random.default_rng(6))
    similar(anchor, 10, model=MODEL, strategy=AVG, db=db)
    assert paging.settle()
    second = similar(anchor, 10, model=MODEL, strategy=AVG, page=2, db=db)
    gone = int(second["clip_id"].iloc[3])
    with db.transaction() as conn:
        conn.execute("UPDATE clips SET state = 'archived' WHERE id = %s", (gone,))
    again = similar(anchor, 10, model=MODEL, strategy=AVG, page=2, db=db)
    assert len(again) == 10 and gone not in set(again["clip_id"])
    assert list(again["rank"]) == list(range(11, 21))


def test_writing_vectors_in_this_process_drops_kept_rankings(db, make_clips):
    anchor, clips, base = _two_clusters(db, make_clips, np.random.default_rng(7))
    similar(anchor, 10, model=MODEL, strategy=AVG, db=db)
    assert paging.settle()
    newcomer = clips[-1]  # a far clip, now the nearest
    with db.transaction() as conn:
        upsert_many(conn, [(newcomer, base[None, :])], Model(), AVG)
    second = similar(anchor, 10, model=MODEL, strategy=AVG, page=2, db=db)
    first = similar(anchor, 10, model=MODEL, strategy=AVG, db=db)
    assert int(first["clip_id"].iloc[0]) == newcomer
    assert newcomer not in set(second["clip_id"])


def test_text_search_pages_run_the_text_tower_once(db, make_clips, clip_model, monkeypatch):
    """search_text's later pages read its ranking: the model is not run again."""
    [clips] = make_clips(1, 40)
    rng = np.random.default_rng(8)
    with db.transaction() as conn:
        upsert_many(
            conn, [(c, _unit(rng.standard_normal((1, DIM)))) for c in clips], clip_model, AVG
        )
    calls = []
    original = clip_model.embed_texts
    monkeypatch.setattr(
        clip_model, "embed_texts", lambda texts: calls.append(texts) or original(texts)
    )
    pages = [search_text("a red car", 8, model=clip_model, strategy=AVG, page=p) for p in (1, 2, 3)]
    together = pd.concat(pages, ignore_index=True)
    assert list(together["rank"]) == list(range(1, 25)) and together["clip_id"].is_unique
    assert calls == [["a red car"]]
