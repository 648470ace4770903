"""Frame-exact clip cutting from the proxy, export from the master, keyframes."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from mediaml.errors import MediaError
from mediaml.media import cut_clip, export_clip, extract_keyframes, keyframe_frames, probe
from tests.support.media import frame_number


def decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def audio_seconds(path) -> float:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        return sum(f.samples for f in container.decode(stream)) / stream.rate


@pytest.fixture(scope="module")
def proxy_frames(numbered):
    return decoded(numbered.proxy)


@pytest.mark.parametrize(("start", "end"), [(0, 10), (17, 18), (100, 157), (233, 300)])
def test_cut_clip_is_frame_exact_with_audio(numbered, proxy_frames, tmp_path, start, end):
    out = cut_clip(numbered.proxy, start, end, tmp_path / "clip.mp4")
    frames = decoded(out)
    assert len(frames) == end - start
    # stream copy: the clip's frames are bit-identical to the proxy's at those indices
    assert np.array_equal(frames[0], proxy_frames[start])
    assert np.array_equal(frames[-1], proxy_frames[end - 1])
    assert frame_number(frames[0]) == start
    assert frame_number(frames[-1]) == end - 1
    assert probe(out).has_audio
    assert audio_seconds(out) == pytest.approx((end - start) / 25, abs=0.05)


def test_cut_clip_is_frame_exact_at_ntsc_rates(numbered_ntsc, tmp_path):
    fps = numbered_ntsc.result.proxy.fps
    assert fps.denominator == 1001
    for start, end in [(1, 2), (29, 61), (100, 120)]:
        frames = decoded(cut_clip(numbered_ntsc.proxy, start, end, tmp_path / "c.mp4", fps=fps))
        assert [frame_number(f) for f in (frames[0], frames[-1])] == [start, end - 1]
        assert len(frames) == end - start


def test_cut_clip_refuses_empty_ranges_and_leaves_nothing(numbered, tmp_path):
    with pytest.raises(MediaError):
        cut_clip(numbered.proxy, 10, 10, tmp_path / "x.mp4")
    with pytest.raises(MediaError):
        cut_clip(numbered.proxy, -1, 10, tmp_path / "x.mp4")
    with pytest.raises(MediaError, match="past the end"):
        cut_clip(numbered.proxy, 290, 301, tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_export_reencodes_from_the_master(numbered, tmp_path):
    out = export_clip(numbered.master, 2.0, 4.0, tmp_path / "export.mp4")
    info = probe(out)
    assert info.video_codec == "h264" and info.has_audio
    frames = decoded(out)
    assert len(frames) == 50
    assert frame_number(frames[0]) == 50
    assert frame_number(frames[-1]) == 99


def test_export_refuses_unknown_profile(numbered, tmp_path):
    with pytest.raises(MediaError, match="unknown export profile"):
        export_clip(numbered.master, 0, 1, tmp_path / "x.mp4", profile="best")


@pytest.mark.parametrize(
    ("start", "end", "strategy", "expected"),
    [
        (0, 100, "multi", [25, 50, 75]),
        (0, 100, "midpoint", [50]),
        (120, 245, "multi", [151, 182, 213]),
        (10, 11, "multi", [10]),
        (10, 12, "multi", [10, 11]),
        (10, 13, "midpoint", [11]),
        (7, 10, "multi", [7, 8, 9]),
    ],
)
def test_keyframe_frames(start, end, strategy, expected):
    frames = keyframe_frames(start, end, strategy)
    assert frames == expected
    assert all(start <= f < end for f in frames)


def test_keyframe_frames_refuses_bad_input():
    with pytest.raises(MediaError, match="strategy"):
        keyframe_frames(0, 10, "first")
    with pytest.raises(MediaError):
        keyframe_frames(5, 5, "multi")


def test_keyframes_are_the_exact_frames(numbered, tmp_path):
    clips = [(s, s + 23) for s in range(0, 277, 23)]
    wanted = sorted({f for s, e in clips for f in keyframe_frames(s, e, "multi")} | {0, 299})
    paths = extract_keyframes(numbered.proxy, wanted, tmp_path / "kf")
    assert sorted(paths) == wanted
    for frame, path in paths.items():
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert frame_number(np.asarray(image.convert("RGB"))) == frame


def test_keyframe_outside_the_video_is_an_error(numbered, tmp_path):
    with pytest.raises(MediaError, match="outside"):
        extract_keyframes(numbered.proxy, [10, 300], tmp_path / "kf")
