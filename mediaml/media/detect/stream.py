"""Feed the detector from FFmpeg: the analysis filter and the raw-frame pipe reader."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import IO

import numpy as np
import pandas as pd

from mediaml.media.detect.decide import Event
from mediaml.media.detect.detector import ShotDetector
from mediaml.media.detect.params import ANALYSIS_SIZE, DetectorParams
from mediaml.media.ffmpeg import FfmpegProcess
from mediaml.media.probe import VideoInfo, probe

BATCH_FRAMES = 256
"""Frames read from the pipe and analysed together (numpy works per batch)."""

READ_AHEAD = 8
"""Batches a background thread reads ahead of the detector (8 x 256 tiny frames, 14 MB).

A pipe holds only ~9 analysis frames, so without it FFmpeg stopped decoding whenever the
detector was busy with a batch and the two took turns instead of working side by side."""

PIPE_BYTES = 1 << 20
"""Capacity asked of the raw-frame pipe (Linux: 64 KiB by default, ~9 analysis frames;
1 MiB, the unprivileged maximum, holds ~150), so FFmpeg rarely waits on the reader."""

COLUMNS = ["frame", "time", "kind", "score"]


def analysis_filter() -> str:
    """FFmpeg filter chain that turns any frame into the detector's tiny YUV picture.

    Two steps: a cheap bilinear shrink to 4x the analysis size, then an area average
    down to it, so every output pixel still averages many. With FFmpeg 9 the chain
    costs ~0.3 ms a 720p frame (~7% of the decode); cheaper chains change the pictures
    the detector's thresholds were set on, for a few percent at most.

    Each scaler runs on one thread (``threads=1``): FFmpeg 9 otherwise gives each its
    own pool of slice threads, whose hand-offs for a picture this small cost more than
    they share (0.1-0.2 ms of CPU a 720p frame); the pictures are the same bytes.
    """
    w, h = ANALYSIS_SIZE
    return (
        f"scale={4 * w}:{4 * h}:flags=fast_bilinear:threads=1,"
        f"scale={w}:{h}:flags=area:out_range=full:threads=1,format=yuv444p"
    )


def analysis_output() -> list[str]:
    """FFmpeg output options for the detector's raw-frame pipe (stdout).

    ``-flush_packets 0``: FFmpeg fills its 32 KiB write buffer before it writes, instead
    of writing (and waking the reader thread) once per 6.9 KB frame; the bytes are the same.
    """
    return ["-f", "rawvideo", "-pix_fmt", "yuv444p", "-flush_packets", "0", "pipe:1"]


def _widen_pipe(stream: IO[bytes]) -> None:
    """Ask for a `PIPE_BYTES` pipe; where that is not possible the default one serves."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if set_size is None:
        return
    with contextlib.suppress(OSError, ValueError):  # not a pipe, or over the system's limit
        fcntl.fcntl(stream.fileno(), set_size, PIPE_BYTES)


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class _ReadAhead:
    """``size``-byte blocks of ``stream`` (the last one shorter), read by a background
    thread up to ``ahead`` blocks before the consumer asks for them."""

    def __init__(self, stream: IO[bytes], size: int, ahead: int) -> None:
        self._size = size
        self._blocks: queue.Queue[bytes | Exception] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(stream,), name="detector-feed", daemon=True
        )
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        try:
            while True:
                block = _read_exact(stream, self._size)
                if not self._put(block) or len(block) < self._size:
                    return
        except Exception as exc:  # e.g. the pipe closed under it: re-raised by the consumer
            self._put(exc)

    def _put(self, item: bytes | Exception) -> bool:
        while not self._stop.is_set():
            try:
                self._blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while True:
                block = self._blocks.get()
                if isinstance(block, Exception):
                    raise block
                yield block
                if len(block) < self._size:
                    self._thread.join()
                    return
        finally:
            self._stop.set()  # the consumer left early: the reader stops at its next block


def feed(
    stream: IO[bytes], detector: ShotDetector, on_frames: Callable[[int], None] | None = None
) -> None:
    """Read raw analysis frames from ``stream`` until EOF and push them to ``detector``.

    The pipe is drained by a background thread (`READ_AHEAD`), so FFmpeg keeps decoding
    while the detector works.
    """
    w, h = ANALYSIS_SIZE
    frame_bytes = 3 * w * h
    _widen_pipe(stream)
    for data in _ReadAhead(stream, frame_bytes * BATCH_FRAMES, READ_AHEAD):
        n = len(data) // frame_bytes
        if n:
            detector.push(np.frombuffer(data[: n * frame_bytes], np.uint8).reshape(n, 3, h, w))
            if on_frames is not None:
                on_frames(detector.frames_seen)


def events_frame(events: list[Event], fps: Fraction) -> pd.DataFrame:
    """Events as the public DataFrame: ``frame``, ``time`` (s), ``kind``, ``score``."""
    return pd.DataFrame(
        {
            "frame": pd.Series([e.frame for e in events], dtype="int64"),
            "time": pd.Series([float(e.frame / fps) for e in events], dtype="float64"),
            "kind": pd.Series([e.kind for e in events], dtype="object"),
            "score": pd.Series([round(e.score, 4) for e in events], dtype="float64"),
        },
        columns=COLUMNS,
    )


SCORE_COLUMNS = [
    "frame",
    "time",
    "score",
    "colour",
    "structure",
    "level",
    "cut_bar",
    "neighbours",
    "dominance",
    "candidate",
    "edge",
    "flash",
    "still",
    "gradual",
    "dark",
    "luma",
    "spread",
    "kind",
]


def scores_frame(detector: ShotDetector, fps: Fraction) -> pd.DataFrame:
    """A detector's per-frame scores as a DataFrame (see `detect_scores`)."""
    raw = detector.scores()
    if not raw:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in SCORE_COLUMNS})
    p = detector.params
    data: dict[str, object] = {"frame": raw["frame"].astype(np.int64)}
    data["time"] = raw["frame"] / float(fps)
    for name in ("score", "colour", "structure", "level"):
        data[name] = raw[name].astype(np.float64).round(4)
    usual = np.maximum(p.cut_threshold, p.cut_ratio * raw["level"] + p.cut_margin)
    data["cut_bar"] = usual.astype(np.float64).round(4)
    for name in ("neighbours", "dominance", "gradual", "luma", "spread"):
        data[name] = raw[name].astype(np.float64).round(4)
    for name in ("candidate", "edge", "flash", "dark"):
        data[name] = raw[name].astype(bool)
    data["still"] = raw["still"].astype(np.int64)
    data["kind"] = raw["kind"].astype(object)
    return pd.DataFrame(data, columns=SCORE_COLUMNS)


def standalone_args(path: str) -> list[str]:
    """FFmpeg arguments that decode ``path``'s first video stream into analysis frames on
    stdout (the fused encode feeds the same chain from its proxy branch instead)."""
    # The deblocking filter only polishes edges the 64x36 analysis picture averages away.
    args = ["-skip_loop_filter", "all", "-i", path, "-map", "0:v:0", "-an", "-sn", "-dn"]
    args += ["-vf", analysis_filter()]
    return [*args, "-fps_mode", "passthrough", *analysis_output()]


def run_standalone(
    path: str,
    params: DetectorParams,
    *,
    timeout: float | None,
    progress: Callable[[float], None] | None,
    keep_scores: bool = False,
) -> tuple[ShotDetector, VideoInfo]:
    """Decode ``path`` once with FFmpeg, scaled tiny, and run the detector over it.

    The file is probed while FFmpeg starts up and decodes its first frames into the pipe
    (the probe takes ~30 ms, which before came first); a file that is no video fails the
    probe, which stops FFmpeg. ``timeout`` None: 60 s plus 1 s per 10 s of video.
    """
    detector = ShotDetector(params, keep_scores=keep_scores)
    args = standalone_args(path)
    with FfmpegProcess(args, timeout=timeout, progress=progress, stdout=subprocess.PIPE) as proc:
        _widen_pipe(proc.stdout)  # room for what FFmpeg decodes during the probe
        info = probe(path)
        proc.duration = info.duration
        if timeout is None:
            proc.set_timeout(60 + info.duration / 10)
        feed(proc.stdout, detector)
        proc.wait()
    detector.finish()
    return detector, info
