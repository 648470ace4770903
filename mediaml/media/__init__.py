"""Media transforms: probe, encode (master + proxy), shot detection, clips, keyframes.

Everything here works on local files and raises `mediaml.errors.MediaError` with a
one-line message for input it cannot handle. FFmpeg is ``ffmpeg`` on PATH, else the
binary shipped in the imageio-ffmpeg wheel.

Typical use::

    from mediaml import media

    result = media.encode("talk.mov", "master.mp4", "proxy.mp4")   # one decode
    result.cuts                      # DataFrame: frame, time, kind, score (proxy frames)
    media.cut_clip("proxy.mp4", 120, 245, "clip.mp4")             # frame-exact copy
    frames = media.keyframe_frames(120, 245, "multi")             # [151, 182, 213]
    media.extract_keyframes("proxy.mp4", frames, "keyframes/")
"""

from mediaml.media.clips import cut_clip, cuts_to_detected, export_clip
from mediaml.media.detect import DetectorParams, ShotDetector, detect_cuts, detect_scores
from mediaml.media.encode import EncodeResult, encode
from mediaml.media.ffmpeg import atomic_output, ffmpeg_exe, run_ffmpeg
from mediaml.media.keyframes import extract_keyframes, keyframe_frames
from mediaml.media.probe import VideoInfo, probe
from mediaml.media.profiles import EXPORT_PROFILES, Profile

__all__ = [
    "EXPORT_PROFILES",
    "DetectorParams",
    "EncodeResult",
    "Profile",
    "ShotDetector",
    "VideoInfo",
    "atomic_output",
    "cut_clip",
    "cuts_to_detected",
    "detect_cuts",
    "detect_scores",
    "encode",
    "export_clip",
    "extract_keyframes",
    "ffmpeg_exe",
    "keyframe_frames",
    "probe",
    "run_ffmpeg",
]
