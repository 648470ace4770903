"""The detector's pipe reader (`stream.feed`): read-ahead thread, same results, clean exits."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import numpy as np
import pytest

from mediaml.media import ShotDetector
from mediaml.media.detect.params import ANALYSIS_SIZE
from mediaml.media.detect.stream import (
    BATCH_FRAMES,
    PIPE_BYTES,
    READ_AHEAD,
    analysis_filter,
    feed,
)
from mediaml.media.ffmpeg import run_ffmpeg
from tests.support.media import Shot, make_multishot_video


@pytest.fixture(scope="module")
def analysis_frames(media_dir) -> np.ndarray:
    """Tiny analysis frames of a short edit (two cuts), as FFmpeg sends them."""
    path = media_dir / "feed.mp4"
    shots = [Shot("testsrc2", 300), Shot("smptebars", 250, "hue=h=90"), Shot("pan", 240)]
    make_multishot_video(path, shots, size=(160, 90), fps=25, audio=False)
    raw = path.with_suffix(".yuv")
    run_ffmpeg(["-i", str(path), "-vf", analysis_filter(), "-f", "rawvideo", str(raw)])
    w, h = ANALYSIS_SIZE
    return np.fromfile(raw, np.uint8).reshape(-1, 3, h, w)


def _pipe_writing(data: bytes, piece: int) -> tuple[object, threading.Thread]:
    """A real pipe's read end, with a thread writing ``data`` into it ``piece`` bytes at a time."""
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb", buffering=0) as out, contextlib.suppress(BrokenPipeError):
            for i in range(0, len(data), piece):
                out.write(data[i : i + piece])

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return os.fdopen(r, "rb", buffering=0), writer


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "detector-feed"]


def test_feed_through_a_pipe_gives_the_same_events_as_pushing(analysis_frames):
    assert len(analysis_frames) > 3 * BATCH_FRAMES  # several batches, a short last one
    direct = ShotDetector()
    direct.push(analysis_frames)
    expected = [(e.frame, e.kind) for e in direct.finish()]
    assert [f for f, _ in expected] == [300, 550]

    # odd write sizes: frames arrive split across reads
    stream, writer = _pipe_writing(analysis_frames.tobytes(), piece=10_007)
    detector = ShotDetector()
    with stream:
        feed(stream, detector)
    writer.join(5)
    assert detector.frames_seen == len(analysis_frames)
    assert [(e.frame, e.kind) for e in detector.finish()] == expected
    assert not _readers()


def test_a_detector_error_stops_the_reader(analysis_frames):
    detector = ShotDetector()
    detector.finish()  # a finished detector refuses frames: push raises
    # more than READ_AHEAD batches: the reader is left waiting for room when push fails
    data = np.concatenate([analysis_frames] * 4).tobytes()
    assert len(data) > (READ_AHEAD + 2) * BATCH_FRAMES * analysis_frames[0].nbytes
    stream, writer = _pipe_writing(data, piece=65_536)
    with stream, pytest.raises(RuntimeError, match="after finish"):
        feed(stream, detector)
    writer.join(5)  # the pipe was closed: the writer is not left blocked
    for reader in _readers():
        reader.join(5)
    assert not _readers()


def test_a_read_error_reaches_the_caller():
    r, w = os.pipe()
    os.close(w)
    stream = os.fdopen(r, "rb", buffering=0)
    stream.close()  # reading a closed file raises in the reader thread
    with pytest.raises(ValueError, match="closed file"):
        feed(stream, ShotDetector())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pipe sizes are Linux's")
def test_feed_widens_the_pipe_so_ffmpeg_can_run_ahead(analysis_frames):
    import fcntl

    data = analysis_frames[:BATCH_FRAMES].tobytes()
    stream, writer = _pipe_writing(data, piece=65_536)
    detector = ShotDetector()
    with stream:
        assert fcntl.fcntl(stream.fileno(), fcntl.F_GETPIPE_SZ) < PIPE_BYTES  # 64 KiB: ~9 frames
        feed(stream, detector)
        # ~150 analysis frames fit now, so a detector pass holding the reader up does not
        # stop FFmpeg's decoding
        assert fcntl.fcntl(stream.fileno(), fcntl.F_GETPIPE_SZ) >= PIPE_BYTES
    writer.join(5)
    assert detector.frames_seen == BATCH_FRAMES
