-- How far the running download or encode of a video has got (0..1), written by the
-- worker every few percent so the dashboard's ingest page can poll one small query.
-- Meaningful while the video is in an in-flight state (downloading, encoding);
-- cleared when a stage starts and left at its last value afterwards.
ALTER TABLE source_videos ADD COLUMN progress real CHECK (progress BETWEEN 0 AND 1);
