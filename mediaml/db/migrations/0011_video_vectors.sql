-- One vector per (video, model, strategy): the mean of the video's clip vectors. A search
-- reads the videos whose mean is nearest the query and ranks all their clips exactly,
-- next to the candidates its HNSW walk over the clips finds (see mediaml.embed.nearest):
-- the best matches of a query cluster by video, and a graph walk over a million clips
-- often reaches only part of a video, or misses it. The means are kept by
-- mediaml.embed.video_vectors whenever clip vectors are written; each variant gets an
-- HNSW index over them in half precision, named as mediaml.embed.store.index_name names
-- it (prefix video_vectors_hv_).
CREATE TABLE video_vectors (
    video_id            bigint NOT NULL REFERENCES source_videos (id) ON DELETE CASCADE,
    model_name          text NOT NULL,
    generation_strategy text NOT NULL,
    dim                 integer NOT NULL CHECK (dim > 0),
    embedding           vector NOT NULL,
    clips               integer NOT NULL CHECK (clips > 0),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (vector_dims(embedding) = dim),
    PRIMARY KEY (model_name, generation_strategy, video_id)
);
ALTER TABLE video_vectors ALTER COLUMN embedding SET STORAGE MAIN;

INSERT INTO video_vectors (video_id, model_name, generation_strategy, dim, embedding, clips)
SELECT c.video_id, e.model_name, e.generation_strategy, e.dim, avg(e.embedding),
       count(DISTINCT e.clip_id)
FROM embeddings e JOIN clips c ON c.id = e.clip_id
GROUP BY c.video_id, e.model_name, e.generation_strategy, e.dim;

DO $$
DECLARE
    variant record;
    slug text;
BEGIN
    -- Listed first: an index cannot be built on a table a loop is still reading.
    CREATE TEMPORARY TABLE mediaml_video_variants ON COMMIT DROP AS
        SELECT DISTINCT model_name, generation_strategy, dim FROM video_vectors WHERE dim <= 4000;
    FOR variant IN SELECT * FROM mediaml_video_variants
    LOOP
        slug := coalesce(nullif(left(btrim(regexp_replace(lower(variant.model_name),
                                    '[^a-z0-9]+', '_', 'g'), '_'), 24), ''), 'model');
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON video_vectors USING hnsw '
            '((embedding::halfvec(%s)) halfvec_cosine_ops) '
            'WITH (m = 16, ef_construction = 64) '
            'WHERE model_name = %L AND generation_strategy = %L',
            'video_vectors_hv_' || slug || '_'
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
