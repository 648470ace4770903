"""Shot detection on generated videos with known transitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mediaml.errors import MediaError
from mediaml.media import ShotDetector, cuts_to_detected, detect_cuts
from mediaml.media.detect.params import ANALYSIS_SIZE
from mediaml.media.detect.stream import analysis_filter
from mediaml.media.ffmpeg import run_ffmpeg
from tests.support.media import Shot, Transition, make_multishot_video


def tolerance(t: Transition) -> int:
    """Frames a transition may be reported away from its middle.

    Hard cuts: none. Dissolves and fades: within the middle half of the transition
    (at least 2 frames), since the detector places them where the picture is halfway
    between the two shots, which depends on content for non-linear distances.
    """
    return 0 if t.kind == "cut" else max(2, (t.end - t.start) // 4)


def assert_matches(found: pd.DataFrame, truth: list[Transition]) -> None:
    assert len(found) == len(truth), (list(found["frame"]), [t.frame for t in truth])
    for row, t in zip(found.itertuples(), truth, strict=True):
        assert row.kind == t.kind, (row, t)
        assert abs(row.frame - t.frame) <= tolerance(t), (row, t)


def test_standalone_finds_every_transition_and_nothing_else(detect_video):
    found = detect_cuts(detect_video.path)
    assert list(found.columns) == ["frame", "time", "kind", "score"]
    assert found["frame"].dtype == np.int64
    # cuts incl. both ends of a 3-frame shot, a dissolve and a fade; no cut for the
    # pan, the zoom, the two white flashes, grain or the cellular automaton.
    assert_matches(found, detect_video.transitions)
    assert np.allclose(found["time"], found["frame"] / 25)
    assert ((found["score"] > 0) & (found["score"] <= 1)).all()


def test_fused_encode_reports_the_same_cuts(detect_video, detect_encoded):
    cuts = detect_encoded.result.cuts
    assert cuts is not None
    assert_matches(cuts, detect_video.transitions)
    assert detect_encoded.result.proxy.frame_count == 30 + 3 + 30 + 24 + 40 + 40 + 30 + 30 + 20 + 30


def test_cuts_convert_to_records_for_the_data_layer(detect_encoded):
    cuts = detect_encoded.result.cuts
    records = cuts_to_detected(cuts)
    assert [r.frame for r in records] == list(cuts["frame"])
    assert {r.kind for r in records} == {"cut", "dissolve", "fade"}


def _analysis_frames(path) -> np.ndarray:
    w, h = ANALYSIS_SIZE
    raw = path.with_suffix(".yuv")
    run_ffmpeg(["-i", str(path), "-vf", analysis_filter(), "-f", "rawvideo", str(raw)])
    return np.fromfile(raw, np.uint8).reshape(-1, 3, h, w)


@pytest.fixture(scope="module")
def long_video(media_dir):
    """2,400 frames of cuts, dissolves and fades: several detector windows long, so
    transitions fall on window boundaries."""
    path = media_dir / "long.mp4"
    shots = [
        Shot("testsrc2", 97),
        Shot("smptebars", 61, "hue=h=90", enter="dissolve", enter_frames=16),
        Shot("pan", 83),
        Shot("rgbtestsrc", 59, "hue=h=200", enter="fade", enter_frames=10),
        Shot("gradients", 71, enter="dissolve", enter_frames=30),
        Shot("mandelbrot", 47),
    ] * 6
    truth = make_multishot_video(path, shots, size=(160, 90), fps=25, audio=False)
    return path, truth


def test_streaming_is_exact_across_windows_and_batch_sizes(long_video):
    path, truth = long_video
    frames = _analysis_frames(path)
    results = []
    for batch in (3, 256, len(frames)):
        detector = ShotDetector()
        for i in range(0, len(frames), batch):
            detector.push(frames[i : i + batch])
        results.append([(e.frame, e.kind) for e in detector.finish()])
    assert all(r == results[0] for r in results)
    assert len(results[0]) == len(truth)
    for (frame, kind), t in zip(results[0], truth, strict=True):
        assert kind == t.kind
        assert abs(frame - t.frame) <= tolerance(t), (frame, t)


def test_a_dip_to_black_within_a_shot_is_not_a_cut(media_dir):
    path = media_dir / "dip.mp4"
    make_multishot_video(
        path, [Shot("testsrc2", 60, "fade=t=out:s=20:n=6,fade=t=in:s=28:n=6")], audio=False
    )
    assert detect_cuts(path).empty


def test_unknown_parameter_is_refused(detect_video):
    with pytest.raises(MediaError, match="unknown detector parameter"):
        detect_cuts(detect_video.path, treshold=0.3)


def test_parameters_can_be_overridden(detect_video):
    strict = detect_cuts(detect_video.path, cut_threshold=0.95, gradual_threshold=0.99)
    assert len(strict) < len(detect_video.transitions)


def test_black_bars_are_cut_off_but_a_dark_frame_is_kept():
    from mediaml.media.detect.features import extract, unbar

    rng = np.random.default_rng(7)
    h, w = ANALYSIS_SIZE[1], ANALYSIS_SIZE[0]
    picture = rng.integers(60, 200, (1, 3, h, w)).astype(np.uint8)
    # the same picture squeezed between bars: 2.39:1 letterbox and 4:3 pillarbox
    boxed = np.zeros((2, 3, h, w), dtype=np.uint8)
    boxed[:, 1:] = 128
    boxed[0, :, 5:-5] = picture[0, :, 5:-5]
    boxed[1, :, :, 8:-8] = picture[0, :, :, 8:-8]
    out = unbar(boxed)
    # nothing of the bars is left: the outer rows / columns show the picture
    assert out[0, 0, :2].min() >= 32 and out[0, 0, -2:].min() >= 32
    assert out[1, 0, :, :2].min() >= 32 and out[1, 0, :, -2:].min() >= 32
    # the colour histogram no longer counts the bars' black (a quarter of the frame)
    assert (boxed[:, 0] < 32).mean() > 0.2
    assert extract(boxed).hist[:, :16].sum(axis=1).max() < 0.01
    # a fade's black frame, a dark frame with a dark sky only at the top: kept whole
    dark = np.zeros((2, 3, h, w), dtype=np.uint8)
    dark[1] = picture[0]
    dark[1, 0, :6] = 10
    assert (unbar(dark) == dark).all()


def test_a_burst_of_motion_has_a_cut_candidate_at_its_edge_only():
    from mediaml.media.detect.decide import burst_edges
    from mediaml.media.detect.params import DetectorParams

    p = DetectorParams()
    calm, level = 0.05, np.full(12, 0.05)
    # calm, then a cut into a sweep under way (0.45, then the sweep's 0.55, 0.40), calm
    score = np.array([calm] * 4 + [0.45, 0.55, 0.40] + [calm] * 5)
    # the cut (the burst's first step) and the sweep's last step tower over the calm
    # side; the sweep's middle step is no edge (big on both sides)
    assert list(np.flatnonzero(burst_edges(score, level, p))) == [4, 6]
    # a step that towers over the calm side less than edge_dominance is no edge
    low = score.copy()
    low[3] = 0.2
    assert 4 not in np.flatnonzero(burst_edges(low, level, p))
    # a repeated frame (a near-zero step, a frame-rate conversion's duplicate) is no
    # calm step: inside a burst, the step after a repeat is judged by the one before it
    repeat = np.array([calm] * 3 + [0.45, 0.40, 0.001, 0.42, 0.40] + [calm] * 4)
    assert 6 not in np.flatnonzero(burst_edges(repeat, level, p))
    # turned off
    assert not burst_edges(score, level, DetectorParams(edge_dominance=0)).any()
