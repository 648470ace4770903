"""2D projections of embedding vectors and the stored maps the update_maps job keeps."""

import threading
import time
from contextlib import contextmanager

import numpy as np
import psycopg
import pytest

from mediaml.db.videos import create_video, update_video
from mediaml.errors import MediamlError
from mediaml.projections import (
    PcaFit,
    clear_cache,
    fit_pca,
    methods,
    project,
    read_map,
    update_maps,
)


def test_pca_keeps_the_main_direction_of_variation():
    rng = np.random.default_rng(0)
    line = np.outer(np.linspace(-5, 5, 40), rng.normal(size=16))
    xy = project(line + rng.normal(scale=0.01, size=line.shape))
    assert xy.shape == (40, 2)
    assert np.ptp(xy[:, 0]) > 50 * np.ptp(xy[:, 1])
    order = np.argsort(xy[:, 0])
    assert list(order) in (list(range(40)), list(range(39, -1, -1)))


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_inputs(n):
    assert project(np.ones((n, 8))).shape == (n, 2)


def test_unknown_method_is_refused():
    with pytest.raises(MediamlError, match="unknown projection"):
        project(np.ones((3, 4)), "tsne")
    assert "PCA" in methods()


def test_randomized_pca_finds_the_exact_principal_axes():
    rng = np.random.default_rng(1)
    rotation = np.linalg.qr(rng.normal(size=(64, 64)))[0]
    data = (rng.normal(size=(3000, 64)) * np.r_[10, 5, np.ones(62)]) @ rotation + 3
    fit = fit_pca(data)
    centered = data - data.mean(axis=0)
    exact = np.linalg.svd(centered, full_matrices=False)[2][:2]
    for got, want in zip(fit.axes, exact, strict=True):
        assert abs(float(got @ want)) > 0.999
    assert fit.transform(data).dtype == np.float32
    again = PcaFit.loads(fit.dumps())
    assert np.array_equal(again.transform(data[:5]), fit.transform(data[:5]))


def _vector(v):
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def add_clips(db, video_id, vectors, *, strategy="keyframe_multi_avg", start=0):
    """One clip per vector (or per list of vectors: keyframe_multi parts)."""
    ids = []
    with db.transaction() as conn:
        for i, vec in enumerate(vectors):
            frame = (start + i) * 10
            clip = conn.execute(
                "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time, state)"
                " VALUES (%s, %s, %s, %s, %s, 'embedded') RETURNING id",
                (video_id, frame, frame + 10, frame / 25, (frame + 10) / 25),
            ).fetchone()["id"]
            parts = vec if strategy == "keyframe_multi" else [vec]
            for part, p in enumerate(parts):
                conn.execute(
                    "INSERT INTO embeddings (clip_id, model_name, model_version,"
                    " generation_strategy, part, dim, embedding)"
                    " VALUES (%s, 'm', 'v1', %s, %s, %s, %s::vector)",
                    (clip, strategy, part, len(p), _vector(p)),
                )
            ids.append(clip)
    return ids


@pytest.fixture
def video(db):
    with db.transaction() as conn:
        video, _ = create_video(conn, "Map", "file:///map.mp4")
        update_video(conn, video["id"], fps_num=25, fps_den=1, frame_count=100_000)
    return video["id"]


def clustered(rng, n, centre):
    return centre + rng.normal(scale=0.05, size=(n, 16))


def test_maps_are_fitted_once_and_extended_with_new_clips_only(db, video):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=16), rng.normal(size=16)
    first = add_clips(db, video, np.vstack([clustered(rng, 15, a), clustered(rng, 15, b)]))
    done = update_maps(method="PCA", db=db)
    assert done == {
        "m/keyframe_multi_avg/PCA": {
            **done["m/keyframe_multi_avg/PCA"],
            "placed": 30,
            "refit": True,
        }
    }
    points = read_map("m", "keyframe_multi_avg", "PCA", db=db)
    assert points is not None and sorted(points.clip_id.tolist()) == first
    xy = np.column_stack([points.x, points.y])
    # The two clusters land apart: every point is nearer its own cluster's centre.
    ca, cb = xy[:15].mean(axis=0), xy[15:].mean(axis=0)
    assert np.linalg.norm(ca - cb) > 5 * xy[:15].std(axis=0).sum()

    # Nothing new: the job does nothing. New clips: only they are placed, with the old fit.
    assert update_maps(method="PCA", db=db)["m/keyframe_multi_avg/PCA"]["placed"] == 0
    more = add_clips(db, video, clustered(rng, 5, a), start=30)
    step = update_maps(method="PCA", db=db)["m/keyframe_multi_avg/PCA"]
    assert step["placed"] == 5 and not step["refit"]
    clear_cache()
    after = read_map("m", "keyframe_multi_avg", "PCA", db=db)
    assert after is not None and len(after) == 35
    old = np.isin(after.clip_id, first)
    assert np.array_equal(after.x[old], points.x) and np.array_equal(after.y[old], points.y)
    new_xy = np.column_stack([after.x, after.y])[np.isin(after.clip_id, more)]
    assert np.linalg.norm(new_xy.mean(axis=0) - ca) < np.linalg.norm(new_xy.mean(axis=0) - cb)

    # Archived clips leave the map; doubling the catalogue refits it.
    with db.transaction() as conn:
        conn.execute("UPDATE clips SET state = 'archived' WHERE id = %s", (more[0],))
    clear_cache()
    assert more[0] not in read_map("m", "keyframe_multi_avg", "PCA", db=db).clip_id
    add_clips(db, video, clustered(rng, 40, b), start=40)
    step = update_maps(method="PCA", db=db)["m/keyframe_multi_avg/PCA"]
    assert step["refit"] and step["placed"] == 75


def test_keyframe_multi_clips_are_placed_at_the_mean_of_their_vectors(db, video):
    rng = np.random.default_rng(3)
    parts = [rng.normal(size=(3, 8)) for _ in range(12)]
    ids = add_clips(db, video, parts, strategy="keyframe_multi")
    single = add_clips(db, video, [p.mean(axis=0) for p in parts], start=20)
    update_maps(db=db, method="PCA")
    multi = read_map("m", "keyframe_multi", "PCA", db=db)
    means = read_map("m", "keyframe_multi_avg", "PCA", db=db)
    assert multi is not None and means is not None
    assert multi.clip_id.tolist() == ids and means.clip_id.tolist() == single
    # Same mean vectors, same fit sample: the same map (up to float32 rounding).
    assert np.allclose(multi.x, means.x, atol=1e-4) and np.allclose(multi.y, means.y, atol=1e-4)


def test_the_job_runs_on_background_jobs_and_on_the_scheduler(db, video):
    from mediaml.config import get_settings
    from mediaml.jobs import tasks
    from mediaml.jobs.scheduler import default_jobs

    assert tasks.update_maps.huey is tasks.HUEYS["background_jobs"]
    assert "update_maps" in [j.name for j in default_jobs(get_settings())]
    add_clips(db, video, np.random.default_rng(4).normal(size=(6, 8)))
    done = tasks.update_maps.call_local()
    assert done["m/keyframe_multi_avg/PCA"]["placed"] == 6
    with db.transaction() as conn:
        run = conn.execute("SELECT stats FROM job_runs WHERE job = 'update_maps'").fetchone()
    assert run["stats"]["placed"] == 6


def _move(conn, clip_id, vector, *, strategy="keyframe_multi_avg", part=0):
    conn.execute(
        "UPDATE embeddings SET embedding = %s::vector WHERE clip_id = %s"
        " AND generation_strategy = %s AND part = %s",
        (_vector(vector), clip_id, strategy, part),
    )


def _point(db, clip_id, strategy="keyframe_multi_avg"):
    clear_cache()
    points = read_map("m", strategy, "PCA", db=db)
    assert points is not None
    at = int(np.flatnonzero(points.clip_id == clip_id)[0])
    return np.array([points.x[at], points.y[at]])


def test_a_re_embedded_clip_moves_on_the_map_without_a_refit(db, video):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=16) * 3, rng.normal(size=16) * 3
    ids = add_clips(db, video, np.vstack([clustered(rng, 10, a), clustered(rng, 10, b)]))
    update_maps(method="PCA", db=db)
    before = {i: _point(db, i) for i in ids}
    # Clip 0 (cluster a) gets a vector from cluster b: only it is placed again, near b.
    with db.transaction() as conn:
        _move(conn, ids[0], clustered(rng, 1, b)[0])
    step = update_maps(method="PCA", db=db)["m/keyframe_multi_avg/PCA"]
    assert step["placed"] == 1 and not step["refit"]
    moved = _point(db, ids[0])
    centre_b = np.mean([before[i] for i in ids[10:]], axis=0)
    assert np.linalg.norm(moved - centre_b) < np.linalg.norm(before[ids[0]] - centre_b) / 3
    assert all(np.array_equal(_point(db, i), before[i]) for i in ids[1:4])
    assert update_maps(method="PCA", db=db)["m/keyframe_multi_avg/PCA"]["placed"] == 0


def test_a_vector_committed_after_a_map_run_that_began_later_is_still_placed(db, video):
    """A re-embedding whose transaction started before a map run (so its updated_at is
    older than the run) but committed after it was not seen by that run: the next run
    places it, because a point remembers the version of the vector it was made from."""
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=16) * 3, rng.normal(size=16) * 3
    ids = add_clips(db, video, np.vstack([clustered(rng, 10, a), clustered(rng, 10, b)]))
    update_maps(method="PCA", db=db)
    old = _point(db, ids[0])
    with db.transaction() as slow:
        slow.execute("SELECT now()")  # its timestamp is fixed from here on
        add_clips(db, video, clustered(rng, 1, a), start=50)  # something for the run to do
        assert update_maps(method="PCA", db=db)["m/keyframe_multi_avg/PCA"]["placed"] == 1
        _move(slow, ids[0], clustered(rng, 1, b)[0])
    step = update_maps(method="PCA", db=db)["m/keyframe_multi_avg/PCA"]
    assert step["placed"] == 1
    assert not np.array_equal(_point(db, ids[0]), old)


def test_one_changed_part_of_a_keyframe_multi_clip_moves_it_to_the_new_mean(db, video):
    rng = np.random.default_rng(7)
    parts = [rng.normal(size=(3, 8)) for _ in range(12)]
    ids = add_clips(db, video, parts, strategy="keyframe_multi")
    update_maps(db=db, method="PCA")
    with db.transaction() as conn:
        fit = conn.execute(
            "SELECT fit FROM projection_fits WHERE generation_strategy = 'keyframe_multi'"
        ).fetchone()["fit"]
        parts[4][1] = rng.normal(size=8) * 5
        _move(conn, ids[4], parts[4][1], strategy="keyframe_multi", part=1)
    step = update_maps(db=db, method="PCA")["m/keyframe_multi/PCA"]
    assert step["placed"] == 1 and not step["refit"]
    want = PcaFit.loads(fit).transform(parts[4].mean(axis=0)[None])[0]
    assert np.allclose(_point(db, ids[4], "keyframe_multi"), want, atol=1e-4)


@contextmanager
def _projections_locked(db):
    """Hold ``clip_projections`` locked from another connection: a map read meanwhile
    waits in the database until the block ends."""
    with psycopg.connect(db.url, autocommit=False) as holder:
        holder.execute("LOCK TABLE clip_projections IN ACCESS EXCLUSIVE MODE")
        yield
        holder.rollback()


def _reads_waiting(db):
    with psycopg.connect(db.url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%clip_projections%'"
        ).fetchone()[0]


def test_readers_that_come_during_a_read_of_a_map_wait_for_it_instead_of_reading_again(db, video):
    add_clips(db, video, np.random.default_rng(7).normal(size=(20, 8)))
    update_maps(method="PCA", db=db)
    clear_cache()
    got = []

    def reader():
        got.append(read_map("m", "keyframe_multi_avg", "PCA", db=db))

    with _projections_locked(db):
        readers = [threading.Thread(target=reader) for _ in range(3)]
        for thread in readers:
            thread.start()
        waiting, deadline = [], time.monotonic() + 20
        while time.monotonic() < deadline and (not waiting or len(waiting) < 20):
            if waiting or _reads_waiting(db):  # a read is under way: watch for 1 s more
                waiting.append(_reads_waiting(db))
            time.sleep(0.05)
    for thread in readers:
        thread.join(20)
    assert max(waiting) == 1  # one read in the database; the other readers wait for it
    assert len(got) == 3 and got[0] is not None and got[0] is got[1] is got[2]
    assert len(got[0]) == 20


def test_serve_reads_the_explore_pages_map_and_draws_its_first_view_after_start(
    db, video, settings
):
    from dashboards.explore_map import POINTS_SHOWN, first_view
    from dashboards.server import warm_explore_map

    rng = np.random.default_rng(8)
    add_clips(db, video, rng.normal(size=(POINTS_SHOWN + 1, 8)))
    update_maps(method="PCA", db=db)
    clear_cache()
    warm_explore_map(settings)
    # A page after it reads nothing: with the map's table locked, it still gets the map.
    with _projections_locked(db):
        got = []
        page = threading.Thread(
            target=lambda: got.append(read_map("m", "keyframe_multi_avg", methods()[0])),
            daemon=True,
        )
        page.start()
        page.join(5)
        assert got and got[0] is not None and len(got[0]) == POINTS_SHOWN + 1

    def draw_again(*_args):
        raise AssertionError("the first view was not drawn after start")

    assert first_view(got[0], draw_again).in_view == POINTS_SHOWN + 1
