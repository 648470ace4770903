"""Cuts between two framings of one set in cut-only edits of real camera footage.

A continuity cut from a wider framing to a close-up of the same set (or back), on
nearly the same instant, keeps the colours and much of the shapes, so it can change the
picture less than the usual rules ask; but no camera rescales its picture by a quarter
or more from one frame to the next (`framing.framing_jumps`).
"""

from __future__ import annotations

import pytest

from mediaml.media import detect_cuts
from tests.media.test_detect import assert_matches
from tests.support.footage import cut_only_takes


@pytest.mark.parametrize(
    ("draw", "part", "cuts"),
    [
        # the parked cars of the street, then the same cars 1.4x closer a frame later:
        # the step changes 0.25 (1.75x its neighbours, under the local level's bar); the
        # close-up shrunk 1.4x is found in the wider picture at 0.86 (unscaled 0.45)
        # (before: missed)
        (519, slice(13, 15), [12]),
        # the talking head's chin and bow tie, then his face 1.6x wider (before: missed)
        (1021, slice(15, 17), [7]),
        # the street at night at 2.2x zoom, then the same street 1.8x wider as
        # someone walks into the frame (before: missed)
        (1219, slice(26, 28), [7]),
        # the street's bollard, then the same bollard 1.4x closer: found by its
        # structure change alone, the step did not tower over its neighbours with the
        # motion search doubled (the guard against a pan just faster than the search),
        # but a pan rescales nothing (before: missed)
        (1918, slice(10, 12), [6]),
        # the bunny in the grass, then 1.6x closer (likewise; before: missed)
        (813, slice(3, 5), [15]),
        # a cyclist passing the taxi, then the same moment 1.6x closer (likewise)
        (917, slice(17, 19), [24]),
    ],
    ids=[
        "street-cars-closer",
        "chin-to-face",
        "night-street-wider",
        "bollard-closer",
        "bunny-closer",
        "cyclist-closer",
    ],
)
def test_a_cut_between_two_framings_of_one_set_is_found(media_dir, draw, part, cuts):
    # takes of cut-only edits (`cut_only_edit` drawn from a seed)
    path = media_dir / f"reframe_{draw}_{part.start}.mp4"
    truth = cut_only_takes(path, draw, part)
    assert [t.frame for t in truth] == cuts
    assert_matches(detect_cuts(path), truth)
