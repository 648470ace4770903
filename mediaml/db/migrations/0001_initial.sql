-- mediaml initial schema: videos, cuts, clips, artifacts, embeddings, review audit.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE OR REPLACE FUNCTION mediaml_touch_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE source_videos (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    source_uri       text NOT NULL UNIQUE,
    state            text NOT NULL DEFAULT 'new' CHECK (state IN (
                        'new', 'downloading', 'downloaded', 'encoding', 'encoded',
                        'detecting_scenes', 'done',
                        'download_failed', 'encoding_failed', 'detect_scenes_failed')),
    original_key     text,
    master_key       text,
    proxy_key        text,
    size_bytes       bigint CHECK (size_bytes >= 0),
    fps_num          integer CHECK (fps_num > 0),
    fps_den          integer CHECK (fps_den > 0),
    frame_count      integer CHECK (frame_count > 0),
    duration_s       double precision CHECK (duration_s > 0),
    width            integer CHECK (width > 0),
    height           integer CHECK (height > 0),
    has_audio        boolean,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_error       text,
    retry_count      integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    lease_owner      text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((fps_num IS NULL) = (fps_den IS NULL))
);
CREATE INDEX source_videos_state_idx ON source_videos (state);
CREATE TRIGGER source_videos_touch BEFORE UPDATE ON source_videos
    FOR EACH ROW EXECUTE FUNCTION mediaml_touch_updated_at();

-- A cut is the first frame of a new shot; video start and end are implicit.
CREATE TABLE cuts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_id    bigint NOT NULL REFERENCES source_videos (id) ON DELETE CASCADE,
    frame       integer NOT NULL CHECK (frame > 0),
    kind        text NOT NULL DEFAULT 'cut' CHECK (kind IN ('cut', 'dissolve', 'fade', 'manual')),
    score       real,
    created_by  text NOT NULL DEFAULT 'detector',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (video_id, frame)
);

CREATE TABLE clips (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    video_id         bigint NOT NULL REFERENCES source_videos (id) ON DELETE CASCADE,
    start_frame      integer NOT NULL CHECK (start_frame >= 0),
    end_frame        integer NOT NULL,   -- exclusive
    start_time       double precision NOT NULL CHECK (start_time >= 0),
    end_time         double precision NOT NULL,
    frames           int4range GENERATED ALWAYS AS (int4range(start_frame, end_frame)) STORED,
    state            text NOT NULL DEFAULT 'pending_review' CHECK (state IN (
                        'pending_review', 'review_approved', 'review_skipped',
                        'review_archived', 'archived', 'exporting', 'exported',
                        'keyframing', 'keyframed', 'embedding', 'embedded',
                        'export_failed', 'keyframe_failed', 'embedding_failed')),
    grouped_with     bigint REFERENCES clips (id) ON DELETE SET NULL,
    clip_key         text,
    is_demo          boolean NOT NULL DEFAULT false,
    reviewed_by      text,
    reviewed_at      timestamptz,
    last_error       text,
    retry_count      integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    lease_owner      text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (end_frame > start_frame),
    CHECK (end_time > start_time),
    -- Clips of one video tile it: no two live clips may share a frame. Each video owns
    -- its own 2^32-frame span of one bigint line, so a plain range exclusion does it
    -- (no btree_gist, which not every PostgreSQL build ships).
    CONSTRAINT clips_no_overlap EXCLUDE USING gist (
        int8range(video_id * 4294967296 + start_frame, video_id * 4294967296 + end_frame) WITH &&
    ) WHERE (state <> 'archived')
);
CREATE INDEX clips_state_idx ON clips (state, id);
CREATE INDEX clips_video_idx ON clips (video_id, start_frame);
CREATE TRIGGER clips_touch BEFORE UPDATE ON clips
    FOR EACH ROW EXECUTE FUNCTION mediaml_touch_updated_at();

CREATE TABLE clip_artifacts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clip_id     bigint NOT NULL REFERENCES clips (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('keyframe', 'thumbnail')),
    frame       integer NOT NULL CHECK (frame >= 0),
    key         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (clip_id, kind, frame)
);

-- One vector per (clip, model, strategy); keyframe_multi stores one row per keyframe
-- (part = its index), every other strategy uses part 0. The column has no fixed
-- dimension so models of any size share the table; HNSW indexes are partial
-- expression indexes per model (see mediaml.embed.store.ensure_index).
CREATE TABLE embeddings (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clip_id             bigint NOT NULL REFERENCES clips (id) ON DELETE CASCADE,
    model_name          text NOT NULL,
    model_version       text NOT NULL,
    generation_strategy text NOT NULL CHECK (generation_strategy IN
                            ('keyframe_multi_avg', 'keyframe_single', 'keyframe_multi')),
    part                smallint NOT NULL DEFAULT 0 CHECK (part >= 0),
    dim                 integer NOT NULL CHECK (dim > 0),
    embedding           vector NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (vector_dims(embedding) = dim),
    UNIQUE (clip_id, model_name, generation_strategy, part)
);
CREATE INDEX embeddings_variant_idx ON embeddings (model_name, generation_strategy, clip_id);
CREATE TRIGGER embeddings_touch BEFORE UPDATE ON embeddings
    FOR EACH ROW EXECUTE FUNCTION mediaml_touch_updated_at();

-- Append-only audit of every review action.
CREATE TABLE review_actions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clip_id     bigint NOT NULL,           -- no FK: the audit outlives deleted clips
    video_id    bigint NOT NULL,
    action      text NOT NULL CHECK (action IN
                    ('approve', 'skip', 'archive', 'merge', 'group', 'split', 'undo')),
    actor       text NOT NULL CHECK (length(actor) > 0),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    before      jsonb NOT NULL,
    after       jsonb NOT NULL,
    undoes      bigint REFERENCES review_actions (id),
    UNIQUE (undoes)
);
CREATE INDEX review_actions_actor_idx ON review_actions (actor, id DESC);
CREATE INDEX review_actions_clip_idx ON review_actions (clip_id);

CREATE OR REPLACE FUNCTION mediaml_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'review_actions is append-only: % is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER review_actions_append_only BEFORE UPDATE OR DELETE ON review_actions
    FOR EACH ROW EXECUTE FUNCTION mediaml_append_only();

-- Runs of the periodic jobs, for the status page and the operator's checklist.
CREATE TABLE job_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job         text NOT NULL,
    node        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    stats       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX job_runs_job_idx ON job_runs (job, started_at DESC);
