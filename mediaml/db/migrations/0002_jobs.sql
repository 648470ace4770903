-- Job queue tables (Huey's PostgresStorage layout, created here so that boot-time
-- migrations own every table and concurrent consumers never race to create them),
-- and the dispatcher's bookkeeping column.

CREATE TABLE IF NOT EXISTS huey_kv (
    queue text NOT NULL, key text NOT NULL, value bytea NOT NULL,
    PRIMARY KEY (queue, key));
CREATE TABLE IF NOT EXISTS huey_schedule (
    id bigserial PRIMARY KEY, queue text NOT NULL,
    data bytea NOT NULL, timestamp double precision NOT NULL);
CREATE INDEX IF NOT EXISTS huey_schedule_queue_timestamp ON huey_schedule (queue, timestamp);
CREATE TABLE IF NOT EXISTS huey_task (
    id bigserial PRIMARY KEY, queue text NOT NULL,
    data bytea NOT NULL, priority double precision NOT NULL DEFAULT 0.0);
CREATE INDEX IF NOT EXISTS huey_task_queue_priority_id ON huey_task (queue, priority DESC, id);
CREATE TABLE IF NOT EXISTS huey_counter (
    queue text NOT NULL, key text NOT NULL, value bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, key));

-- When the dispatcher (or a finishing stage) last queued the item; it is not queued
-- again until this is older than the requeue window, so concurrent dispatchers and
-- repeated passes never pile duplicate messages onto a queue.
ALTER TABLE source_videos ADD COLUMN enqueued_at timestamptz;
ALTER TABLE clips ADD COLUMN enqueued_at timestamptz;

-- Partial indexes for the dispatcher's per-stage queries: only rows that may need work.
CREATE INDEX source_videos_work_idx ON source_videos (state, id)
    WHERE state NOT IN ('done');
CREATE INDEX clips_work_idx ON clips (state, id)
    WHERE state IN ('review_approved', 'exporting', 'exported', 'keyframing', 'keyframed',
                    'embedding');
CREATE INDEX clips_lease_idx ON clips (lease_expires_at)
    WHERE state IN ('exporting', 'keyframing', 'embedding');
