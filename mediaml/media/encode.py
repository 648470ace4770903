"""Encode a source into its master and proxy, detecting shots on the way.

One FFmpeg process decodes the source once and feeds every output from one filter
graph: the master (re-encoded, or the source's streams copied), the all-intra proxy and,
through a split of the proxy branch scaled tiny, raw frames on a pipe that the shot
detector reads in this process. The detector therefore sees exactly the proxy's frames,
and its cut frames are proxy frame numbers.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mediaml.errors import MediaError
from mediaml.media.detect.detector import ShotDetector
from mediaml.media.detect.params import DetectorParams
from mediaml.media.detect.stream import analysis_filter, analysis_output, events_frame, feed
from mediaml.media.ffmpeg import FfmpegProcess, atomic_output
from mediaml.media.probe import VideoInfo, probe
from mediaml.media.profiles import (
    MASTER,
    MASTER_REMUX,
    PROXY,
    even_crop_filter,
    master_reusable,
    proxy_fps,
    proxy_size,
)

COPYABLE_AUDIO = frozenset({"aac", "mp3", "alac"})
"""Audio codecs an MP4 master can carry as they are."""


@dataclass
class EncodeResult:
    """What `encode` made.

    ``proxy`` is authoritative for frame maths: clips index proxy frames, and ``cuts``
    (same columns as `detect_cuts`) are in proxy frame numbers.
    """

    source: VideoInfo
    proxy: VideoInfo
    master: VideoInfo
    master_reused: bool
    cuts: pd.DataFrame | None


def default_timeout(info: VideoInfo) -> float:
    """Seconds an encode of ``info`` may take before it is considered hung."""
    pixels = info.width * info.height / (1280 * 720)
    return 300 + info.duration * 10 * max(1.0, pixels)


def _graph(info: VideoInfo, *, master: bool, detect: bool) -> str:
    """The filter graph: outputs [master] (when re-encoding), [proxy] and [detect]."""
    width, height = proxy_size(info.width, info.height)
    rate = proxy_fps(info)
    # The proxy's first frame is at 0 even when the sound starts a little earlier (AAC
    # priming without its edit list, a stream-copied cut): with -fps_mode cfr the gap
    # would otherwise be filled with a repeat of the first frame, shifting every frame.
    proxy_chain = (
        "setpts=PTS-STARTPTS,"
        f"fps={rate.numerator}/{rate.denominator},"
        f"scale={width}:{height}:flags=bicubic,setsar=1,format=yuv420p"
    )
    parts = []
    if master:
        crop = even_crop_filter(info.width, info.height)
        master_chain = ",".join(x for x in (crop, "format=yuv420p") if x)
        parts.append("[0:v:0]split=2[m0][p0]")
        parts.append(f"[m0]{master_chain}[master]")
        source = "[p0]"
    else:
        source = "[0:v:0]"
    if detect:
        parts.append(f"{source}{proxy_chain},split=2[proxy][d0]")
        parts.append(f"[d0]{analysis_filter()}[detect]")
    else:
        parts.append(f"{source}{proxy_chain}[proxy]")
    return ";".join(parts)


def transcode_args(
    info: VideoInfo,
    source: Path,
    master_out: Path | None,
    proxy_out: Path,
    *,
    detect: bool,
    reuse_master: bool,
) -> list[str]:
    """FFmpeg arguments for one pass making the master (if any), proxy and detector feed."""
    encode_master = master_out is not None and not reuse_master
    args = ["-i", str(source), "-filter_complex", _graph(info, master=encode_master, detect=detect)]
    if master_out is not None:
        if reuse_master:
            audio = MASTER_REMUX.audio if info.audio_codec in COPYABLE_AUDIO else MASTER.audio
            args += ["-map", "0:v:0", "-map", "0:a:0?", *MASTER_REMUX.video, *audio]
            args += [*MASTER_REMUX.container, str(master_out)]
        else:
            args += ["-map", "[master]", "-map", "0:a:0?", *MASTER.args(audio=True)]
            args.append(str(master_out))
    args += ["-map", "[proxy]", "-map", "0:a:0?", *PROXY.args(audio=True), str(proxy_out)]
    if detect:
        args += ["-map", "[detect]", "-fps_mode", "passthrough", *analysis_output()]
    return args


def transcode(
    info: VideoInfo,
    source: Path,
    master_out: Path | None,
    proxy_out: Path,
    *,
    detect: bool,
    reuse_master: bool = False,
    params: DetectorParams | None = None,
    progress: Callable[[float], None] | None = None,
    timeout: float | None = None,
) -> ShotDetector | None:
    """Run the single FFmpeg pass; outputs appear only if everything succeeded.

    Returns:
        The finished detector (``detect=True``), else None.
    """
    detector = ShotDetector(params) if detect else None
    with contextlib.ExitStack() as stack:
        proxy_tmp = stack.enter_context(atomic_output(proxy_out))
        master_tmp = stack.enter_context(atomic_output(master_out)) if master_out else None
        args = transcode_args(
            info, source, master_tmp, proxy_tmp, detect=detect, reuse_master=reuse_master
        )
        with FfmpegProcess(
            args,
            timeout=timeout if timeout is not None else default_timeout(info),
            progress=progress,
            duration=info.duration,
            stdout=subprocess.PIPE if detect else subprocess.DEVNULL,
        ) as proc:
            if detector is not None:
                feed(proc.stdout, detector)
            proc.wait()
        if detector is not None:
            detector.finish()
    return detector


def encode(
    source: str | os.PathLike[str],
    master_out: str | os.PathLike[str],
    proxy_out: str | os.PathLike[str],
    *,
    detect: bool = True,
    progress: Callable[[float], None] | None = None,
    timeout: float | None = None,
) -> EncodeResult:
    """Make the master and the proxy of ``source`` in one decode, detecting shots too.

    Args:
        source: the original video.
        master_out: where the master goes (``.mp4``): H.264 CRF 18 + AAC, or the source
            remuxed when it is already H.264 and at most 1080p.
        proxy_out: where the proxy goes (``.mp4``): H.264 all-intra, <= 720p, constant
            frame rate, AAC when the source has audio.
        detect: also detect shot changes (on the proxy's frames).
        progress: called with the fraction done.
        timeout: seconds before FFmpeg is stopped (default scales with duration and size).

    Returns:
        The `EncodeResult`; ``cuts`` is None when ``detect`` is false.

    Raises:
        MediaError: the source is not a usable video or FFmpeg failed. No output file is
            left behind in that case.
    """
    source, master_path, proxy_path = Path(source), Path(master_out), Path(proxy_out)
    info = probe(source)
    reuse = master_reusable(info)
    detector = transcode(
        info,
        source,
        master_path,
        proxy_path,
        detect=detect,
        reuse_master=reuse,
        progress=progress,
        timeout=timeout,
    )
    proxy_info = probe(proxy_path)
    cuts = None
    if detector is not None:
        if detector.frames_seen != proxy_info.frame_count:
            raise MediaError(
                f"detector saw {detector.frames_seen} frames but the proxy has "
                f"{proxy_info.frame_count}: re-run the encode"
            )
        cuts = events_frame(detector.events, proxy_info.fps)
    return EncodeResult(
        source=info,
        proxy=proxy_info,
        master=probe(master_path),
        master_reused=reuse,
        cuts=cuts,
    )
