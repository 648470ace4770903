"""The embed stage claims several clips at once (one model run over their keyframes),
through the worker's task function, on real media, PostgreSQL and ONNX Runtime (the tiny
CLIP): each clip gets its own outcome, a clip that cannot be embedded fails alone, and a
clip someone else finished is not run again."""

from __future__ import annotations

import logging

import numpy as np

import mediaml
from mediaml.db.transitions import transition_all
from mediaml.embed import get_embedder
from mediaml.embed.images import load_image
from mediaml.embed.strategies import vectors_for_strategy
from mediaml.jobs.tasks import run_stage
from tests.pipeline.conftest import CLIP_MODEL

MODEL = CLIP_MODEL  # the tiny CLIP of the clip_settings fixture (conftest)


def _states(db) -> dict[int, tuple[str, str | None]]:
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, state, last_error FROM clips ORDER BY id").fetchall()
    return {int(r["id"]): (r["state"], r["last_error"]) for r in rows}


def test_the_embed_stage_claims_clips_in_bulk_and_each_has_its_outcome(
    db, store, clip_settings, three_shot_video, caplog
):
    path, _ = three_shot_video
    keyframed = mediaml.run_pipeline(path, until="keyframed", auto_approve=True, progress=False)
    assert set(keyframed["result"]) == {"done"}
    first, broken, last = sorted(_states(db))
    with db.transaction() as conn:  # a clip whose keyframes are gone cannot be embedded
        conn.execute("DELETE FROM clip_artifacts WHERE clip_id = %s", (broken,))
    model = get_embedder(MODEL)
    model.batch_size = 6  # two clips of three keyframes fill a model batch

    with caplog.at_level(logging.INFO, logger="mediaml.jobs"):
        assert run_stage("embed", first) == "done"
    states = _states(db)
    assert states[first] == ("embedded", None)
    assert states[broken][0] == "embedding_failed" and "has no keyframes" in states[broken][1]
    assert states[last] == ("keyframed", None)  # past the claim size
    lines = [r.getMessage() for r in caplog.records]
    assert any(f"embed clips {first}: done" in line for line in lines), lines
    assert any(f"embed clips {broken}: failed" in line for line in lines), lines

    # The failed clip's own message finds it failed: nothing else is claimed with it.
    assert run_stage("embed", broken) == "skipped"
    assert _states(db)[last] == ("keyframed", None)
    assert run_stage("embed", last) == "done"
    assert run_stage("embed", first) == "skipped"  # already embedded

    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT e.clip_id, e.embedding, array_agg(a.key ORDER BY a.frame) AS keys"
            " FROM embeddings e JOIN clip_artifacts a ON a.clip_id = e.clip_id"
            " AND a.kind = 'keyframe' GROUP BY e.clip_id, e.embedding ORDER BY e.clip_id"
        ).fetchall()
    assert [r["clip_id"] for r in rows] == [first, last]
    for row in rows:
        files = [store.local_path(key) for key in row["keys"]]
        vectors = model.infer(np.stack([model.prepare(load_image(f)) for f in files]))
        expected = vectors_for_strategy(vectors, "keyframe_multi_avg")[0]
        np.testing.assert_allclose(row["embedding"].to_numpy(), expected, rtol=0, atol=1e-6)


def test_a_bigger_claim_costs_no_more_transactions(db, store, clip_settings, three_shot_video):
    """The clips of one claim are finished together: the database work of an embed run
    does not grow with the number of clips it claimed (one round trip per clip was ~5%
    of the stage's time on a 2-core machine)."""
    path, _ = three_shot_video
    keyframed = mediaml.run_pipeline(path, until="keyframed", auto_approve=True, progress=False)
    assert set(keyframed["result"]) == {"done"}
    ids = sorted(_states(db))
    model = get_embedder(MODEL)

    def transactions_of_one_run(clips_per_claim: int) -> int:
        with db.transaction() as conn:  # back in the embed stage's queue
            transition_all(conn, "clips", "embedding", expect="embedded", ids=ids)
            transition_all(conn, "clips", "keyframed", expect="embedding", ids=ids)
        model.batch_size = 3 * clips_per_claim  # three keyframes a clip
        db.pool.pop_stats()
        assert run_stage("embed", ids[0]) == "done"
        requests = db.pool.pop_stats().get("requests_num", 0)
        embedded = {i for i, (state, _) in _states(db).items() if state == "embedded"}
        assert embedded == set(ids[:clips_per_claim])  # the claim's clips, and only them
        return requests

    with db.transaction() as conn:
        transition_all(conn, "clips", "embedding", expect="keyframed", ids=ids)
        transition_all(conn, "clips", "embedded", expect="embedding", ids=ids)
    transactions_of_one_run(3)  # first-run work (the vector index) out of the way
    one = transactions_of_one_run(1)
    three = transactions_of_one_run(3)
    assert three == one, (one, three)
