"""The review page: the reviewer's claimed clip, its actions, and what happened."""

from __future__ import annotations

import contextlib
from typing import Any

import panel as pn

from dashboards.components.player import ReviewPlayer
from dashboards.context import get_context, session_identity
from dashboards.pages.layout import NavBar, shell, user
from dashboards.query import QueryParam, read_query
from dashboards.urls import playback_url
from mediaml import review
from mediaml.catalog import clip_details
from mediaml.errors import MediamlError, ReviewError, StorageError
from mediaml.review import ReviewClip, ReviewResult
from mediaml.states import PENDING_REVIEW
from mediaml.storage import get_store

PAST = {
    "approve": "Approved",
    "skip": "Skipped",
    "archive": "Archived",
    "merge": "Merged",
    "group": "Grouped",
    "split": "Split",
    "move": "Moved the cut of",
}

# Panel's text input on the review page's dark surface.
_DARK_INPUT = """
:host { color: #c1c2c5; font-size: 13px; }
label { color: #909296; }
input, .bk-input { background: #1a1b1e !important; color: #dee2e6 !important;
                   border: 1px solid #2c2e33 !important; }
"""


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


def context_view(clip_id: int) -> dict[str, Any] | None:
    """The context strip's and timeline's view of ``clip_id``: its neighbours (with the
    URLs of their temp clips and keyframe posters) and the live clips of its video."""
    try:
        ctx = review.clip_context(clip_id)
    except MediamlError:
        return None
    view = ctx.to_dict()
    store = get_store()
    for which in ("previous", "next"):
        seg = view[which]
        if seg is None:
            continue
        seg["url"] = playback_url(seg["clip_id"])
        key = seg.pop("poster_key")
        try:
            seg["poster"] = store.url(key) if key else None
        except MediamlError:
            seg["poster"] = None
    for seg in view["segments"]:
        seg.pop("poster_key", None)
    return view


def deep_link_note(wanted: int, shown: ReviewClip | None) -> str:
    """Why a deep link to clip ``wanted`` shows another clip ('' when it does not)."""
    if shown is not None and shown.clip_id == wanted:
        return ""
    facts = clip_details([wanted]).get(wanted)
    if facts is None:
        why = "it does not exist"
    elif facts["state"] == PENDING_REVIEW:
        why = "another reviewer has it on screen"
    else:
        why = f"it is {facts['state'].replace('_', ' ')}, no longer pending review"
    return f"Clip {wanted} cannot be reviewed: {why}. Showing the next clip instead."


class ReviewSession:
    """One browser tab's review: who reviews, which clip is on screen."""

    def __init__(self, reviewer: str, *, editable: bool, nav: NavBar | None = None) -> None:
        self.ctx = get_context()
        self.identity = session_identity()
        self.nav = nav
        self.doc = pn.state.curdoc
        self.player = ReviewPlayer(on_action=self.on_action, sizing_mode="stretch_width")
        self.reviewer = pn.widgets.TextInput(
            name="Reviewer",
            value=reviewer,
            disabled=not editable,
            width=240,
            description="Recorded with every action" if editable else "Your login",
            stylesheets=[_DARK_INPUT],
            margin=(6, 12, 0, 12),
        )
        self.reviewer.param.watch(lambda _e: self.load(), "value")
        self.view = pn.Column(
            self.reviewer,
            self.player,
            sizing_mode="stretch_width",
            margin=0,
            styles={"background": "#101113"},
        )

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
            context=context_view(clip.clip_id) if clip is not None else None,
            message=message,
            message_kind=kind,
            revision=self.player.revision + 1,
        )
        if self.nav is not None:
            self.nav.set_pending(clip.pending_count if clip is not None else 0)
        if clip is not None:
            self.ctx.prefetch_ahead(self.name, clip.clip_id, on_ready=self._preload)

    def _preload(self, clip_ids: list[int], cut: int) -> None:
        """Tell the browser which clips come next, with their views, so it preloads the
        temp clips of the first ``cut`` (already cut, so its requests hit the cache) and
        can start the first at once (called from the prefetch thread after each cut)."""
        upcoming = []
        ready = set(clip_ids[:cut])
        for clip in review.describe(clip_ids):
            view, problem = clip_view(clip)
            if view is not None and not problem:
                upcoming.append(
                    {
                        "clip_id": clip.clip_id,
                        "url": view["url"],
                        "clip": view,
                        "ready": clip.clip_id in ready,
                    }
                )
        if self.doc is None:
            self.player.upcoming = upcoming
            return
        with contextlib.suppress(RuntimeError):  # the tab closed meanwhile
            self.doc.add_next_tick_callback(lambda: setattr(self.player, "upcoming", upcoming))

    def load(self, message: str = "", kind: str = "info", *, prefer: int | None = None) -> None:
        """Show the reviewer's claimed clip (or claim the next one; ``prefer``: a deep
        link's clip, claimed when it is pending and free)."""
        try:
            clip = review.next_clip(self.name, prefer=prefer)
        except ReviewError as exc:
            self.show(None, str(exc), "error")
            return
        if prefer is not None:
            note = deep_link_note(prefer, clip)
            if note:
                message, kind = note, "error"
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
        frame, to = msg.get("frame"), msg.get("to")
        moved = (frame, to) if isinstance(frame, int) and isinstance(to, int) else None
        if action == "move" and moved is None:
            self.load("That cut position was malformed and was ignored.", "error")
            return
        reviewer = self.name
        try:
            if action == review.UNDO:
                result = review.undo(reviewer)
            elif clip_id is None:
                raise ReviewError("no clip is on screen to act on")
            elif action == "move" and moved is not None:
                result = review.move_cut(clip_id, *moved, reviewer)
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
    """Build the review page for one session (``?clip=ID`` opens that clip when it is
    pending review and nobody else has it)."""
    values, notes = read_query(
        pn.state.session_args,
        [QueryParam("reviewer", max_length=64), QueryParam("clip", "int")],
    )
    signed_in = user()
    if signed_in:
        name, editable = signed_in, False
        if "reviewer" in values:
            notes.append("ignored ?reviewer: you review under your login name")
    else:
        name, editable = values.get("reviewer", review.default_reviewer()), True
    nav = NavBar("review", dark=True)
    session = ReviewSession(name, editable=editable, nav=nav)
    session.load(prefer=values.get("clip"))
    return shell("review", session.view, notes=notes, nav=nav)
