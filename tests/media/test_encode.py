"""Encode: master + proxy in one pass, the proxy's promises, and bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from mediaml.errors import MediaError
from mediaml.media import encode, probe, run_ffmpeg
from mediaml.media.encode import transcode_args
from mediaml.media.ffmpeg import atomic_output, ffmpeg_exe
from mediaml.media.profiles import master_reusable, proxy_fps, proxy_size
from tests.support.media import frame_number


def all_keyframes(path: Path) -> bool:
    with av.open(str(path)) as container:
        return all(p.is_keyframe for p in container.demux(video=0) if p.size)


def faststart(path: Path) -> bool:
    data = path.read_bytes()
    return data.find(b"moov") < data.find(b"mdat")


def lavfi(path: Path, *args: str) -> Path:
    run_ffmpeg([*args, str(path)], timeout=60)
    return path


def test_proxy_is_all_intra_cfr_faststart_with_audio(numbered):
    result = numbered.result
    proxy = result.proxy
    assert result.master_reused  # H.264 source <= 1080p: remuxed
    assert (proxy.width, proxy.height) == (160, 90)
    assert proxy.fps == Fraction(25) and not proxy.variable_frame_rate
    assert proxy.frame_count == result.source.frame_count == 300
    assert proxy.video_codec == "h264" and proxy.audio_codec == "aac"
    assert all_keyframes(numbered.proxy)
    assert faststart(numbered.proxy) and faststart(numbered.master)
    assert result.master.frame_count == 300 and result.master.has_audio
    assert result.cuts is None  # detect=False
    assert set(result.source.as_dict()) >= {"fps", "fps_num", "fps_den", "frame_count"}


def test_probe_keeps_exact_ntsc_rate(numbered_ntsc):
    assert numbered_ntsc.result.source.fps == Fraction(30000, 1001)
    assert numbered_ntsc.result.proxy.fps == Fraction(30000, 1001)
    assert numbered_ntsc.result.proxy.frame_count == 120


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080), (1280, 720)),
        ((1281, 721), (1280, 720)),
        ((1080, 1920), (720, 1280)),
        ((3840, 2160), (1280, 720)),
        ((320, 180), (320, 180)),
        ((321, 181), (320, 180)),
    ],
)
def test_proxy_size(size, expected):
    assert proxy_size(*size) == expected


@pytest.fixture
def out(tmp_path: Path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


def test_rotated_phone_video_is_turned_upright(tmp_path, out):
    src = lavfi(
        tmp_path / "flat.mp4",
        *(
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x180:r=30:d=1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ),
    )
    rotated = lavfi(
        tmp_path / "rotated.mp4", "-display_rotation", "90", "-i", str(src), "-c", "copy"
    )
    info = probe(rotated)
    assert info.rotation == 270 and (info.width, info.height) == (180, 320)
    result = encode(rotated, out / "m.mp4", out / "p.mp4", detect=False)
    assert (result.proxy.width, result.proxy.height) == (180, 320)
    assert result.proxy.rotation == 0


def test_variable_frame_rate_becomes_constant(tmp_path, out):
    vfr = lavfi(
        tmp_path / "vfr.mp4",
        *("-f", "lavfi", "-i", "testsrc2=s=160x90:r=30"),
        *("-vf", "setpts='N/30/TB+if(gte(N,30),0.02*(N-30)/TB,0)'", "-frames:v", "60"),
        *("-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast"),
    )
    info = probe(vfr)
    assert info.variable_frame_rate
    result = encode(vfr, out / "m.mp4", out / "p.mp4")
    assert not result.proxy.variable_frame_rate
    assert result.proxy.fps == proxy_fps(info)
    expected = round(result.proxy.duration * float(result.proxy.fps))
    assert abs(result.proxy.frame_count - expected) <= 1
    assert result.cuts is not None and result.cuts.empty


def test_odd_dimensions_non_reusable_source(tmp_path, out):
    src = lavfi(
        tmp_path / "odd.mkv",
        *("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=0.4"),
        *("-vf", "scale=1281:721,format=yuv444p"),
        *("-c:v", "ffv1"),
    )
    info = probe(src)
    assert (info.width, info.height) == (1281, 721) and not master_reusable(info)
    result = encode(src, out / "m.mp4", out / "p.mp4")
    assert not result.master_reused
    assert (result.master.width, result.master.height) == (1280, 720)
    assert (result.proxy.width, result.proxy.height) == (1280, 720)
    assert not result.source.has_audio and not result.proxy.has_audio


def test_4k_source_gets_an_encoded_master_and_a_720p_proxy(tmp_path, out):
    src = lavfi(
        tmp_path / "uhd.mp4",
        *("-f", "lavfi", "-i", "testsrc2=s=3840x2160:r=25:d=0.2"),
        *("-f", "lavfi", "-i", "sine=d=0.2", "-c:v", "libx264", "-preset", "ultrafast"),
    )
    result = encode(src, out / "m.mp4", out / "p.mp4", detect=False)
    assert not result.master_reused
    assert (result.master.width, result.master.height) == (3840, 2160)
    assert (result.proxy.width, result.proxy.height) == (1280, 720)
    assert result.proxy.frame_count == 5 and result.proxy.has_audio


def test_non_h264_source_is_reencoded_as_master(tmp_path, out):
    src = lavfi(
        tmp_path / "mpeg4.avi",
        *("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=0.4", "-c:v", "mpeg4"),
    )
    result = encode(src, out / "m.mp4", out / "p.mp4")
    assert not result.master_reused and result.master.video_codec == "h264"
    assert result.proxy.frame_count == 10


def test_a_source_whose_sound_starts_before_its_picture_keeps_every_frame(numbered, tmp_path, out):
    """A stream-copied cut or a recording whose video starts a little after its audio (here
    AAC's priming, 23 ms, once the edit list is gone): the proxy must not pad the gap with
    a repeated first frame (the encode then failed for good: "detector saw 300 frames but
    the proxy has 301"), and frame n of the proxy is frame n of the source."""
    shifted = lavfi(
        tmp_path / "shifted.mp4",
        "-i",
        str(numbered.source),
        "-c",
        "copy",
        "-output_ts_offset",
        "10",
    )
    with av.open(str(shifted)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert audio.start_time * audio.time_base < video.start_time * video.time_base
    result = encode(shifted, out / "m.mp4", out / "p.mp4")
    assert result.proxy.frame_count == result.source.frame_count == 300
    with av.open(str(out / "p.mp4")) as container:
        shown = [frame_number(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert shown == list(range(300))


def test_progress_reports_reach_one(numbered, out):
    seen: list[float] = []
    encode(numbered.source, out / "m.mp4", out / "p.mp4", progress=seen.append)
    assert seen and seen[-1] == 1.0 and all(0 <= x <= 1 for x in seen)


# ------------------------------------------------------------------ bad input


def bad_inputs(tmp_path: Path, numbered_source: Path) -> dict[str, tuple[Path, str]]:
    zero = tmp_path / "zero.mp4"
    zero.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    data = numbered_source.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])  # faststart: header intact, data cut
    headless = tmp_path / "headless.mp4"
    headless.write_bytes(data[len(data) // 2 :])
    audio = lavfi(tmp_path / "audio.m4a", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac")
    still = lavfi(
        tmp_path / "still.png", "-f", "lavfi", "-i", "testsrc2=s=160x90", "-frames:v", "1"
    )
    still_jpg = lavfi(
        tmp_path / "still.jpg", "-f", "lavfi", "-i", "testsrc2=s=160x90", "-frames:v", "1"
    )
    # A user's 1x1 "video" (a tracking pixel saved as .mp4): 4:2:0 needs 2x2.
    dot = lavfi(
        tmp_path / "dot.mp4",
        *("-f", "lavfi", "-i", "color=c=red:s=1x1:d=1", "-c:v", "libx264", "-pix_fmt", "yuv444p"),
    )
    # A song with its album picture: the picture is a "video" stream of one frame.
    song = lavfi(
        tmp_path / "song.m4a",
        *("-f", "lavfi", "-i", "sine=d=1", "-f", "lavfi", "-i", "testsrc2=s=160x90:d=0.04"),
        *("-map", "0", "-map", "1", "-c:a", "aac", "-c:v", "mjpeg", "-frames:v", "1"),
        *("-disposition:v", "attached_pic"),
    )
    return {
        "1x1 pixels": (dot, "1x1 pixels, too small"),
        "song with cover art": (song, "audio-only file \\(its only picture is cover art\\)"),
        "zero-byte": (zero, "empty"),
        "text named .mp4": (text, "not a readable media file"),
        "truncated": (truncated, "truncated"),
        "missing header": (headless, "not a readable media file"),
        "audio-only": (audio, "audio-only"),
        "still png": (still, "still image"),
        "still jpeg": (still_jpg, "still image"),
        "missing": (tmp_path / "nope.mp4", "does not exist"),
    }


def test_bad_input_is_rejected_clearly_and_leaves_nothing(numbered, tmp_path, out):
    for name, (path, message) in bad_inputs(tmp_path, numbered.source).items():
        with pytest.raises(MediaError, match=message):
            probe(path)
        with pytest.raises(MediaError, match=message):
            encode(path, out / "m.mp4", out / "p.mp4")
        assert list(out.iterdir()) == [], name


def test_ffmpeg_failure_carries_stderr_and_leaves_no_output(tmp_path):
    target = tmp_path / "x.mp4"
    with pytest.raises(MediaError, match="ffmpeg failed") as excinfo, atomic_output(target) as tmp:
        run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), str(tmp)])
    assert "missing.mp4" in str(excinfo.value)
    assert list(tmp_path.iterdir()) == []


def test_hung_ffmpeg_is_killed_by_the_timeout(tmp_path):
    target = tmp_path / "endless.mp4"
    with pytest.raises(MediaError, match="longer than"), atomic_output(target) as tmp:
        run_ffmpeg(
            ["-re", "-f", "lavfi", "-i", "testsrc2=s=64x36:r=25", "-c:v", "mpeg4", str(tmp)],
            timeout=1.0,
        )
    assert list(tmp_path.iterdir()) == []


def test_failing_encode_midway_leaves_no_partial_files(numbered, tmp_path, out):
    info = probe(numbered.source)
    args = transcode_args(
        info, numbered.source, out / "m.mp4", out / "p.mp4", detect=True, reuse_master=True
    )
    assert args.count("-map") >= 4  # master, proxy and detector fed by one input
    with pytest.raises(MediaError, match="longer than"):
        encode(numbered.source, out / "m.mp4", out / "p.mp4", timeout=0.01)
    assert list(out.iterdir()) == []


def test_ffmpeg_exe_runs():
    assert Path(ffmpeg_exe()).exists()
