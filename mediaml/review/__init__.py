"""mediaml.review(clip_id, action, reviewer=None, *, offset_seconds=None) -> ReviewResult

Review one clip from a notebook: ``action`` is ``approve``, ``skip``, ``archive``,
``merge`` (with the previous clip), ``group`` (approve with the previous clip), ``split``
(at ``offset_seconds`` into the clip) or ``undo`` (the reviewer's last action).
``reviewer`` defaults to the OS user and is recorded in the audit log.

Raises NotFoundError when the clip does not exist, ReviewConflictError when it is no
longer pending review or is held by another reviewer (nothing is written then), and
ReviewError for an unknown action or a bad offset.

Example::

    >>> pending = mediaml.clips(state="pending_review")
    >>> mediaml.review(int(pending.clip_id.iloc[0]), "approve", reviewer="ana")

The module also holds what the dashboard uses: claim the next clip, act on it, undo,
audit; temp clips for playback.

Example:
    >>> from mediaml import review
    >>> clip = review.next_clip("alice")           # claimed for alice
    >>> result = review.act(clip.clip_id, "approve", "alice")
    >>> result.next_clip                            # alice's next clip, already claimed
    >>> review.undo("alice")                        # the approval is reverted
"""

import getpass
import sys
import types

from mediaml.errors import NotFoundError, ReviewConflictError
from mediaml.review.actions import (
    ReviewResult,
    act,
    describe,
    history,
    move_cut,
    next_clip,
    pending_count,
    release,
    undo,
    upcoming,
)
from mediaml.review.claims import CLAIM_SECONDS, ReviewClip
from mediaml.review.context import ClipContext, clip_context
from mediaml.review.plan import ACTIONS, UNDO

__all__ = [
    "ACTIONS",
    "CLAIM_SECONDS",
    "UNDO",
    "ClipContext",
    "ReviewClip",
    "ReviewResult",
    "act",
    "clip_context",
    "default_reviewer",
    "describe",
    "history",
    "move_cut",
    "next_clip",
    "pending_count",
    "release",
    "undo",
    "upcoming",
]


class _CallableReview(types.ModuleType):
    """Makes ``mediaml.review(clip_id, action, reviewer=...)`` the notebook shorthand for
    :func:`act`, while ``mediaml.review.next_clip`` and friends stay reachable."""

    def __call__(
        self,
        clip_id: int,
        action: str,
        reviewer: str | None = None,
        *,
        offset_seconds: float | None = None,
    ) -> ReviewResult:
        """Apply ``action`` to ``clip_id`` (see the module doc: ``help(mediaml.review)``)."""
        try:
            return act(
                clip_id, action, reviewer or default_reviewer(), offset_seconds=offset_seconds
            )
        except NotFoundError:
            if action == UNDO:
                raise
            # The dashboard's wording ("load the next clip") means nothing in a notebook.
            raise NotFoundError(
                f"clip {clip_id} does not exist; mediaml.clips(state='pending_review') lists "
                "the clips waiting for review"
            ) from None
        except ReviewConflictError as exc:
            # Nor does "here is the next clip": say what to do instead.
            raise ReviewConflictError(
                f"{exc.reason}; nothing was changed. mediaml.clips(state='pending_review') lists "
                "the clips waiting for review (a clip on someone's screen is theirs for up "
                f"to {CLAIM_SECONDS // 60} minutes)"
            ) from None


def default_reviewer() -> str:
    """The reviewer name when nobody logged in or gave one (notebooks, the development
    dashboard): the OS user, else ``reviewer``."""
    try:
        return getpass.getuser() or "reviewer"
    except (KeyError, OSError):
        return "reviewer"


sys.modules[__name__].__class__ = _CallableReview
