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
