"""The last frames of a video open no shot: no shot lasts two frames or fewer."""

from __future__ import annotations

import pytest

from mediaml.media import detect_cuts
from tests.media.test_detect import assert_matches
from tests.support.footage import cut_only_takes


@pytest.mark.parametrize(
    ("draw", "part", "cuts"),
    [
        # the street at night, then the cyclists; something dark starts to sweep past
        # the lens two frames before the video ends, and there is no frame after it to
        # show the picture coming back (before: a cut at the last frame, 37)
        (1912, slice(28, 30), [30]),
        # the street, then the talking head, with the same sweep starting as the video
        # ends (before: a cut at 31, the last frame)
        (1816, slice(28, 30), [24]),
    ],
    ids=["sweep-as-the-video-ends", "sweep-on-the-face-as-the-video-ends"],
)
def test_a_change_in_the_last_two_frames_is_no_cut(media_dir, draw, part, cuts):
    # the last takes of cut-only edits (`cut_only_edit` drawn from a seed)
    path = media_dir / f"video_end_{draw}_{part.start}.mp4"
    truth = cut_only_takes(path, draw, part)
    assert [t.frame for t in truth] == cuts
    assert_matches(detect_cuts(path), truth)
