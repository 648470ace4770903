import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediaml.cutmath import (
    add_cut,
    clips_from_cuts,
    frame_to_time,
    move_cut,
    normalize_cuts,
    remove_cut,
    split_frame,
    time_to_frame,
)
from mediaml.errors import InvalidCutError


def assert_tiles(segments, frame_count):
    assert segments[0][0] == 0 and segments[-1][1] == frame_count
    for (_a, b), (c, _d) in itertools.pairwise(segments):
        assert b == c
    assert all(s < e for s, e in segments)


def test_clips_from_cuts_tile_the_video():
    assert clips_from_cuts([30, 10, 10, 0, 100], 100) == [(0, 10), (10, 30), (30, 100)]
    assert clips_from_cuts([], 5) == [(0, 5)]


def test_cut_outside_video_rejected():
    with pytest.raises(InvalidCutError):
        normalize_cuts([150], 100)
    with pytest.raises(InvalidCutError):
        normalize_cuts([], 0)


def test_add_cut_reports_archived_and_created():
    change = add_cut([10, 30], 20, 100)
    assert change.cuts == (10, 20, 30)
    assert change.archived == ((10, 30),)
    assert change.created == ((10, 20), (20, 30))


@pytest.mark.parametrize("frame", [0, 100, 10, -3, 250])
def test_add_cut_validates(frame):
    with pytest.raises(InvalidCutError):
        add_cut([10, 30], frame, 100)


def test_remove_cut_merges_neighbours():
    change = remove_cut([10, 30], 30, 100)
    assert change.cuts == (10,)
    assert change.archived == ((10, 30), (30, 100))
    assert change.created == ((10, 100),)
    with pytest.raises(InvalidCutError):
        remove_cut([10, 30], 20, 100)


def test_move_cut_stays_between_neighbours():
    change = move_cut([10, 30, 50], 30, 45, 100)
    assert change.cuts == (10, 45, 50)
    assert change.archived == ((10, 30), (30, 50))
    assert change.created == ((10, 45), (45, 50))
    for bad in (10, 50, 5, 30, 60):
        with pytest.raises(InvalidCutError):
            move_cut([10, 30, 50], 30, bad, 100)


ops = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "move"]), st.integers(-5, 205), st.integers(-5, 205)
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(frame_count=st.integers(1, 200), initial=st.lists(st.integers(1, 199), max_size=20), ops=ops)
def test_random_cut_operations_keep_clips_mece(frame_count, initial, ops):
    cuts = normalize_cuts([c for c in initial if c < frame_count], frame_count)
    live = set(clips_from_cuts(cuts, frame_count))
    for op, a, b in ops:
        try:
            if op == "add":
                change = add_cut(cuts, a, frame_count)
            elif op == "remove":
                change = remove_cut(cuts, a, frame_count)
            else:
                change = move_cut(cuts, a, b, frame_count)
        except InvalidCutError:
            continue
        # What the operation archives is exactly what was live, and frames are conserved.
        assert set(change.archived) <= live
        assert sum(e - s for s, e in change.archived) == sum(e - s for s, e in change.created)
        live = (live - set(change.archived)) | set(change.created)
        cuts = change.cuts
        assert sorted(live) == clips_from_cuts(cuts, frame_count)
        assert_tiles(sorted(live), frame_count)


def test_time_frame_round_trip_with_ntsc_rate():
    fps = Fraction(30000, 1001)
    for frame in (0, 1, 29, 30, 1799, 107892):
        assert time_to_frame(frame_to_time(frame, fps), fps) == frame


def test_split_frame_is_strictly_inside():
    fps = Fraction(25)
    assert split_frame(100, 200, 1.0, fps) == 125
    with pytest.raises(InvalidCutError):
        split_frame(100, 200, 0.0, fps)
    with pytest.raises(InvalidCutError):
        split_frame(100, 200, 4.0, fps)
    with pytest.raises(InvalidCutError):
        split_frame(100, 200, -1.0, fps)
