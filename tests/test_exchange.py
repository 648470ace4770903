"""Parquet export -> import into an empty database -> identical rows and vectors."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mediaml import exchange
from mediaml.db import Database
from mediaml.db.clips import DetectedCut, add_cut, create_initial_clips
from mediaml.db.videos import create_video, update_video
from mediaml.embed.store import INDEXED_TABLES, index_name
from mediaml.errors import MediamlError
from mediaml.exchange import TABLES, export_parquet, import_parquet


def dump(db):
    out = {}
    with db.transaction() as conn:
        for table in TABLES:
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for r in rows:
                if "embedding" in r:
                    r["embedding"] = np.asarray(
                        r["embedding"].to_numpy(), dtype=np.float32
                    ).tobytes()
            out[table] = rows
    return out


def test_round_trip_is_lossless(db, pg_server, tmp_path, monkeypatch):
    monkeypatch.setattr(exchange, "BATCH_ROWS", 2)  # several batches per table, both ways
    rng = np.random.default_rng(7)
    with db.transaction() as conn:
        video, _ = create_video(
            conn, "Trip", "file:///trip.mp4", metadata={"demo": True, "n": [1, 2]}
        )
        update_video(
            conn, video["id"], fps_num=30000, fps_den=1001, frame_count=300, duration_s=10.01
        )
        clips = create_initial_clips(
            conn, video["id"], [DetectedCut(100, "dissolve", 0.73), DetectedCut(200)]
        )
        add_cut(conn, video["id"], 150)
        for clip in clips:
            vec = rng.standard_normal(512).astype(np.float32)
            conn.execute(
                "INSERT INTO embeddings (clip_id, model_name, model_version, generation_strategy, dim, embedding)"
                " VALUES (%s, 'm', 'v1', 'keyframe_multi_avg', 512, %s::vector)",
                (clip["id"], "[" + ",".join(repr(float(x)) for x in vec) + "]"),
            )
        conn.execute(
            "INSERT INTO review_actions (clip_id, video_id, action, actor, before, after)"
            " VALUES (%s, %s, 'split', 'ann', '{\"cuts\": [100, 200]}', '{\"cuts\": [100, 150, 200]}')",
            (clips[1]["id"], video["id"]),
        )
    before = dump(db)
    counts = export_parquet(tmp_path / "export", db=db)
    assert counts["clips"] == 5 and counts["embeddings"] == 3 and counts["cuts"] == 3
    vectors = pq.read_schema(tmp_path / "export" / "embeddings.parquet").field("embedding")
    assert vectors.type == pa.list_(pa.float32(), 512)  # a fixed-size list of float32

    fresh = Database(pg_server.url(pg_server.create_database()))
    try:
        loaded = import_parquet(tmp_path / "export", db=fresh)
        assert loaded == counts
        assert dump(fresh) == before
        with fresh.transaction() as conn:  # searchable at once: means and indexes made
            assert conn.execute("SELECT count(*) AS n FROM video_vectors").fetchone()["n"] == 1
            for table in INDEXED_TABLES:
                name = index_name("m", "keyframe_multi_avg", 512, table)
                assert conn.execute("SELECT to_regclass(%s) AS oid", (name,)).fetchone()["oid"]
        with fresh.transaction() as conn:  # identities continue after the imported ids
            new, _ = create_video(conn, "Next", "file:///next.mp4")
        assert new["id"] > video["id"]
        with pytest.raises(MediamlError, match="empty database"):
            import_parquet(tmp_path / "export", db=fresh)
    finally:
        fresh.close()


def test_export_to_unwritable_path_is_clear(db, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MediamlError, match="cannot write"):
        export_parquet(blocker / "sub", db=db)


def test_import_of_a_non_export_is_clear(db, tmp_path):
    with pytest.raises(MediamlError, match="not a mediaml export"):
        import_parquet(tmp_path, db=db)
