"""Migration 0010 replaces an existing database's binary-quantised HNSW indexes (0007)
with half-precision ones, under the names mediaml.embed.store gives them, so searches
use them and later writes do not build a second index."""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from mediaml.db.migrate import upgrade
from mediaml.embed.store import index_name

NAMES = ["test-model", "Weird Model/名前 with 'quotes' and a long tail " * 2, "___"]


def test_migration_reindexes_existing_variants_under_mediamls_names(db_url, db, make_clips):
    [clips] = make_clips(1, len(NAMES))
    rng = np.random.default_rng(0)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for i, (clip, name) in enumerate(zip(clips, NAMES, strict=True)):
            vector = "[" + ",".join(str(x) for x in rng.standard_normal(16)) + "]"
            conn.execute(
                "INSERT INTO embeddings (clip_id, model_name, model_version, generation_strategy,"
                " part, dim, embedding) VALUES (%s, %s, 'v', 'keyframe_multi_avg', 0, 16, %s)",
                (clip, name, vector),
            )
            # An index as mediaml made them before the migration (0007).
            conn.execute(
                f"CREATE INDEX embeddings_bq_old_{i} ON embeddings USING hnsw "
                "((binary_quantize(embedding::vector(16))::bit(16)) bit_hamming_ops)"
                " WHERE model_name = " + sql.Literal(name).as_string(conn)
            )
        conn.execute("DELETE FROM schema_migrations WHERE version = 10")
    assert upgrade(db_url) == [10]
    with psycopg.connect(db_url) as conn:
        found = {
            row[0]: row[1]
            for row in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'embeddings'"
                " AND indexname LIKE 'embeddings\\_%%' AND indexdef LIKE '%%hnsw%%'"
            )
        }
    expected = {index_name(name, "keyframe_multi_avg", 16) for name in NAMES}
    assert set(found) == expected, found
    assert all("halfvec_cosine_ops" in d and "::halfvec(16)" in d for d in found.values())
