"""The pipeline's stages, as data.

One table drives both the dispatcher (which finds items needing each stage) and the
runner (which claims an item, runs the stage's step and, on success, queues the next
stage directly). States come from :mod:`mediaml.states`; the step functions live in
:mod:`mediaml.pipeline.steps`. ``tests/pipeline/test_stages.py`` checks that every move a
stage makes is legal in the state machine.

::

    new -download-> downloaded -encode (proxy + master, detection fused)-> encoded
        -detect (persist cuts, create clips)-> done     [clips: pending_review]
    [human review] review_approved -export-> exported -keyframes-> keyframed
        -embed-> embedded -backfill (only clips missing the default variant)-> embedded
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mediaml import states as s


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    Attributes:
        name: label used in task names, logs and the status page.
        table: ``source_videos`` or ``clips``.
        ready: state of items that need this stage.
        in_flight: state while a worker holds the item under a lease.
        done: state after success.
        failed: state after a permanent failure.
        queue: the Huey queue its task runs on.
        extra_where: additional SQL condition (on ``t``, the table) for the ready query.
        release_to: state an abandoned in-flight item returns to (default ``ready``).
    """

    name: str
    table: str
    ready: str
    in_flight: str
    done: str
    failed: str
    queue: str = "media_processing"
    extra_where: str = ""
    release_to: str = ""

    @property
    def release_state(self) -> str:
        return self.release_to or self.ready


# The default embedding variant is a parameter of the backfill query: clips embedded
# before the default model/strategy changed get the new variant, and only those.
_MISSING_DEFAULT_VARIANT = (
    "NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.clip_id = t.id"
    " AND e.model_name = %(model)s AND e.generation_strategy = %(strategy)s)"
)

STAGES: tuple[Stage, ...] = (
    Stage("download", "source_videos", s.NEW, s.DOWNLOADING, s.DOWNLOADED, s.DOWNLOAD_FAILED),
    Stage("encode", "source_videos", s.DOWNLOADED, s.ENCODING, s.ENCODED, s.ENCODING_FAILED),
    Stage("detect", "source_videos", s.ENCODED, s.DETECTING_SCENES, s.DONE, s.DETECT_SCENES_FAILED),
    Stage("export", "clips", s.REVIEW_APPROVED, s.EXPORTING, s.EXPORTED, s.EXPORT_FAILED),
    Stage("keyframes", "clips", s.EXPORTED, s.KEYFRAMING, s.KEYFRAMED, s.KEYFRAME_FAILED),
    Stage("embed", "clips", s.KEYFRAMED, s.EMBEDDING, s.EMBEDDED, s.EMBEDDING_FAILED),
    Stage(
        "backfill",
        "clips",
        s.EMBEDDED,
        s.EMBEDDING,
        s.EMBEDDED,
        s.EMBEDDING_FAILED,
        extra_where=_MISSING_DEFAULT_VARIANT,
        release_to=s.KEYFRAMED,
    ),
)
STAGES_BY_NAME: Mapping[str, Stage] = {st.name: st for st in STAGES}


def next_stage(stage: Stage) -> Stage | None:
    """The stage that picks up where ``stage`` leaves its items, if any.

    ``backfill`` ends where it started, so it chains to nothing.
    """
    for candidate in STAGES:
        if (
            candidate.table == stage.table
            and candidate.ready == stage.done
            and not (candidate.extra_where)
        ):
            return candidate
    return None


def release_states() -> dict[tuple[str, str], str]:
    """For each (table, in-flight state), where an abandoned item goes back to."""
    result: dict[tuple[str, str], str] = {}
    for st in STAGES:
        result.setdefault((st.table, st.in_flight), st.release_state)
    return result


def stage_for_state(table: str, state: str) -> Stage | None:
    """The (first) stage whose ready state is ``state``."""
    return next((st for st in STAGES if st.table == table and st.ready == state), None)
