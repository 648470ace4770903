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

-- The dispatcher asks, per stage, for rows in one state that are not queued (or were
-- queued longer ago than the requeue window), oldest first: this index answers that
-- without walking the rows already queued.
CREATE INDEX source_videos_dispatch_idx
    ON source_videos (state, (COALESCE(enqueued_at, '-infinity'::timestamptz)));
CREATE INDEX clips_dispatch_idx
    ON clips (state, (COALESCE(enqueued_at, '-infinity'::timestamptz)));
CREATE INDEX source_videos_lease_idx ON source_videos (lease_expires_at)
    WHERE lease_expires_at IS NOT NULL;
CREATE INDEX clips_lease_idx ON clips (lease_expires_at)
    WHERE lease_expires_at IS NOT NULL;
