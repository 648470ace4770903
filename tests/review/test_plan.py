"""The pure rules of review actions: no database."""

import datetime as dt

import pytest

from mediaml.errors import IllegalTransitionError, ReviewConflictError, ReviewError
from mediaml.review.claims import claim_holder, claim_owner
from mediaml.review.plan import (
    ACTIONS,
    Plan,
    check_action,
    check_reviewer,
    is_repeat,
    plan_action,
    plan_undo,
)
from mediaml.states import CLIP_TRANSITIONS, PENDING_REVIEW


@pytest.mark.parametrize(
    ("action", "state"),
    [("approve", "review_approved"), ("skip", "review_skipped"), ("archive", "review_archived")],
)
def test_verdicts_move_the_clip_only(action, state):
    assert plan_action(action, PENDING_REVIEW, "review_approved") == Plan(action, clip_to=state)
    # Every planned move is one the state machine allows.
    assert state in CLIP_TRANSITIONS[PENDING_REVIEW]


def test_split_and_merge_are_cut_operations():
    assert plan_action("split", PENDING_REVIEW, None).cut == "add"
    assert plan_action("merge", PENDING_REVIEW, "review_approved").cut == "remove"


@pytest.mark.parametrize("action", ["merge", "group"])
def test_merge_and_group_need_a_previous_clip(action):
    with pytest.raises(IllegalTransitionError, match="first clip"):
        plan_action(action, PENDING_REVIEW, None)


@pytest.mark.parametrize("busy", ["exporting", "keyframing", "embedding"])
@pytest.mark.parametrize("action", ["merge", "group"])
def test_previous_clip_being_processed_is_refused(action, busy):
    with pytest.raises(IllegalTransitionError, match="being processed"):
        plan_action(action, PENDING_REVIEW, busy)


def test_group_approves_an_unapproved_neighbour_and_links_an_approved_one():
    pending = plan_action("group", PENDING_REVIEW, PENDING_REVIEW)
    assert pending.clip_to == pending.previous_to == "review_approved" and pending.link_previous
    skipped = plan_action("group", PENDING_REVIEW, "review_skipped")
    assert skipped.previous_to == "review_approved"
    approved = plan_action("group", PENDING_REVIEW, "embedded")
    assert approved.previous_to is None and approved.link_previous


def test_group_with_a_clip_archived_in_review_is_refused():
    with pytest.raises(IllegalTransitionError, match="review_archived"):
        plan_action("group", PENDING_REVIEW, "review_archived")


@pytest.mark.parametrize("action", ACTIONS)
def test_acting_on_a_clip_no_longer_pending_is_a_conflict(action):
    with pytest.raises(ReviewConflictError, match="no longer pending"):
        plan_action(action, "review_approved", PENDING_REVIEW)


def test_bad_action_names_and_offsets():
    with pytest.raises(ReviewError, match="unknown review action"):
        check_action("delete")
    with pytest.raises(ReviewError, match="time offset"):
        check_action("split", None)
    with pytest.raises(ReviewError, match="number of seconds"):
        check_action("split", float("nan"))


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 65, "a\nb"])
def test_bad_reviewer_names(name):
    with pytest.raises(ReviewError):
        check_reviewer(name)


def test_reviewer_name_is_stripped():
    assert check_reviewer("  alice ") == "alice"


def _record(action, before, after, id=7, clip_id=3):
    return {"id": id, "clip_id": clip_id, "action": action, "before": before, "after": after}


def test_undo_of_a_verdict_expects_the_verdict_state():
    plan = plan_undo(_record("skip", {}, {}))
    assert plan.clip_from == "review_skipped" and plan.cut is None and plan.target_id == 7


def test_undo_of_merge_and_split_inverts_the_cut():
    merge = plan_undo(_record("merge", {}, {"cut": 40, "created": [9], "archived": [2, 3]}))
    assert (merge.cut, merge.frame, merge.expect_pending) == ("add", 40, (9,))
    split = plan_undo(_record("split", {}, {"cut": 55, "created": [10, 11], "archived": [3]}))
    assert (split.cut, split.frame, split.expect_pending) == ("remove", 55, (10, 11))


def test_undo_of_group_restores_the_neighbour_only_when_group_changed_it():
    before = {"previous": {"id": 2, "state": "pending_review", "grouped_with": None}}
    after = {"previous": {"id": 2, "state": "review_approved", "grouped_with": 3}}
    plan = plan_undo(_record("group", before, after))
    assert (plan.previous_id, plan.previous_from, plan.previous_grouped_with) == (
        2,
        "review_approved",
        None,
    )
    unchanged = {"previous": {"id": 2, "state": "embedded", "grouped_with": 1}}
    plan = plan_undo(_record("group", unchanged, unchanged))
    assert plan.previous_from is None and plan.previous_grouped_with == 1


def test_undo_records_cannot_be_undone():
    with pytest.raises(ReviewError):
        plan_undo(_record("undo", {}, {}))


def test_repeat_is_same_reviewer_same_action_same_outcome():
    last = {"actor": "alice", "action": "approve"}
    assert is_repeat({"state": "review_approved"}, last, "approve", "alice")
    assert not is_repeat({"state": "review_approved"}, last, "approve", "bob")
    assert not is_repeat({"state": "review_approved"}, last, "skip", "alice")
    assert not is_repeat({"state": "exporting"}, last, "approve", "alice")
    assert is_repeat({"state": "archived"}, {"actor": "a", "action": "merge"}, "merge", "a")
    assert not is_repeat({"state": "pending_review"}, None, "approve", "alice")


def test_claims_expire_and_only_review_leases_count():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    later = now + dt.timedelta(seconds=10)
    clip = {"lease_owner": claim_owner("bob"), "lease_expires_at": later}
    assert claim_holder(clip, now) == "bob"
    assert claim_holder(clip, later) is None
    assert claim_holder({"lease_owner": "worker-1", "lease_expires_at": later}, now) is None
    assert claim_holder({"lease_owner": None, "lease_expires_at": None}, now) is None
