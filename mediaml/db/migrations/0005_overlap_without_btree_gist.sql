-- The no-overlap rule for live clips as a single range exclusion, as 0001 now declares it,
-- so databases created before no longer depend on btree_gist (absent from some PostgreSQL
-- builds). The rule itself is unchanged: no two live clips of one video share a frame.

ALTER TABLE clips DROP CONSTRAINT IF EXISTS clips_no_overlap;
ALTER TABLE clips ADD CONSTRAINT clips_no_overlap EXCLUDE USING gist (
    int8range(video_id * 4294967296 + start_frame, video_id * 4294967296 + end_frame) WITH &&
) WHERE (state <> 'archived');
