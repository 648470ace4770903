-- Live (not archived) clips per video, kept as the clips change, for ``mediaml.videos()``'s
-- ``clips`` column: counting them read every live clip's entry of clips_live_video_idx
-- (a million entries at a million clips: 0.3 s of the call's 1.95 s there).
--
-- Kept like clip_state_counts (migration 0013): statement triggers append one row per
-- video whose live count a statement changed, with the change, and never update a row,
-- so concurrent writers take no lock here. A video's count is the sum of its rows, as
-- of the reader's snapshot, exactly. mediaml.db.counts folds the rows into one per
-- video when they pile up. No foreign key: the rows of a deleted video's clips are
-- written while the video is being deleted; they sum to zero and a fold drops them.
CREATE TABLE video_clip_counts (
    video_id bigint NOT NULL,
    n        bigint NOT NULL
);
INSERT INTO video_clip_counts
SELECT video_id, count(*) FROM clips WHERE state <> 'archived' GROUP BY video_id;

CREATE OR REPLACE FUNCTION mediaml_count_live_clips() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO video_clip_counts
        SELECT video_id, count(*) FROM new_rows WHERE state <> 'archived' GROUP BY video_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO video_clip_counts
        SELECT video_id, -count(*) FROM old_rows WHERE state <> 'archived' GROUP BY video_id;
    ELSE
        INSERT INTO video_clip_counts
        SELECT video_id, sum(n) FROM (
            SELECT video_id, 1 AS n FROM new_rows WHERE state <> 'archived'
            UNION ALL
            SELECT video_id, -1 FROM old_rows WHERE state <> 'archived'
        ) d GROUP BY video_id HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION mediaml_reset_live_clips() RETURNS trigger AS $$
BEGIN
    DELETE FROM video_clip_counts;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clips_count_live_insert AFTER INSERT ON clips
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mediaml_count_live_clips();
CREATE TRIGGER clips_count_live_update AFTER UPDATE ON clips
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mediaml_count_live_clips();
CREATE TRIGGER clips_count_live_delete AFTER DELETE ON clips
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mediaml_count_live_clips();
CREATE TRIGGER clips_count_live_truncate AFTER TRUNCATE ON clips
    FOR EACH STATEMENT EXECUTE FUNCTION mediaml_reset_live_clips();
