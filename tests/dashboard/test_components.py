"""The explore page's one-model components answer their browser halves' messages: the
card grid's pager turns only the way it offers, the reel control takes its options from
the click and keeps them in range (drawn and clicked in Chromium by the explore tests)."""

from __future__ import annotations

from typing import Any

from dashboards.components.grid import ClipGrid
from dashboards.components.reel import MAX_CROSSFADE, ReelMaker


def test_the_grid_pager_turns_only_where_it_can() -> None:
    picked: list[int] = []
    turned: list[int] = []
    grid = ClipGrid(
        on_pick=picked.append,
        on_turn=turned.append,
        turn_labels=["‹ Previous", "Next ›"],
        can_turn=[False, True],
    )
    for msg in ({"turn": -1}, {"turn": 1}, {"turn": 5}, {"clip_id": 7}, "junk"):
        grid._handle_msg(msg)
    assert turned == [1] and picked == [7]
    grid.can_turn = [True, False]
    grid._handle_msg({"turn": -1})
    grid._handle_msg({"turn": 1})
    assert turned == [1, -1]


def test_a_grid_without_a_pager_ignores_turns() -> None:
    grid = ClipGrid(on_pick=lambda _c: None, can_turn=[True, True])
    grid._handle_msg({"turn": 1})  # no on_turn: nothing to call, no error


def test_the_reel_control_takes_its_options_from_the_click() -> None:
    asked: list[bool] = []

    def clip_ids() -> tuple[list[int], str]:
        asked.append(True)
        return [], "nothing"

    reel = ReelMaker(clip_ids)
    made: dict[str, Any] = {"crossfade": 99, "captions": False}
    reel._handle_msg({"make": made})
    assert reel.crossfade == MAX_CROSSFADE and reel.captions is False
    assert asked == [True]
    assert "No clips to join" in reel.status and not reel.busy
    reel._handle_msg({"make": {"crossfade": "x", "captions": True}})
    assert reel.crossfade == MAX_CROSSFADE and reel.captions is True
    reel._handle_msg({"other": 1})
    assert asked == [True, True]
    reel._handle_msg({"make": {"crossfade": float("nan")}})  # Bokeh's wire can carry NaN
    assert reel.crossfade == MAX_CROSSFADE
