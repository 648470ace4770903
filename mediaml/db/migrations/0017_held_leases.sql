-- Rows someone holds: a reviewer's claimed clip, a worker's in-flight item. A reviewer's
-- next clip first gives back every other clip they hold (``leases.give_back``), on every
-- claim, approval and undo; without this index that walked every clip of the state
-- (35-42 ms with 198,000 clips waiting for review at a million clips). Few rows are
-- held at any time, so the index stays small.
CREATE INDEX clips_held_idx ON clips (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX source_videos_held_idx ON source_videos (lease_owner) WHERE lease_owner IS NOT NULL;
