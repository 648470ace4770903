-- Search indexes over the vectors in half precision (halfvec, cosine distance), re-ranked
-- exactly by the search query (see mediaml.embed.store): the HNSW graphs over
-- binary-quantised vectors (0007) lost a fifth of the true neighbours at a million clips,
-- because Hamming distances tie so often that the walk cannot tell its way. Each existing
-- (model, strategy) variant gets the new index, named as mediaml.embed.store.index_name
-- names it, and loses the old one. Building takes a while on a large catalogue (minutes
-- per 100,000 512-dim clips on 2 cores), and writes to the table wait for it.
DO $$
DECLARE
    old record;
    variant record;
    slug text;
BEGIN
    FOR old IN
        SELECT indexname FROM pg_indexes
        WHERE tablename = 'embeddings' AND indexname LIKE 'embeddings\_bq\_%'
    LOOP
        EXECUTE format('DROP INDEX %I', old.indexname);
    END LOOP;
    PERFORM set_config('maintenance_work_mem', '2GB', true)
    WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('2GB');
    -- Listed first: an index cannot be built on a table a loop is still reading.
    CREATE TEMPORARY TABLE mediaml_variants ON COMMIT DROP AS
        SELECT DISTINCT model_name, generation_strategy, dim FROM embeddings WHERE dim <= 4000;
    FOR variant IN SELECT * FROM mediaml_variants
    LOOP
        slug := coalesce(nullif(left(btrim(regexp_replace(lower(variant.model_name),
                                    '[^a-z0-9]+', '_', 'g'), '_'), 24), ''), 'model');
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON embeddings USING hnsw '
            '((embedding::halfvec(%s)) halfvec_cosine_ops) '
            'WITH (m = 16, ef_construction = 64) '
            'WHERE model_name = %L AND generation_strategy = %L',
            'embeddings_hv_' || slug || '_'
                || CASE variant.generation_strategy
                       WHEN 'keyframe_multi_avg' THEN 'avg'
                       WHEN 'keyframe_single' THEN 'single'
                       ELSE 'multi' END
                || '_' || left(md5(variant.model_name || '/' || variant.generation_strategy
                                   || '/' || variant.dim), 8),
            variant.dim, variant.model_name, variant.generation_strategy);
    END LOOP;
END
$$;
