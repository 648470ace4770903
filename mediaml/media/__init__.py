"""Media transforms: probe, encode, shot detection, clip cutting, keyframes."""

from mediaml.media.ffmpeg import atomic_output, ffmpeg_exe, run_ffmpeg
from mediaml.media.probe import VideoInfo, probe

__all__ = ["VideoInfo", "atomic_output", "ffmpeg_exe", "probe", "run_ffmpeg"]
