"""Cuts next to a sweep past the lens in cut-only edits of real camera footage.

A brief disturbance (a flash, something passing the lens) is no cut only when the
earlier picture really comes back; a widened motion search also lines up the shapes of
another framing of the same set, so these cuts were taken for disturbances.
"""

from __future__ import annotations

import pytest

from mediaml.media import detect_cuts
from tests.media.test_detect import assert_matches
from tests.support.footage import cut_only_takes


@pytest.mark.parametrize(
    ("draw", "part", "cuts"),
    [
        # the talking head at 2.2x zoom, then a wider framing of it (1.3x) as
        # something sweeps past the lens: two frames on, searched 6 pixels wide, the
        # shapes line up with the picture before the cut (under half the change across
        # it), but no block of it is unchanged, and the cut's step leaves none
        # unchanged either (`decide._returns`; before: missed)
        (713, slice(18, 20), [50]),
        # the street at 3x zoom closing on a whip, then the same street at 1x opening
        # on a whip: the frame two before the cut lines up with the new shot's shapes
        # searched wide, yet no part of the picture is the same (`decide._returns`;
        # before: missed)
        (717, slice(20, 22), [25]),
        # the street, then the talking head with something sweeping past the lens as
        # the shot ends, then the street at 1.7x zoom (the taxi's sign): the sweep runs
        # across the cut at 51; the picture before it and the one at its end line up
        # under the wide search, but no block of the earlier picture is back and the
        # cut's step leaves none unchanged (`decide._passes_by`; before: missed)
        (1112, slice(19, 22), [30, 51]),
        # the street at 1.7x zoom, 2x speed, with something sweeping past the lens as
        # the shot ends, then the talking head (`decide._passes_by`; before: missed)
        (1113, slice(21, 23), [15]),
    ],
    ids=[
        "reframe-as-a-sweep-starts",
        "cut-as-a-sweep-ends",
        "cut-inside-a-sweep",
        "street-to-face-inside-a-sweep",
    ],
)
def test_a_cut_next_to_a_sweep_past_the_lens_is_found(media_dir, draw, part, cuts):
    # takes of cut-only edits (`cut_only_edit` drawn from a seed)
    path = media_dir / f"picture_back_{draw}_{part.start}.mp4"
    truth = cut_only_takes(path, draw, part)
    assert [t.frame for t in truth] == cuts
    assert_matches(detect_cuts(path), truth)


def test_the_last_step_of_a_burst_is_judged_as_one_though_structure_also_found_it(media_dir):
    # the street at 2.2x zoom with something dark sweeping past the lens as the shot
    # ends, then a cut to the taxi at 1.3x: the burst's last big step, over 3 times
    # the calm step after it (`decide.burst_edges`); its structure change alone also
    # made it a candidate, and as such it had to tower over its neighbours at twice
    # the motion search, which the sweep's steps do not allow (before: missed)
    path = media_dir / "picture_back_115_28.mp4"
    truth = cut_only_takes(path, 115, slice(28, 30))
    assert [t.frame for t in truth] == [37]
    assert_matches(detect_cuts(path), truth)
