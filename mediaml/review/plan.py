"""What a review action means, as pure functions: no database, no clock.

:func:`plan_action` turns (action, state of the clip, state of the previous clip) into
the changes it intends; :func:`plan_undo` turns an audit record into the changes that
revert it. :mod:`mediaml.review.actions` applies them in one transaction. Keeping the
rules here means every rule is tested without PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mediaml.errors import IllegalTransitionError, ReviewConflictError, ReviewError
from mediaml.states import (
    ARCHIVED,
    CLIP_IN_FLIGHT,
    PENDING_REVIEW,
    REVIEW_APPROVED,
    REVIEW_ARCHIVED,
    REVIEW_SKIPPED,
)

APPROVE = "approve"
SKIP = "skip"
ARCHIVE = "archive"
MERGE = "merge"
GROUP = "group"
SPLIT = "split"
MOVE = "move"
UNDO = "undo"

# The state each plain verdict moves the clip to.
VERDICTS: Mapping[str, str] = {
    APPROVE: REVIEW_APPROVED,
    SKIP: REVIEW_SKIPPED,
    ARCHIVE: REVIEW_ARCHIVED,
}
ACTIONS: tuple[str, ...] = (APPROVE, SKIP, ARCHIVE, MERGE, GROUP, SPLIT)
# Actions that need the live clip just before this one in the same video.
NEEDS_PREVIOUS = frozenset({MERGE, GROUP})

# A grouped neighbour in one of these states is already approved (or further down the
# pipeline); grouping only links it.
_APPROVED_OR_LATER = frozenset(
    {
        REVIEW_APPROVED,
        "exporting",
        "exported",
        "keyframing",
        "keyframed",
        "embedding",
        "embedded",
        "export_failed",
        "keyframe_failed",
        "embedding_failed",
    }
)

MAX_REVIEWER_LENGTH = 64


@dataclass(frozen=True)
class Plan:
    """The changes one review action intends.

    Attributes:
        action: the action name.
        clip_to: the state the acted clip moves to; None when a cut operation replaces it.
        previous_to: the state the previous clip moves to (``group`` of an unapproved
            neighbour); None when its state does not change.
        link_previous: set ``grouped_with`` between the clip and the previous one.
        cut: ``"remove"`` (merge: the cut at the clip's start) or ``"add"`` (split).
    """

    action: str
    clip_to: str | None = None
    previous_to: str | None = None
    link_previous: bool = False
    cut: str | None = None


def check_reviewer(name: str | None) -> str:
    """The reviewer name to record, stripped.

    Raises:
        ReviewError: empty, longer than 64 characters or containing control characters.
    """
    value = (name or "").strip()
    if not value:
        raise ReviewError("a reviewer name is needed to record who did what; log in or set one")
    if len(value) > MAX_REVIEWER_LENGTH or not value.isprintable():
        raise ReviewError(
            f"reviewer names are at most {MAX_REVIEWER_LENGTH} printable characters, "
            f"not {value[:80]!r}"
        )
    return value


def check_action(action: str, offset_seconds: float | None = None) -> str:
    """Validate an action name (and a split's offset).

    Raises:
        ReviewError: an unknown action, or a split without a usable offset.
    """
    if action not in ACTIONS:
        raise ReviewError(
            f"unknown review action {action!r}; use one of {', '.join((*ACTIONS, UNDO))}"
        )
    if action == SPLIT:
        if offset_seconds is None:
            raise ReviewError("a split needs the time offset within the clip where it happens")
        if not isinstance(offset_seconds, int | float) or offset_seconds != offset_seconds:
            raise ReviewError(f"a split offset must be a number of seconds, not {offset_seconds!r}")
    return action


def plan_action(action: str, clip_state: str, previous_state: str | None) -> Plan:
    """The changes ``action`` makes to a clip in ``clip_state`` whose previous live clip
    in the same video is in ``previous_state`` (None: it is the first clip).

    Raises:
        ReviewError: unknown action.
        ReviewConflictError: the clip is no longer pending review.
        IllegalTransitionError: merge/group without a previous clip, or with one that
            cannot take part (being processed, or archived in review).
    """
    check_action(action, 0.0)
    if clip_state != PENDING_REVIEW:
        raise ReviewConflictError(
            f"the clip is {clip_state!r}, no longer pending review; load the next clip"
        )
    if action in VERDICTS:
        return Plan(action, clip_to=VERDICTS[action])
    if action == SPLIT:
        return Plan(action, cut="add")
    if previous_state is None:
        raise IllegalTransitionError(
            f"cannot {action}: this is the first clip of its video, there is no previous clip"
        )
    if previous_state in CLIP_IN_FLIGHT:
        raise IllegalTransitionError(
            f"cannot {action}: the previous clip is being processed ({previous_state}); "
            "try again when it is done"
        )
    if action == MERGE:
        return Plan(action, cut="remove")
    # group
    if previous_state in (PENDING_REVIEW, REVIEW_SKIPPED):
        return Plan(
            action, clip_to=REVIEW_APPROVED, previous_to=REVIEW_APPROVED, link_previous=True
        )
    if previous_state in _APPROVED_OR_LATER:
        return Plan(action, clip_to=REVIEW_APPROVED, link_previous=True)
    raise IllegalTransitionError(
        f"cannot group with the previous clip: it is {previous_state!r}; "
        "undo its archiving first or approve this clip on its own"
    )


@dataclass(frozen=True)
class UndoPlan:
    """The changes that revert one recorded action.

    Attributes:
        target_id: the ``review_actions`` id being undone.
        clip_from: the state the acted clip must still be in; it goes back to
            ``pending_review`` (None for cut operations).
        previous_id: the previous clip whose link (and maybe state) a group changed.
        previous_from: the state the previous clip must be in to go back to
            ``pending_review`` (None: its state is left alone).
        previous_grouped_with: the ``grouped_with`` the previous clip had before.
        cut: ``"add"`` (undo a merge), ``"remove"`` (undo a split) at ``frame``, or
            ``"move"`` (undo a move) from ``frame`` back to ``move_to``.
        frame: the cut frame for ``cut``.
        move_to: where a moved cut goes back to.
        expect_pending: clips created by the undone cut operation; each must still be
            live and pending review, or the undo is refused.
    """

    target_id: int
    action: str
    clip_id: int
    clip_from: str | None = None
    previous_id: int | None = None
    previous_from: str | None = None
    previous_grouped_with: int | None = None
    cut: str | None = None
    frame: int | None = None
    move_to: int | None = None
    expect_pending: tuple[int, ...] = ()


def plan_undo(record: Mapping[str, Any]) -> UndoPlan:
    """The inverse of one ``review_actions`` row (with its ``before``/``after`` JSON).

    Raises:
        ReviewError: the record is an undo itself or of an unknown kind.
    """
    action = record["action"]
    before, after = record["before"], record["after"]
    base = {"target_id": int(record["id"]), "action": action, "clip_id": int(record["clip_id"])}
    if action in VERDICTS:
        return UndoPlan(**base, clip_from=VERDICTS[action])
    if action == GROUP:
        prev_before, prev_after = before["previous"], after["previous"]
        changed = prev_before["state"] != prev_after["state"]
        return UndoPlan(
            **base,
            clip_from=REVIEW_APPROVED,
            previous_id=int(prev_before["id"]),
            previous_from=prev_after["state"] if changed else None,
            previous_grouped_with=prev_before.get("grouped_with"),
        )
    if action == MERGE:
        return UndoPlan(
            **base, cut="add", frame=int(after["cut"]), expect_pending=tuple(after["created"])
        )
    if action == SPLIT:
        return UndoPlan(
            **base, cut="remove", frame=int(after["cut"]), expect_pending=tuple(after["created"])
        )
    if action == MOVE:
        return UndoPlan(
            **base,
            cut="move",
            frame=int(after["cut"]),
            move_to=int(after["from"]),
            expect_pending=tuple(after["created"]),
        )
    raise ReviewError(f"a {action!r} record cannot be undone")


def check_move(clip: Mapping[str, Any], frame: int, to: int) -> str:
    """Which edge of ``clip`` a move of the cut at ``frame`` to ``to`` changes:
    ``"start"`` or ``"end"``.

    Raises:
        ReviewError: ``frame`` is not a boundary of the clip, or ``to`` is not a frame
            number.
    """
    if isinstance(to, bool) or not isinstance(to, int):
        raise ReviewError(f"a cut moves to a whole frame number, not {to!r}")
    if frame == int(clip["start_frame"]) and frame > 0:
        return "start"
    if frame == int(clip["end_frame"]):
        return "end"
    raise ReviewError(
        f"frame {frame} is not a cut of clip {clip['id']} (it spans frames "
        f"{clip['start_frame']}..{int(clip['end_frame']) - 1}); move its start or end cut"
    )


def check_move_neighbour(state: str, clip_id: int) -> None:
    """A cut moves only between clips that both still wait for review.

    Raises:
        ReviewConflictError: the clip on the other side of the cut was reviewed already.
    """
    if state != PENDING_REVIEW:
        raise ReviewConflictError(
            f"cannot move that cut: clip {clip_id} on its other side is {state!r}, not "
            "pending review; undo its review first"
        )


def snapshot(clip: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a clip row an audit record keeps (JSON-safe)."""
    reviewed_at = clip.get("reviewed_at")
    return {
        "id": int(clip["id"]),
        "state": clip["state"],
        "start_frame": int(clip["start_frame"]),
        "end_frame": int(clip["end_frame"]),
        "grouped_with": clip.get("grouped_with"),
        "reviewed_by": clip.get("reviewed_by"),
        "reviewed_at": reviewed_at.isoformat() if reviewed_at is not None else None,
    }


def is_repeat(
    clip: Mapping[str, Any], last: Mapping[str, Any] | None, action: str, reviewer: str
) -> bool:
    """Whether acting on ``clip`` repeats ``last`` (the newest record on it, not undone):
    same reviewer, same action, and the clip is still as that action left it. A double
    click then changes nothing instead of failing or acting twice."""
    if last is None or last["actor"] != reviewer or last["action"] != action:
        return False
    if action in VERDICTS or action == GROUP:
        return bool(clip["state"] == (VERDICTS.get(action) or REVIEW_APPROVED))
    return bool(clip["state"] == ARCHIVED)
