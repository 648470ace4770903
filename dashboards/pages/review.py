"""The review page: the reviewer's claimed clip, its actions, and what happened."""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboards.auth import default_reviewer
from dashboards.components.player import ReviewPlayer
from dashboards.context import get_context, session_identity
from dashboards.pages.layout import shell, user
from dashboards.query import QueryParam, read_query
from mediaml import review
from mediaml.errors import MediamlError, ReviewError, StorageError
from mediaml.review import ReviewClip, ReviewResult
from mediaml.storage import get_store

PAST = {
    "approve": "Approved",
    "skip": "Skipped",
    "archive": "Archived",
    "merge": "Merged",
    "group": "Grouped",
    "split": "Split",
}


def playback_url(clip_id: int) -> str:
    """Where the browser fetches a clip's temp clip (cut on first request)."""
    return f"/playback/{clip_id}.mp4"


def clip_view(clip: ReviewClip | None) -> tuple[dict[str, Any] | None, str | None]:
    """The player's view of ``clip`` and, when it cannot be played, the reason."""
    if clip is None:
        return None, None
    view = {**clip.to_dict(), "url": playback_url(clip.clip_id)}
    problem = None
    if not clip.proxy_key:
        problem = f"video {clip.video_id} has no review proxy; re-run its encode stage"
    else:
        try:
            present = get_store().exists(clip.proxy_key)
        except (StorageError, OSError) as exc:
            present, problem = False, f"the object store does not answer: {exc}"
        if not present and problem is None:
            problem = (
                f"the review proxy of video {clip.video_id} is missing from the object "
                "store; re-run its encode stage"
            )
    if problem:
        view["url"] = None
    return view, problem


class ReviewSession:
    """One browser tab's review: who reviews, which clip is on screen."""

    def __init__(self, reviewer: str, *, editable: bool) -> None:
        self.ctx = get_context()
        self.identity = session_identity()
        self.player = ReviewPlayer(on_action=self.on_action, sizing_mode="stretch_width")
        self.reviewer = pn.widgets.TextInput(
            name="Reviewer",
            value=reviewer,
            disabled=not editable,
            width=240,
            description="Recorded with every action" if editable else "Your login",
        )
        self.reviewer.param.watch(lambda _e: self.load(), "value")
        self.view = pn.Column(self.reviewer, self.player, sizing_mode="stretch_width")

    @property
    def name(self) -> str:
        """Who acts: the login when logins are on, else the name as typed (validated by
        mediaml.review). The widget is only a display when logins are on."""
        return self.identity.actor(self.reviewer.value or "")

    # -- showing ----------------------------------------------------------------

    def show(self, clip: ReviewClip | None, message: str = "", kind: str = "info") -> None:
        view, problem = clip_view(clip)
        if problem:
            message, kind = (f"{message} " if message else "") + problem, "error"
        self.player.param.update(
            clip=view,
            message=message,
            message_kind=kind,
            revision=self.player.revision + 1,
        )
        if clip is not None:
            self.ctx.prefetch_ahead(self.name, clip.clip_id)

    def load(self, message: str = "", kind: str = "info") -> None:
        """Show the reviewer's claimed clip (or claim the next one)."""
        try:
            clip = review.next_clip(self.name)
        except ReviewError as exc:
            self.show(None, str(exc), "error")
            return
        self.show(clip, message, kind)

    # -- acting -------------------------------------------------------------------

    def on_action(self, msg: dict[str, Any]) -> None:
        action, clip_id, offset = msg.get("action"), msg.get("clip_id"), msg.get("offset_seconds")
        if not isinstance(action, str) or not (clip_id is None or isinstance(clip_id, int)):
            self.load("That request was malformed and was ignored.", "error")
            return
        if offset is not None and not isinstance(offset, int | float):
            self.load("That split position was malformed and was ignored.", "error")
            return
        reviewer = self.name
        try:
            if action == review.UNDO:
                result = review.undo(reviewer)
            elif clip_id is None:
                raise ReviewError("no clip is on screen to act on")
            else:
                result = review.act(clip_id, action, reviewer, offset_seconds=offset)
        except MediamlError as exc:
            # Stale tab, deleted video, refused action: say why and show the clip the
            # reviewer should see now; nothing was written.
            self.load(str(exc), "error")
            return
        self.show(result.next_clip, self.describe(action, clip_id, result))

    @staticmethod
    def describe(action: str, clip_id: int | None, result: ReviewResult) -> str:
        if result.repeated:
            return (
                f"Clip {clip_id} was already {PAST.get(action, action).lower()}; nothing changed."
            )
        if action == review.UNDO:
            return "Undone. The clip is back in review."
        done = f"{PAST.get(action, action)} clip {clip_id}."
        if result.created_clips:
            done += f" New clip(s): {', '.join(map(str, result.created_clips))}."
        return done + " (U to undo)"


def page() -> pn.viewable.Viewable:
    """Build the review page for one session."""
    values, notes = read_query(pn.state.session_args, [QueryParam("reviewer", max_length=64)])
    signed_in = user()
    if signed_in:
        name, editable = signed_in, False
        if "reviewer" in values:
            notes.append("ignored ?reviewer: you review under your login name")
    else:
        name, editable = values.get("reviewer", default_reviewer()), True
    session = ReviewSession(name, editable=editable)
    session.load()
    return shell("review", session.view, notes=notes)
