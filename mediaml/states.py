"""The state machines of source videos and clips, as data.

Each machine is a mapping ``state -> states it may move to``. The database constrains
the set of state names (migration ``0001``; a test checks the two agree) and
:mod:`mediaml.db.transitions` (the one door for state changes) refuses any move not
listed here. The pipeline's
stage table (``mediaml.pipeline.stages``) names its ready, in-flight, done and failed
states from these constants.
"""

from __future__ import annotations

from collections.abc import Mapping

from mediaml.errors import IllegalTransitionError

# ------------------------------------------------------------------- source videos

NEW = "new"
DOWNLOADING = "downloading"
DOWNLOADED = "downloaded"
ENCODING = "encoding"
ENCODED = "encoded"
DETECTING_SCENES = "detecting_scenes"
DONE = "done"
DOWNLOAD_FAILED = "download_failed"
ENCODING_FAILED = "encoding_failed"
DETECT_SCENES_FAILED = "detect_scenes_failed"

VIDEO_TRANSITIONS: Mapping[str, frozenset[str]] = {
    NEW: frozenset({DOWNLOADING}),
    DOWNLOADING: frozenset({DOWNLOADED, DOWNLOAD_FAILED, NEW}),
    DOWNLOADED: frozenset({ENCODING}),
    ENCODING: frozenset({ENCODED, ENCODING_FAILED, DOWNLOADED}),
    ENCODED: frozenset({DETECTING_SCENES}),
    DETECTING_SCENES: frozenset({DONE, DETECT_SCENES_FAILED, ENCODED}),
    DONE: frozenset(),
    DOWNLOAD_FAILED: frozenset({NEW}),
    ENCODING_FAILED: frozenset({DOWNLOADED}),
    DETECT_SCENES_FAILED: frozenset({ENCODED}),
}
VIDEO_STATES: tuple[str, ...] = tuple(VIDEO_TRANSITIONS)

# -------------------------------------------------------------------------- clips

PENDING_REVIEW = "pending_review"
REVIEW_APPROVED = "review_approved"
REVIEW_SKIPPED = "review_skipped"
REVIEW_ARCHIVED = "review_archived"
ARCHIVED = "archived"
EXPORTING = "exporting"
EXPORTED = "exported"
KEYFRAMING = "keyframing"
KEYFRAMED = "keyframed"
EMBEDDING = "embedding"
EMBEDDED = "embedded"
EXPORT_FAILED = "export_failed"
KEYFRAME_FAILED = "keyframe_failed"
EMBEDDING_FAILED = "embedding_failed"

REVIEW_OUTCOMES = frozenset({REVIEW_APPROVED, REVIEW_SKIPPED, REVIEW_ARCHIVED})
# States in which a worker holds the clip under a lease; a cut operation must not
# archive a clip out from under it.
CLIP_IN_FLIGHT = frozenset({EXPORTING, KEYFRAMING, EMBEDDING})

CLIP_TRANSITIONS: Mapping[str, frozenset[str]] = {
    PENDING_REVIEW: frozenset(REVIEW_OUTCOMES | {ARCHIVED}),
    # Review outcomes can be undone; an approval continues down the pipeline.
    REVIEW_APPROVED: frozenset({PENDING_REVIEW, EXPORTING, ARCHIVED}),
    REVIEW_SKIPPED: frozenset({PENDING_REVIEW, REVIEW_APPROVED, ARCHIVED}),
    REVIEW_ARCHIVED: frozenset({PENDING_REVIEW, ARCHIVED}),
    ARCHIVED: frozenset(),
    EXPORTING: frozenset({EXPORTED, EXPORT_FAILED, REVIEW_APPROVED}),
    EXPORTED: frozenset({KEYFRAMING, ARCHIVED}),
    KEYFRAMING: frozenset({KEYFRAMED, KEYFRAME_FAILED, EXPORTED}),
    KEYFRAMED: frozenset({EMBEDDING, ARCHIVED}),
    EMBEDDING: frozenset({EMBEDDED, EMBEDDING_FAILED, KEYFRAMED}),
    # An embedded clip goes back through `embedding` when a new variant is backfilled.
    EMBEDDED: frozenset({EMBEDDING, ARCHIVED}),
    EXPORT_FAILED: frozenset({REVIEW_APPROVED, ARCHIVED}),
    KEYFRAME_FAILED: frozenset({EXPORTED, ARCHIVED}),
    EMBEDDING_FAILED: frozenset({KEYFRAMED, ARCHIVED}),
}
CLIP_STATES: tuple[str, ...] = tuple(CLIP_TRANSITIONS)

# The state a failed item returns to when it is retried.
VIDEO_RETRY: Mapping[str, str] = {
    DOWNLOAD_FAILED: NEW,
    ENCODING_FAILED: DOWNLOADED,
    DETECT_SCENES_FAILED: ENCODED,
}
CLIP_RETRY: Mapping[str, str] = {
    EXPORT_FAILED: REVIEW_APPROVED,
    KEYFRAME_FAILED: EXPORTED,
    EMBEDDING_FAILED: KEYFRAMED,
}

MACHINES: Mapping[str, Mapping[str, frozenset[str]]] = {
    "source_videos": VIDEO_TRANSITIONS,
    "clips": CLIP_TRANSITIONS,
}


def allowed_sources(table: str, target: str) -> frozenset[str]:
    """The states from which ``table`` rows may move to ``target``.

    Raises:
        IllegalTransitionError: ``target`` is not a state of that machine.
    """
    machine = MACHINES[table]
    if target not in machine:
        raise IllegalTransitionError(f"{target!r} is not a state of {table}")
    return frozenset(s for s, nexts in machine.items() if target in nexts)


def check_transition(table: str, current: str, target: str) -> None:
    """Raise :class:`IllegalTransitionError` unless ``current -> target`` is allowed."""
    machine = MACHINES[table]
    if target not in machine.get(current, frozenset()):
        allowed = ", ".join(sorted(machine.get(current, ()))) or "nothing (final state)"
        raise IllegalTransitionError(
            f"{table[:-1].replace('_', ' ')} cannot go from {current!r} to {target!r}; "
            f"from {current!r} it may go to: {allowed}"
        )
