"""Human review of clips: claim the next clip, act on it, undo, audit; temp clips for
playback.

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
        return act(clip_id, action, reviewer or default_reviewer(), offset_seconds=offset_seconds)


def default_reviewer() -> str:
    """The reviewer name when nobody logged in or gave one (notebooks, the development
    dashboard): the OS user, else ``reviewer``."""
    try:
        return getpass.getuser() or "reviewer"
    except (KeyError, OSError):
        return "reviewer"


sys.modules[__name__].__class__ = _CallableReview
