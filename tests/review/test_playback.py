"""Temp clips for review: cut from a real all-intra proxy, cached, prefetched."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from mediaml import media
from mediaml.db.videos import delete_video
from mediaml.errors import MediaError, NotFoundError
from mediaml.media.ffmpeg import FfmpegProcess
from mediaml.review.playback import (
    PREFETCH_NICE,
    cached_path,
    playback_source,
    prefetch,
    temp_clip_path,
)
from mediaml.storage.keys import proxy_key
from tests.support.media import frame_number, make_numbered_video
from tests.support.review import add_video_with_clips

FRAMES = 120
CUTS = [30, 75]


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, media.VideoInfo]:
    """A numbered video encoded once into its all-intra proxy."""
    work = tmp_path_factory.mktemp("playback")
    make_numbered_video(work / "numbered.mp4", FRAMES)
    result = media.encode(
        work / "numbered.mp4", work / "master.mp4", work / "proxy.mp4", detect=False
    )
    return work / "proxy.mp4", result.proxy


@pytest.fixture
def clips(db, store, proxy):
    path, info = proxy
    key = proxy_key(1, "Numbered")
    store.put(path, key)
    _video, rows = add_video_with_clips(
        db,
        CUTS,
        frame_count=info.frame_count,
        fps=(info.fps.numerator, info.fps.denominator),
        title="Numbered",
        proxy_key=key,
    )
    return [r["id"] for r in rows]


def first_and_count(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frame_number(frames[0]), len(frames)


def test_temp_clip_has_exactly_the_clips_frames_and_audio(db, settings, clips):
    path = temp_clip_path(clips[1])
    assert path.parent == settings.playback_cache_dir and path.exists()
    assert first_and_count(path) == (30, 45)
    assert media.probe(path).has_audio


def test_cache_hit_needs_neither_ffmpeg_nor_the_proxy(db, store, clips, monkeypatch, tmp_path):
    path = temp_clip_path(clips[0])
    os.utime(path, (1, 1))
    # With FFmpeg unusable (none on PATH, the wheel's pointed elsewhere) a cut fails, but a
    # hit still answers.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", "/nonexistent/ffmpeg")
    # (mediaml.media lets the OSError of a missing binary through; either proves no cut.)
    with pytest.raises((MediaError, OSError)):
        temp_clip_path(clips[1])
    assert temp_clip_path(clips[0]) == path
    monkeypatch.undo()
    assert path.stat().st_mtime > 1  # touched, so the cache cleanup keeps it
    # Without the proxy a cut fails too, and a hit still answers.
    with db.transaction() as conn:
        key = conn.execute("SELECT proxy_key FROM source_videos").fetchone()["proxy_key"]
    store.delete(key)
    assert temp_clip_path(clips[0]) == path
    with pytest.raises(MediaError, match="missing from the object store"):
        temp_clip_path(clips[1])
    assert not cached_path(_source(db, clips[1])).exists()


def _source(db, clip_id):
    with db.transaction() as conn:
        return playback_source(conn, clip_id)


def test_prefetch_cuts_only_what_is_missing(db, clips):
    assert prefetch(clips[:2]) == 2
    assert prefetch(clips) == 1
    assert all(cached_path(_source(db, c)).exists() for c in clips)


def niceness(pid: int) -> int:
    """A process's niceness, from /proc (field 19 of its stat line)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_background_cuts_run_at_lower_cpu_priority():
    # Prefetch cuts pass nice=PREFETCH_NICE; FFmpeg must then really run that much lower
    # than the dashboard (a long null encode, so it is still running when looked at).
    ours = niceness(os.getpid())
    args = ["-f", "lavfi", "-i", "nullsrc=s=16x16:r=25:d=600", "-f", "null", "-"]
    with FfmpegProcess(args, nice=PREFETCH_NICE, timeout=60) as proc:
        background = niceness(proc.proc.pid)
        proc.kill()
    with FfmpegProcess(args, timeout=60) as proc:
        foreground = niceness(proc.proc.pid)
        proc.kill()
    assert background == min(ours + PREFETCH_NICE, 19)
    assert foreground == ours


def test_concurrent_requests_cut_once(db, clips):
    with ThreadPoolExecutor(4) as pool:
        paths = set(pool.map(lambda _: temp_clip_path(clips[2]), range(4)))
    assert len(paths) == 1
    leftovers = [p for p in next(iter(paths)).parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_video_without_proxy_and_deleted_clip(db, store):
    _video, rows = add_video_with_clips(db, [50], proxy_key=None, title="No proxy")
    with pytest.raises(MediaError, match="has no review proxy"):
        temp_clip_path(rows[0]["id"])
    with db.transaction() as conn:
        delete_video(conn, rows[0]["video_id"])
    with pytest.raises(NotFoundError, match="does not exist"):
        temp_clip_path(rows[0]["id"])
    assert prefetch([rows[0]["id"]]) == 0  # best effort: logged, not raised
