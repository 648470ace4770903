"""Short shots full of motion in cut-only edits of real camera footage: both cuts found."""

from __future__ import annotations

import pytest

from mediaml.media import detect_cuts
from tests.media.test_detect import assert_matches
from tests.support.footage import cut_only_takes


@pytest.mark.parametrize(
    ("draw", "part", "cuts"),
    [
        # an 8-frame close-up, then a 6-frame shot of the cyclists at 2x speed (1.7x
        # zoom), big steps all through it, then a close-up again: no calm step between
        # the cuts at 31 and 37, and the one at 31 does not tower over the cyclists'
        # first steps; the one at 37 does, 6 frames on (before: the cut at 31 was
        # merged into the one at 37)
        (21, slice(13, 17), [23, 31, 37]),
        # a shaky 6-frame shot of the cyclists (2.2x zoom) with something dark
        # sweeping past the lens all through it, then a cut into a take where another
        # sweep is under way (before: the cut at 9 was merged into the one at 15)
        (28, slice(1, 4), [9, 15]),
    ],
    ids=["six-frame-shot-after-a-short-one", "six-frame-shot-swept-through"],
)
def test_short_shot_full_of_motion_keeps_both_cuts(media_dir, draw, part, cuts):
    # takes of the bench's cut-only edits (`cut_only_edit` drawn from a seed)
    path = media_dir / f"short_shot_{draw}_{part.start}.mp4"
    truth = cut_only_takes(path, draw, part)
    assert [t.frame for t in truth] == cuts
    assert_matches(detect_cuts(path), truth)
