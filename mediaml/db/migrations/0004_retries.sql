-- Automatic retries: a failed video or clip says what kind of failure it was and, for a
-- transient one (network, storage, busy database), when the dispatcher tries it again.
-- A permanent one (bad media, a bug, too many tries) waits for a person.

ALTER TABLE source_videos
    ADD COLUMN error_kind text CHECK (error_kind IN ('transient', 'permanent')),
    ADD COLUMN next_retry_at timestamptz;
ALTER TABLE clips
    ADD COLUMN error_kind text CHECK (error_kind IN ('transient', 'permanent')),
    ADD COLUMN next_retry_at timestamptz;

-- The dispatcher's pass asks for due retries every minute; only failed rows have a time.
CREATE INDEX source_videos_retry_idx ON source_videos (next_retry_at)
    WHERE next_retry_at IS NOT NULL;
CREATE INDEX clips_retry_idx ON clips (next_retry_at)
    WHERE next_retry_at IS NOT NULL;
