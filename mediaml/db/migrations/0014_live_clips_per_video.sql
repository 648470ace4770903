-- Live clips per video (``mediaml.videos()``'s ``clips`` column) counted from an index
-- alone: the count of each video read every one of its clips from the table to check
-- its state (8 s for 10,000 videos of 100 clips; 0.14 s at a tenth of that with this).
CREATE INDEX clips_live_video_idx ON clips (video_id) WHERE state <> 'archived';
