"""Human review of clips: claim the next clip, act on it, undo, audit; temp clips for
playback.

Example:
    >>> from mediaml import review
    >>> clip = review.next_clip("alice")           # claimed for alice
    >>> result = review.act(clip.clip_id, "approve", "alice")
    >>> result.next_clip                            # alice's next clip, already claimed
    >>> review.undo("alice")                        # the approval is reverted
"""

from mediaml.review.actions import (
    ReviewResult,
    act,
    history,
    next_clip,
    pending_count,
    release,
    undo,
    upcoming,
)
from mediaml.review.claims import CLAIM_SECONDS, ReviewClip
from mediaml.review.plan import ACTIONS, UNDO

__all__ = [
    "ACTIONS",
    "CLAIM_SECONDS",
    "UNDO",
    "ReviewClip",
    "ReviewResult",
    "act",
    "history",
    "next_clip",
    "pending_count",
    "release",
    "undo",
    "upcoming",
]
