"""Builders for review tests: a probed video with clips pending review."""

from __future__ import annotations

from typing import Any

from mediaml.db import Database
from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import create_video


def add_video_with_clips(
    db: Database,
    cuts: list[int],
    *,
    frame_count: int = 250,
    fps: tuple[int, int] = (25, 1),
    title: str = "Review video",
    proxy_key: str | None = None,
    uri: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Insert a detected video (state ``done``) and its clips, all ``pending_review``.

    Returns:
        ``(video row, clip rows in frame order)``.
    """
    with db.transaction() as conn:
        video, _ = create_video(
            conn,
            title,
            uri or f"file:///{title.replace(' ', '-')}-{len(cuts)}-{frame_count}.mp4",
            state="done",
            fps_num=fps[0],
            fps_den=fps[1],
            frame_count=frame_count,
            duration_s=frame_count * fps[1] / fps[0],
            width=320,
            height=180,
            has_audio=True,
            proxy_key=proxy_key,
        )
        clips = create_initial_clips(conn, video["id"], [DetectedCut(f) for f in cuts])
    return video, clips
