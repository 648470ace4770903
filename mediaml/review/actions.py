"""Review actions applied to the database: one transaction each, audited, undoable.

Every call locks the clip's video row first (then the clip), so concurrent actions and
cut operations on one video run one after another without deadlocks; checks that the
clip is still pending and not held by another reviewer; applies the changes planned by
:mod:`mediaml.review.plan` through :func:`mediaml.db.transitions.transition` and the cut
operations of :mod:`mediaml.db.clips`; appends a ``review_actions`` row; and claims the
reviewer's next clip in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from psycopg.errors import UniqueViolation

from mediaml.cutmath import split_frame
from mediaml.db import clips as clipdb
from mediaml.db import leases
from mediaml.db.audit import record_review_action
from mediaml.db.counts import clips_in_state
from mediaml.db.database import Connection, Database, get_db
from mediaml.db.transitions import transition
from mediaml.db.videos import get_video
from mediaml.errors import (
    IllegalTransitionError,
    NotFoundError,
    ReviewConflictError,
    ReviewError,
    required,
)
from mediaml.review import claims
from mediaml.review.claims import ReviewClip
from mediaml.review.plan import (
    APPROVE,
    GROUP,
    MERGE,
    MOVE,
    SPLIT,
    UNDO,
    Plan,
    UndoPlan,
    check_action,
    check_move,
    check_move_neighbour,
    check_reviewer,
    is_repeat,
    plan_action,
    plan_undo,
    snapshot,
)
from mediaml.states import PENDING_REVIEW, REVIEW_APPROVED


@dataclass(frozen=True)
class ReviewResult:
    """What one action did.

    Attributes:
        next_clip: the clip the reviewer should see now (already claimed), or None.
        changed_clips: ids of clips whose state, link or existence changed.
        action_id: the ``review_actions`` row recorded (for a repeat, the earlier one).
        repeated: the request repeated the reviewer's last action on this clip (a double
            click); nothing was written.
        created_clips: clips a merge, split or undone cut operation created.
    """

    next_clip: ReviewClip | None
    changed_clips: tuple[int, ...] = ()
    action_id: int | None = None
    repeated: bool = False
    created_clips: tuple[int, ...] = ()


def _db(db: Database | None) -> Database:
    return db if db is not None else get_db()


def next_clip(
    reviewer: str, *, prefer: int | None = None, db: Database | None = None
) -> ReviewClip | None:
    """Claim and return the clip ``reviewer`` should review now (None: queue empty).

    Calling it again before acting returns the same clip, so a reload is harmless.

    Args:
        prefer: a clip to claim instead when it is pending review and nobody else holds
            it (a deep link); otherwise the usual next clip is claimed.

    Raises:
        ReviewError: the reviewer name is empty or unusable.
    """
    reviewer = check_reviewer(reviewer)
    with _db(db).transaction() as conn:
        return claims.claim_next(conn, reviewer, prefer=prefer)


def release(reviewer: str, *, db: Database | None = None) -> int:
    """Give back every clip ``reviewer`` holds (their tab closed); returns how many."""
    with _db(db).transaction() as conn:
        return claims.release(conn, check_reviewer(reviewer))


def upcoming(reviewer: str, limit: int = 3, *, db: Database | None = None) -> list[int]:
    """Ids of the next ``limit`` clips ``reviewer`` will probably see (to prefetch)."""
    with _db(db).transaction() as conn:
        return claims.upcoming(conn, check_reviewer(reviewer), limit)


def describe(clip_ids: list[int], *, db: Database | None = None) -> list[ReviewClip]:
    """The review view of each of ``clip_ids`` that still exists, in the given order,
    without claiming them (to show the clips a reviewer will probably see next)."""
    with _db(db).transaction() as conn:
        found = [claims.describe(conn, int(i)) for i in clip_ids]
    return [c for c in found if c is not None]


def pending_count(*, db: Database | None = None) -> int:
    """How many clips wait for review."""
    with _db(db).transaction() as conn:
        return clips_in_state(conn, PENDING_REVIEW)


def approve_all(
    reviewer: str, *, videos: list[int] | None = None, db: Database | None = None
) -> list[int]:
    """Approve every pending clip (of ``videos``) nobody is reviewing right now.

    Used for automatic approval (``run_pipeline(auto_approve=True)``): each clip is
    recorded in the audit log like a reviewer's approval. Clips on a reviewer's screen
    (a live claim) are theirs to decide and are left alone.

    Returns:
        The ids of the approved clips.
    """
    reviewer = check_reviewer(reviewer)
    approved = []
    with _db(db).transaction() as conn:
        rows = conn.execute(
            f"SELECT * FROM clips AS t WHERE t.state = %(pending)s AND {leases.free('t')}"
            + (" AND t.video_id = ANY(%(videos)s)" if videos is not None else "")
            + " ORDER BY t.id FOR UPDATE SKIP LOCKED",
            {"pending": PENDING_REVIEW, "videos": videos},
        ).fetchall()
        now = _now(conn)
        for clip in rows:
            after = transition(
                conn,
                "clips",
                int(clip["id"]),
                REVIEW_APPROVED,
                expect=PENDING_REVIEW,
                reviewed_by=reviewer,
                reviewed_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            _record(
                conn, clip, APPROVE, reviewer, {"clip": snapshot(clip)}, {"clip": snapshot(after)}
            )
            approved.append(int(clip["id"]))
    return approved


def act(
    clip_id: int,
    action: str,
    reviewer: str,
    *,
    offset_seconds: float | None = None,
    db: Database | None = None,
) -> ReviewResult:
    """Apply a review action to a clip and fetch the reviewer's next clip.

    Args:
        clip_id: the clip the reviewer was looking at.
        action: ``approve``, ``skip``, ``archive``, ``merge``, ``group``, ``split`` or
            ``undo`` (which reverts the reviewer's last action, whatever ``clip_id``).
        reviewer: who acts; recorded in the audit log.
        offset_seconds: for ``split``, the time within the clip where the new clip starts;
            turned into a frame with the video's stored fps.

    Returns:
        The result, with the next clip already claimed for the reviewer.

    Raises:
        ReviewError: bad action, reviewer or offset.
        NotFoundError: the clip (or its video) no longer exists.
        ReviewConflictError: the clip was reviewed or changed by someone else, or is held
            by another reviewer; nothing was written.
        IllegalTransitionError: merge/group without a usable previous clip.
        InvalidCutError: a split outside the clip.
    """
    reviewer = check_reviewer(reviewer)
    if action == UNDO:
        return undo(reviewer, db=db)
    check_action(action, offset_seconds)
    with _db(db).transaction() as conn:
        clip, video = _lock_clip(conn, clip_id)
        last = _last_record(conn, clip_id)
        if is_repeat(clip, last, action, reviewer):
            repeated = required(last, "the action being repeated")
            return ReviewResult(
                claims.claim_next(conn, reviewer), action_id=int(repeated["id"]), repeated=True
            )
        _check_available(conn, clip, reviewer, last)
        previous = clipdb.previous_clip(conn, clip)
        if previous is not None:
            previous = clipdb.get_clip(conn, int(previous["id"]), lock=True)
        plan = plan_action(action, clip["state"], previous["state"] if previous else None)
        if previous is not None and plan.action in (MERGE, GROUP):
            _check_not_held(conn, previous, reviewer, "the previous clip")
        before: dict[str, Any] = {"clip": snapshot(clip)}
        if previous is not None and plan.action in (MERGE, GROUP):
            before["previous"] = snapshot(previous)
        after, changed, created = _apply(
            conn, plan, clip, video, previous, reviewer, offset_seconds
        )
        action_id = _record(conn, clip, plan.action, reviewer, before, after)
        nxt = claims.claim_next(conn, reviewer, prefer=created[0] if created else None)
        return ReviewResult(nxt, changed, action_id, created_clips=created)


def move_cut(
    clip_id: int,
    frame: int,
    to: int,
    reviewer: str,
    *,
    db: Database | None = None,
) -> ReviewResult:
    """Move the cut at ``frame`` (the start or end of clip ``clip_id``) to frame ``to``.

    Both clips that meet at the cut must still be pending review; they are archived and
    replaced by the two clips the moved cut makes. Recorded as a ``move`` and undone by
    moving the cut back.

    Returns:
        The result; its next clip is the new clip covering most of ``clip_id``'s frames
        (the one on the same side of the cut), already claimed.

    Raises:
        ReviewError: ``frame`` is not a cut of the clip, or ``to`` is not a frame number.
        InvalidCutError: ``to`` would empty a clip or cross another cut.
        ReviewConflictError: either clip was reviewed or is held by another reviewer.
        NotFoundError: the clip no longer exists.
    """
    reviewer = check_reviewer(reviewer)
    with _db(db).transaction() as conn:
        clip, video = _lock_clip(conn, clip_id)
        last = _last_record(conn, clip_id)
        if (
            is_repeat(clip, last, MOVE, reviewer)
            and last is not None
            and (last["after"].get("from"), last["after"].get("cut")) == (frame, to)
        ):
            return ReviewResult(
                claims.claim_next(conn, reviewer), action_id=int(last["id"]), repeated=True
            )
        _check_available(conn, clip, reviewer, last)
        edge = check_move(clip, frame, to)
        other = conn.execute(
            "SELECT * FROM clips WHERE video_id = %s AND state <> 'archived' AND "
            + ("end_frame = %s" if edge == "start" else "start_frame = %s")
            + " FOR UPDATE",
            (clip["video_id"], frame),
        ).fetchone()
        if other is None:
            raise ReviewConflictError(
                f"the clips of video {clip['video_id']} changed; reload the clip and try again"
            )
        check_move_neighbour(other["state"], int(other["id"]))
        _check_not_held(conn, other, reviewer, f"clip {other['id']} on the other side")
        before = {"clip": snapshot(clip), "other": snapshot(other)}
        applied = clipdb.move_cut(conn, int(video["id"]), frame, to, created_by=reviewer)
        archived = tuple(int(c["id"]) for c in applied.archived)
        created = tuple(int(c["id"]) for c in applied.created)
        after = {"cut": to, "from": frame, "archived": list(archived), "created": list(created)}
        action_id = _record(conn, clip, MOVE, reviewer, before, after)
        focus = created[1] if edge == "start" else created[0]
        nxt = claims.claim_next(conn, reviewer, prefer=focus)
        return ReviewResult(nxt, archived + created, action_id, created_clips=created)


def _apply(
    conn: Connection,
    plan: Plan,
    clip: dict[str, Any],
    video: dict[str, Any],
    previous: dict[str, Any] | None,
    reviewer: str,
    offset_seconds: float | None,
) -> tuple[dict[str, Any], tuple[int, ...], tuple[int, ...]]:
    """Carry out ``plan``; returns (after JSON, changed clip ids, created clip ids)."""
    verdict: dict[str, Any] = {"reviewed_by": reviewer, "reviewed_at": _now(conn)}
    released = {"lease_owner": None, "lease_expires_at": None}
    if plan.cut is not None:
        if plan.cut == "remove":
            frame = int(clip["start_frame"])
            applied = clipdb.remove_cut(conn, int(video["id"]), frame, created_by=reviewer)
        else:
            frame = split_frame(
                int(clip["start_frame"]),
                int(clip["end_frame"]),
                float(required(offset_seconds, "the split offset")),
                clipdb.video_fps(video),
            )
            applied = clipdb.add_cut(conn, int(video["id"]), frame, created_by=reviewer)
        archived = tuple(int(c["id"]) for c in applied.archived)
        created = tuple(int(c["id"]) for c in applied.created)
        after: dict[str, Any] = {"cut": frame, "archived": list(archived), "created": list(created)}
        if plan.action == SPLIT:
            after["offset_seconds"] = float(offset_seconds or 0.0)
        return after, archived + created, created

    clip_to = required(plan.clip_to, "the state the clip moves to")
    fields: dict[str, Any] = {**verdict, **released}
    if plan.link_previous:
        previous = required(previous, "the previous clip")
        fields["grouped_with"] = previous["id"]
    row = transition(conn, "clips", int(clip["id"]), clip_to, expect=PENDING_REVIEW, **fields)
    after = {"clip": snapshot(row)}
    changed = [int(row["id"])]
    if plan.link_previous:
        previous = required(previous, "the previous clip")
        # A longer group is a chain: each later clip points at the one before it, and a
        # clip keeps the partner it already had.
        link = previous["grouped_with"] if previous["grouped_with"] is not None else clip["id"]
        if plan.previous_to is not None:
            prev = transition(
                conn,
                "clips",
                int(previous["id"]),
                plan.previous_to,
                expect=previous["state"],
                grouped_with=link,
                **verdict,
                **released,
            )
        else:
            prev = _set_link(conn, int(previous["id"]), link)
        after["previous"] = snapshot(prev)
        changed.append(int(prev["id"]))
    return after, tuple(changed), ()


def undo(reviewer: str, *, db: Database | None = None) -> ReviewResult:
    """Revert ``reviewer``'s last action that is not undone yet.

    Verdicts and groups put the clip(s) back to ``pending_review``; a merge is undone by
    adding its cut back, a split by removing its cut (the clips that operation created
    must still be pending review). Calling it again undoes the action before that.

    Returns:
        The result; its next clip is the clip the undone action was about (or the clip
        the inverse cut operation recreated in its place).

    Raises:
        ReviewError: nothing left to undo.
        ReviewConflictError: the clips have moved on since (reviewed again, being
            exported); nothing was written.
    """
    reviewer = check_reviewer(reviewer)
    with _db(db).transaction() as conn:
        # One undo at a time per reviewer, so each sees the previous one's result.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("review-undo:" + reviewer,))
        target = conn.execute(
            """
            SELECT * FROM review_actions ra
            WHERE actor = %s AND action <> 'undo'
              AND NOT EXISTS (SELECT 1 FROM review_actions u WHERE u.undoes = ra.id)
            ORDER BY id DESC LIMIT 1
            """,
            (reviewer,),
        ).fetchone()
        if target is None:
            raise ReviewError(f"{reviewer} has nothing left to undo")
        plan = plan_undo(target)
        try:
            get_video(conn, int(target["video_id"]), lock=True)
        except NotFoundError:
            raise ReviewConflictError(
                f"cannot undo {target['action']} of clip {target['clip_id']}: "
                "its video has been deleted"
            ) from None
        after, changed, focus = _apply_undo(conn, plan, target)
        try:
            action_id = _record_row(
                conn,
                int(target["clip_id"]),
                int(target["video_id"]),
                UNDO,
                reviewer,
                target["after"],
                after,
                undoes=int(target["id"]),
            )
        except UniqueViolation:
            raise ReviewConflictError("that action has already been undone") from None
        nxt = claims.claim_next(conn, reviewer, prefer=focus)
        return ReviewResult(nxt, changed, action_id, created_clips=tuple(after.get("created", ())))


def _apply_undo(
    conn: Connection, plan: UndoPlan, target: dict[str, Any]
) -> tuple[dict[str, Any], tuple[int, ...], int | None]:
    """Carry out ``plan``; returns (after JSON, changed ids, clip to show next)."""
    released = {"lease_owner": None, "lease_expires_at": None}
    cleared = {"reviewed_by": None, "reviewed_at": None}
    label = f"{plan.action} of clip {plan.clip_id}"
    if plan.cut is not None:
        frame = required(plan.frame, "the frame of the cut being undone")
        for cid in plan.expect_pending:
            row = conn.execute("SELECT state FROM clips WHERE id = %s", (cid,)).fetchone()
            if row is None or row["state"] != PENDING_REVIEW:
                state = row["state"] if row else "deleted"
                raise ReviewConflictError(
                    f"cannot undo the {label}: clip {cid} it created is now {state!r}"
                )
        video_id = int(target["video_id"])
        if plan.cut == "add":
            applied = clipdb.add_cut(conn, video_id, frame, created_by="undo")
        elif plan.cut == "move":
            to = required(plan.move_to, "where the moved cut goes back to")
            applied = clipdb.move_cut(conn, video_id, frame, to, created_by="undo")
        else:
            applied = clipdb.remove_cut(conn, video_id, frame, created_by="undo")
        created = tuple(int(c["id"]) for c in applied.created)
        archived = tuple(int(c["id"]) for c in applied.archived)
        # Show the clip that now covers the frames the reviewer acted on: after undoing a
        # merge that is the right-hand half (the clip that was merged into its previous).
        focus = created[-1] if plan.cut == "add" else created[0]
        if plan.cut == "move":
            focus = _covering(applied.created, target)
        cut_after = {"cut": frame, "archived": list(archived), "created": list(created)}
        return cut_after, archived + created, focus

    clip_from = required(plan.clip_from, "the state the clip returns from")
    try:
        fields: dict[str, Any] = {**cleared, **released}
        if plan.action == GROUP:
            fields["grouped_with"] = None
        row = transition(conn, "clips", plan.clip_id, PENDING_REVIEW, expect=clip_from, **fields)
        after: dict[str, Any] = {"clip": snapshot(row)}
        changed = [plan.clip_id]
        if plan.previous_id is not None:
            if plan.previous_from is not None:
                prev = transition(
                    conn,
                    "clips",
                    plan.previous_id,
                    PENDING_REVIEW,
                    expect=plan.previous_from,
                    grouped_with=plan.previous_grouped_with,
                    **cleared,
                    **released,
                )
            else:
                prev = _set_link(conn, plan.previous_id, plan.previous_grouped_with)
            after["previous"] = snapshot(prev)
            changed.append(plan.previous_id)
    except (IllegalTransitionError, NotFoundError) as exc:
        raise ReviewConflictError(f"cannot undo the {label}: {exc}") from None
    return after, tuple(changed), plan.clip_id


def _covering(rows: tuple[dict[str, Any], ...], target: dict[str, Any]) -> int:
    """Of the clips an undone move recreated, the one with the acted clip's frames."""
    start = int(target["before"]["clip"]["start_frame"])
    for row in rows:
        if int(row["start_frame"]) == start:
            return int(row["id"])
    return int(rows[0]["id"])


def history(
    *, reviewer: str | None = None, limit: int = 100, db: Database | None = None
) -> pd.DataFrame:
    """The audit log, newest first: id, at, actor, action, clip_id, video_id, undoes,
    before, after."""
    where, params = ("WHERE actor = %s", [reviewer]) if reviewer else ("", [])
    with _db(db).transaction() as conn:
        rows = conn.execute(
            "SELECT id, at, actor, action, clip_id, video_id, undoes, before, after"
            f" FROM review_actions {where} ORDER BY id DESC LIMIT %s",
            [*params, limit],
        ).fetchall()
    columns = ["id", "at", "actor", "action", "clip_id", "video_id", "undoes", "before", "after"]
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------------- helpers


def _now(conn: Connection) -> dt.datetime:
    row = required(conn.execute("SELECT now() AS now").fetchone(), "the database clock")
    now: dt.datetime = row["now"]
    return now


def _lock_clip(conn: Connection, clip_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Lock the clip's video, then the clip, and return both (fresh after the locks)."""
    gone = NotFoundError(
        f"clip {clip_id} no longer exists (its video may have been deleted); load the next clip"
    )
    row = conn.execute("SELECT video_id FROM clips WHERE id = %s", (clip_id,)).fetchone()
    if row is None:
        raise gone
    try:
        video = get_video(conn, int(row["video_id"]), lock=True)
        clip = clipdb.get_clip(conn, clip_id, lock=True)
    except NotFoundError:
        raise gone from None
    return clip, video


def _last_record(conn: Connection, clip_id: int) -> dict[str, Any] | None:
    """The newest action on ``clip_id`` that has not been undone."""
    return conn.execute(
        """
        SELECT * FROM review_actions ra
        WHERE clip_id = %s AND action <> 'undo'
          AND NOT EXISTS (SELECT 1 FROM review_actions u WHERE u.undoes = ra.id)
        ORDER BY id DESC LIMIT 1
        """,
        (clip_id,),
    ).fetchone()


def _check_available(
    conn: Connection, clip: dict[str, Any], reviewer: str, last: dict[str, Any] | None
) -> None:
    if clip["state"] != PENDING_REVIEW:
        who = f" by {last['actor']}" if last is not None else ""
        reason = (
            f"clip {clip['id']} was already reviewed or changed{who} (it is now {clip['state']!r})"
        )
        raise ReviewConflictError(
            f"{reason}; nothing was changed, here is the next clip", reason=reason
        )
    _check_not_held(conn, clip, reviewer, f"clip {clip['id']}")


def _check_not_held(conn: Connection, clip: dict[str, Any], reviewer: str, what: str) -> None:
    holder = claims.claim_holder(clip, _now(conn))
    if holder is not None and holder != reviewer:
        reason = f"{what} is being reviewed by {holder}"
        raise ReviewConflictError(
            f"{reason}; nothing was changed, here is another clip", reason=reason
        )


def _set_link(conn: Connection, clip_id: int, link: int | None) -> dict[str, Any]:
    row = conn.execute(
        "UPDATE clips SET grouped_with = %s WHERE id = %s RETURNING *", (link, clip_id)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"clip {clip_id} does not exist")
    return row


def _record(
    conn: Connection,
    clip: dict[str, Any],
    action: str,
    reviewer: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> int:
    return _record_row(
        conn, int(clip["id"]), int(clip["video_id"]), action, reviewer, before, after
    )


def _record_row(
    conn: Connection,
    clip_id: int,
    video_id: int,
    action: str,
    reviewer: str,
    before: Any,
    after: Any,
    *,
    undoes: int | None = None,
) -> int:
    return record_review_action(
        conn,
        clip_id=clip_id,
        video_id=video_id,
        action=action,
        actor=reviewer,
        before=before,
        after=after,
        undoes=undoes,
    )
