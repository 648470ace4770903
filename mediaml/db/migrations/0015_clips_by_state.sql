-- Clips of a state in video order (``mediaml.clips(state=...)``): a page of them is one
-- range of this index, and several states are merged from their ranges in video order.
-- Without it a page of a state's clips walked the video-ordered index and skipped every
-- clip of another state on the way: 1.1-1.5 s for the first page of the clips waiting
-- for review at a million clips, when they were the newest fifth.
CREATE INDEX clips_state_order_idx ON clips (state, video_id, start_frame, id);
