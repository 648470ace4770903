-- Clips of a state in video order (``mediaml.clips(state=...)``): a page of them is one
-- range of this index, and several states are merged from their ranges in video order.
-- A filter on the video-ordered index read every clip before the first match: 1.1-1.5 s
-- for the first page of the newest fifth of a million clips (waiting for review), and
-- every clip to find none of a state no clip is in.
CREATE INDEX clips_state_order_idx ON clips (state, video_id, start_frame, id);
