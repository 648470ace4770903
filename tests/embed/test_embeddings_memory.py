"""``mediaml.embeddings()`` on a catalogue whose vectors are a real share of memory: read
in batches into one matrix, it holds the vectors about once, not three times over."""

import tracemalloc

import numpy as np

from mediaml.embed import export

DIM, CLIPS = 256, 12_000  # 12 MB of float32 vectors


def test_embeddings_hold_the_vectors_about_once(db, monkeypatch):
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((CLIPS, DIM)).astype(np.float32)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO source_videos (title, source_uri, state) SELECT 'v' || i,"
            " 'file:///v' || i, 'done' FROM generate_series(1, 120) i"
        )
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time, state)"
            " SELECT v.id, j * 10, j * 10 + 10, j, j + 1, 'embedded' FROM source_videos v"
            " CROSS JOIN generate_series(0, 99) j ORDER BY v.id, j"
        )
        ids = [r["id"] for r in conn.execute("SELECT id FROM clips ORDER BY id")]
        with conn.cursor().copy(
            "COPY embeddings (clip_id, model_name, model_version, generation_strategy,"
            " part, dim, embedding) FROM STDIN"
        ) as copy:
            for clip_id, vector in zip(ids, vectors, strict=True):
                text = "[" + ",".join(map(repr, vector.tolist())) + "]"
                copy.write_row((clip_id, "m", "1", "keyframe_single", 0, DIM, text))
    monkeypatch.setattr(export, "BATCH_ROWS", 1_000, raising=False)  # 12 batches
    tracemalloc.start()
    try:
        frame = export.embeddings("m", "keyframe_single", db=db)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frame["clip_id"].tolist() == ids
    np.testing.assert_array_equal(np.stack(frame["vector"].tolist()), vectors)
    # The matrix itself, one batch and the frame's small columns; reading every row
    # first held ~3x the vectors.
    assert peak < 1.6 * vectors.nbytes, peak / vectors.nbytes
    table = export.embeddings("m", "keyframe_single", as_arrow=True, db=db)
    flat = np.asarray(table.column("vector").combine_chunks().flatten())
    np.testing.assert_array_equal(flat.reshape(-1, DIM), vectors)
