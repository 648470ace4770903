"""Ranking raw hits into a result page (pure, no database)."""

from __future__ import annotations

import pytest

from mediaml.embed.nearest import COLUMNS, candidate_count, ef_search, max_scan_tuples, rank_hits


def _hit(clip: int, distance: float | None) -> dict:
    return {
        "clip_id": clip,
        "distance": distance,
        "video_id": 1,
        "title": "v",
        "start_frame": clip * 10,
        "end_frame": clip * 10 + 10,
        "start_time": clip * 0.4,
        "end_time": clip * 0.4 + 0.4,
        "state": "embedded",
    }


HITS = [_hit(3, 0.30), _hit(1, 0.10), _hit(2, 0.20), _hit(1, 0.50), _hit(4, 1.40)]


def test_best_first_one_row_per_clip_with_its_best_score():
    frame = rank_hits(HITS, k=10, page=1)
    assert list(frame.columns) == COLUMNS
    assert list(frame["clip_id"]) == [1, 2, 3, 4]
    assert list(frame["rank"]) == [1, 2, 3, 4]
    assert frame["cosine"].tolist() == pytest.approx([0.9, 0.8, 0.7, -0.4])
    assert frame["similarity"].tolist() == pytest.approx([90.0, 80.0, 70.0, 0.0])
    assert frame.loc[0, "start_frame"] == 10


def test_pages_and_ascending():
    second = rank_hits(HITS, k=2, page=2)
    assert list(second["clip_id"]) == [3, 4] and list(second["rank"]) == [3, 4]
    worst_first = rank_hits(HITS, k=3, page=1, ascending=True)
    # Clip 1 counts with its best match (0.9) in either order.
    assert list(worst_first["clip_id"]) == [4, 3, 2]
    assert rank_hits(HITS, k=10, page=2).empty


def test_exact_scores_replace_distances_and_ties_break_by_clip_id():
    frame = rank_hits(HITS, k=10, page=1, cosines={1: 0.5, 2: 0.5, 3: 0.95, 4: 0.1})
    assert list(frame["clip_id"]) == [3, 1, 2, 4]


def test_hits_without_a_distance_are_ignored():
    assert rank_hits([_hit(1, None)], k=5, page=1).empty


def test_candidates_and_hnsw_bounds():
    # 2 candidates per row of the page, at least 48, whatever the vectors' size.
    assert candidate_count(1) == 48 and candidate_count(24) == 48
    assert candidate_count(241) == 482
    # A deep page: the first page's candidates plus one per row of the earlier pages.
    assert candidate_count(240, skip=216) == 216 + 48
    assert candidate_count(1001, skip=900) == 900 + 202
    assert candidate_count(5, skip=99) == 5 + 48  # never more skipped than fetched
    # The graph walk's list: at least 100, at most pgvector's 1000.
    assert ef_search(48) == 100 and ef_search(400) == 400 and ef_search(6400) == 1000
    assert max_scan_tuples(400) == 20_000 and max_scan_tuples(40_000) == 80_000
