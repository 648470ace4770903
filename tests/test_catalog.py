"""``clips()`` on catalogues too big for one DataFrame: pages, keyset continuation, the
lazy walk, and the warning that says how to get the rest."""

import warnings

import pandas as pd
import pytest

from mediaml import catalog
from mediaml.catalog import ClipsTruncatedWarning, clips, iter_clips
from mediaml.db.artifacts import upsert_artifact
from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import create_video, update_video
from mediaml.errors import QueryError
from tests.support.review import add_video_with_clips


@pytest.fixture
def library(db):
    """Two videos of 12 clips each; the first clips carry 1, 2 or 3 keyframes."""
    ids = []
    with db.transaction() as conn:
        for n in (1, 2):
            video, _ = create_video(conn, f"V{n}", f"file:///v{n}.mp4")
            update_video(conn, video["id"], fps_num=25, fps_den=1, frame_count=1200)
            made = create_initial_clips(
                conn, video["id"], [DetectedCut(100 * i) for i in range(1, 12)]
            )
            ids += [c["id"] for c in made]
        for count, clip in zip((1, 2, 3), ids, strict=False):
            for k in range(count):
                upsert_artifact(conn, clip, "keyframe", 10 * k, f"kf/{clip}-{k}.jpg")
    return ids


def test_pages_follow_each_other_in_video_order(db, library):
    first = clips(limit=10, db=db)
    assert first["clip_id"].tolist() == library[:10]
    assert first.attrs["next_after"] == library[9]
    second = clips(limit=10, after=first.attrs["next_after"], db=db)
    last = clips(limit=10, after=second.attrs["next_after"], db=db)
    assert second["clip_id"].tolist() == library[10:20]
    assert last["clip_id"].tolist() == library[20:] and last.attrs["next_after"] is None
    # The middle keyframe (of 1, 2, 3), found per clip of the page; none for the rest.
    keys = clips(limit=4, db=db)["keyframe_key"].tolist()
    assert keys[:3] == [
        f"kf/{library[0]}-0.jpg",
        f"kf/{library[1]}-1.jpg",
        f"kf/{library[2]}-1.jpg",
    ]
    assert pd.isna(keys[3])
    assert (first["frames"] == first["end_frame"] - first["start_frame"]).all()
    assert list(first.columns) == list(last.columns) == catalog.CLIP_COLUMNS
    assert list(clips(state="embedded", db=db).columns) == catalog.CLIP_COLUMNS  # no rows


def test_iter_clips_walks_everything_once(db, library):
    pages = list(iter_clips(page_size=7, db=db))
    assert [len(p) for p in pages] == [7, 7, 7, 3]
    assert [c for p in pages for c in p["clip_id"]] == library


def test_default_limit_warns_and_says_how_to_get_the_rest(db, library, monkeypatch):
    monkeypatch.setattr(catalog, "CLIPS_LIMIT", 10)
    with pytest.warns(ClipsTruncatedWarning, match="limit=None.*after=.*iter_clips"):
        clips(limit=10, db=db)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(clips(limit=None, db=db)) == 24
        assert len(clips(limit=30, db=db)) == 24


def test_bad_pages_are_refused_clearly(db, library):
    with pytest.raises(QueryError, match="positive page size"):
        clips(limit=0, db=db)
    with pytest.raises(QueryError, match="no clip has that id"):
        clips(after=10**9, db=db)


def test_find_videos_pages_by_title_or_id_and_keeps_the_chosen_one(db):
    """The explore page's source-video chooser: a bounded page of matches at any size."""
    with db.transaction() as conn:
        made = [
            create_video(conn, title, f"file:///f{i}.mp4")[0]["id"]
            for i, title in enumerate(
                [f"Holiday {i:03d}" for i in range(60)] + ["100% real_footage", "Interview"]
            )
        ]
    found, total = catalog.find_videos(limit=50, db=db)
    assert [v for v, _ in found] == made[:50] and total == 51  # 51: "more than 50"
    found, total = catalog.find_videos("holiday 01", limit=50, db=db)
    assert [t for _, t in found] == [f"Holiday {i:03d}" for i in range(10, 20)] and total == 10
    # LIKE's pattern characters are taken literally.
    assert [t for _, t in catalog.find_videos("0% real_", db=db)[0]] == ["100% real_footage"]
    assert catalog.find_videos("_", db=db)[0] == [(made[60], "100% real_footage")]
    # An id finds its video first; the chosen video is kept whatever the text.
    found, _ = catalog.find_videos(str(made[61]), db=db)
    assert found[0] == (made[61], "Interview")
    found, total = catalog.find_videos("interview", include=made[3], db=db)
    assert found == [(made[3], "Holiday 003"), (made[61], "Interview")] and total == 1
    assert catalog.find_videos("no such title", include=10**9, db=db) == ([], 0)


def test_status_lists_every_failed_item_through_the_state_index(db):
    """The status page's failed items: each failed state of videos and clips is listed,
    and the rows are found through the state indexes, not by reading every clip."""
    from mediaml.states import CLIP_RETRY, CLIP_STATES, VIDEO_RETRY, VIDEO_STATES

    assert {s for s in VIDEO_STATES if s.endswith("_failed")} == set(VIDEO_RETRY)
    assert {s for s in CLIP_STATES if s.endswith("_failed")} == set(CLIP_RETRY)
    with db.transaction() as conn:
        video, _ = create_video(conn, "V", "file:///v.mp4")
        update_video(conn, video["id"], fps_num=25, fps_den=1, frame_count=50_000)
        made = create_initial_clips(
            conn, video["id"], [DetectedCut(10 * i) for i in range(1, 5000)]
        )
        failed = {c["id"]: s for c, s in zip(made, CLIP_RETRY, strict=False)}
        for clip, state in failed.items():  # set directly: how they got there is not the point
            conn.execute("UPDATE clips SET state = %s WHERE id = %s", (state, clip))
        conn.execute(
            "UPDATE source_videos SET state = 'encoding_failed', error_kind = 'permanent'"
            " WHERE id = %s",
            (video["id"],),
        )
        conn.execute("ANALYZE clips")
        conn.execute("ANALYZE source_videos")
        plan = "\n".join(
            r["QUERY PLAN"]
            for r in conn.execute(
                "EXPLAIN " + catalog.FAILED_ITEMS, (list(VIDEO_RETRY), list(CLIP_RETRY))
            )
        )
    assert "Seq Scan on clips" not in plan, plan
    listed = catalog.status(db=db)["failed"]
    assert {(f["kind"], f["id"], f["state"]) for f in listed} == {
        ("clip", c, s) for c, s in failed.items()
    } | {("video", video["id"], "encoding_failed")}


# Session 13's page query (one walk of the video-ordered index, states filtered on the
# way): the reference the state-by-state query must agree with, row for row.
_WALK_AND_FILTER = """
SELECT c.id AS clip_id, c.video_id, v.title, c.state, c.start_frame, c.end_frame,
       c.start_time, c.end_time, c.grouped_with, c.clip_key, c.last_error,
       c.retry_count, c.reviewed_by, c.is_demo
FROM clips c JOIN source_videos v ON v.id = c.video_id
WHERE (%(states)s::text[] IS NULL OR c.state = ANY(%(states)s))
  AND (%(video)s::bigint IS NULL OR c.video_id = %(video)s)
  AND (%(archived)s OR %(states)s::text[] IS NOT NULL OR c.state <> 'archived')
  AND (%(after)s::bigint IS NULL OR (c.video_id, c.start_frame, c.id) >
       (SELECT a.video_id, a.start_frame, a.id FROM clips a WHERE a.id = %(after)s))
ORDER BY c.video_id, c.start_frame, c.id
LIMIT %(fetch)s
"""
_MIXED = ("embedded", "pending_review", "archived", "review_skipped", "exported")


@pytest.fixture
def mixed(db, library):
    """The library's clips in mixed states, a third video waiting for review, and an
    archived clip sharing its start frame with the live clip that replaced it."""
    with db.transaction() as conn:
        for i, clip in enumerate(library):
            conn.execute("UPDATE clips SET state = %s WHERE id = %s", (_MIXED[i % 5], clip))
        video, _ = create_video(conn, "V3", "file:///v3.mp4")
        update_video(conn, video["id"], fps_num=30, fps_den=1, frame_count=600)
        made = create_initial_clips(conn, video["id"], [DetectedCut(50 * i) for i in range(1, 12)])
        conn.execute("UPDATE clips SET state = 'archived' WHERE id = %s", (made[4]["id"],))
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time)"
            " VALUES (%s, 200, 250, 200 / 30.0, 250 / 30.0)",
            (video["id"],),
        )
    return video["id"]


def _reference(db, states, video, archived, after, limit):
    with db.transaction() as conn:
        rows = conn.execute(
            _WALK_AND_FILTER,
            {
                "states": states,
                "video": video,
                "archived": archived,
                "after": after,
                "fetch": limit,
            },
        ).fetchall()
    return [tuple(r.values()) for r in rows]


@pytest.mark.parametrize(
    "state",
    [
        None,
        "pending_review",
        "archived",
        "review_approved",  # no clip is in it
        ["embedded", "archived"],
        ["exported", "pending_review", "exported"],  # a state named twice counts once
        [],
        list(_MIXED),
    ],
)
@pytest.mark.parametrize("archived", [False, True])
@pytest.mark.parametrize("video", [False, True])
def test_pages_by_state_are_the_walk_and_filter_pages(db, library, mixed, state, archived, video):
    """Every page of every state selection (read state by state from the index of clips
    by state, migration 0015) holds the rows the one filtered walk gave, in its order."""
    states = [state] if isinstance(state, str) else state
    chosen = mixed if video else None
    got, after = [], None
    while True:
        page = clips(
            state=state, video=chosen, include_archived=archived, limit=4, after=after, db=db
        )
        assert page.drop(columns=["frames", "duration_s", "keyframe_key"]).apply(
            tuple, axis=1
        ).tolist() == _reference(db, states, chosen, archived, after, 4)
        got += page["clip_id"].tolist()
        after = page.attrs["next_after"]
        if after is None:
            break
    whole = _reference(db, states, chosen, archived, None, None)
    assert got == [r[0] for r in whole]
    assert clips(state=state, video=chosen, include_archived=archived, limit=None, db=db)[
        "clip_id"
    ].tolist() == [r[0] for r in whole]


def test_a_state_page_reads_only_clips_in_the_state(db):
    """A page of clips in given states walks the index of clips by state, each state's
    range merged in video order: no clip of another state is read (a filtered walk of
    every video's clips read 800,000 before the first of the newest 200,000 at 1M)."""
    waiting = []
    for n in range(4):
        video, rows = add_video_with_clips(
            db, [10 * i for i in range(1, 500)], frame_count=5000, title=f"Long {n}"
        )
        waiting += rows if n >= 2 else []
    with db.transaction() as conn:
        conn.execute("UPDATE clips SET state = 'embedded' WHERE video_id < %s", (video["id"] - 1,))
        conn.execute(
            "UPDATE clips SET state = 'review_skipped' WHERE id = ANY(%s)",
            ([r["id"] for r in waiting[::2]],),
        )
        conn.execute("ANALYZE clips")
        for states in (["review_skipped"], ["review_skipped", "pending_review"]):
            query, names = catalog._clips_sql(states, False)
            plan = "\n".join(
                r["QUERY PLAN"]
                for r in conn.execute(
                    "EXPLAIN (ANALYZE, COSTS OFF) " + query,
                    {**names, "video": None, "after": None, "fetch": 21},
                )
            )
            assert "clips_state_order_idx" in plan, plan
            assert "Rows Removed by Filter" not in plan and "Seq Scan on clips" not in plan, plan
            assert "Sort Key: c.video_id" not in plan, plan  # merged, never sorted whole
    page = clips(state=["review_skipped", "pending_review"], limit=100, db=db)
    assert page["clip_id"].tolist() == [r["id"] for r in waiting[:100]]
