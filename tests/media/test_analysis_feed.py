"""The analysis frames FFmpeg sends the detector: the same bytes from the standalone and
the fused path, the same bytes as the former multi-threaded chain, in few large writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mediaml.media.detect.params import ANALYSIS_SIZE
from mediaml.media.detect.stream import analysis_filter, standalone_args
from mediaml.media.encode import transcode_args
from mediaml.media.ffmpeg import FfmpegProcess
from mediaml.media.probe import probe
from tests.support.media import Shot, make_multishot_video

FRAMES = 240
FRAME_BYTES = 3 * ANALYSIS_SIZE[0] * ANALYSIS_SIZE[1]


@pytest.fixture(scope="module")
def source(media_dir: Path) -> Path:
    """A constant-rate 320x180 edit (so the proxy keeps its size and rate), coded without
    the deblocking filter, which the standalone decode skips and the fused one applies."""
    path = media_dir / "feed_noloop.mp4"
    shots = [Shot("testsrc2", 90), Shot("smptebars", 70, "hue=h=90"), Shot("pan", 80)]
    codec = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18")
    codec += ("-x264-params", "no-deblock=1")
    make_multishot_video(path, shots, size=(320, 180), fps=25, codec_args=codec)
    return path


def _read_all(args: list[str]) -> tuple[bytes, int]:
    """FFmpeg's stdout for ``args`` and how many reads of up to 1 MiB it took."""
    chunks = []
    with FfmpegProcess(args, stdout=subprocess.PIPE) as proc:
        while chunk := proc.stdout.read(1 << 20):
            chunks.append(chunk)
        proc.wait()
    return b"".join(chunks), len(chunks)


def test_fused_and_standalone_paths_send_the_same_analysis_frames(source, tmp_path):
    standalone, _ = _read_all(standalone_args(str(source)))
    info = probe(source)
    fused, _ = _read_all(
        transcode_args(info, source, None, tmp_path / "p.mp4", detect=True, reuse_master=False)
    )
    assert len(standalone) == FRAMES * FRAME_BYTES
    assert fused == standalone


def test_single_threaded_scalers_give_the_bytes_of_the_threaded_chain(source):
    chain, _ = _read_all(standalone_args(str(source)))
    threaded = analysis_filter().replace(":threads=1", "")
    assert threaded != analysis_filter()
    args = standalone_args(str(source))
    args[args.index(analysis_filter())] = threaded
    assert _read_all(args)[0] == chain


def test_frames_reach_the_pipe_in_large_writes_not_one_per_frame(source):
    data, reads = _read_all(standalone_args(str(source)))
    assert len(data) == FRAMES * FRAME_BYTES
    # One write per 32 KiB (~4.7 frames) rather than one per 6.9 KB frame.
    assert reads <= FRAMES // 3, reads
