"""Standalone detection's run: the file is probed while FFmpeg starts, and every way out
(a file that is no video, a timeout, the end) leaves no FFmpeg behind."""

from __future__ import annotations

import psutil
import pytest

from mediaml.errors import MediaError
from mediaml.media import detect_cuts, probe
from mediaml.media.ffmpeg import FfmpegProcess


def _ffmpeg_children() -> list[psutil.Process]:
    return [c for c in psutil.Process().children(recursive=True) if "ffmpeg" in c.name()]


def test_a_file_that_is_no_video_fails_as_the_probe_does_and_leaves_no_ffmpeg(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 1000)
    with pytest.raises(MediaError) as probed:
        probe(bad)
    with pytest.raises(MediaError) as detected:
        detect_cuts(bad)
    assert str(detected.value) == str(probed.value)
    assert not _ffmpeg_children()


def test_progress_reaches_one_and_ffmpeg_is_gone_at_the_end(detect_video):
    seen: list[float] = []
    found = detect_cuts(detect_video.path, progress=seen.append)
    assert len(found) == len(detect_video.transitions)
    assert seen and seen[-1] == 1.0 and all(0 <= x <= 1 for x in seen)
    assert not _ffmpeg_children()


def test_a_timeout_set_once_ffmpeg_runs_stops_it():
    endless = ["-f", "lavfi", "-i", "testsrc=size=64x36:rate=25", "-f", "null", "-"]
    with FfmpegProcess(endless) as proc:
        proc.set_timeout(0.3)
        with pytest.raises(MediaError, match=r"longer than 0\.3s"):
            proc.wait()
    assert proc.timed_out
    assert not _ffmpeg_children()
