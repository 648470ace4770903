-- The review queue: pending clips in review order (video, then frame). Claiming the next
-- clip walks it from the front and skips the few rows other reviewers hold; without it,
-- every claim read and sorted every pending clip (0.08 s at 20,000 pending, growing with
-- the queue), on every review action and every page load.
CREATE INDEX clips_review_queue_idx ON clips (video_id, start_frame)
    WHERE state = 'pending_review';
