from mediaml import states
from mediaml.config import QUEUE_NAMES
from mediaml.pipeline.stages import STAGES, STAGES_BY_NAME, next_stage, release_states


def test_every_stage_move_is_legal():
    for st in STAGES:
        machine = states.MACHINES[st.table]
        assert st.in_flight in machine[st.ready], st.name
        assert st.done in machine[st.in_flight], st.name
        assert st.failed in machine[st.in_flight], st.name
        assert st.release_state in machine[st.in_flight], st.name
        assert st.queue in QUEUE_NAMES


def test_stage_chain_follows_the_design():
    chain, stage = [], STAGES_BY_NAME["download"]
    while stage is not None:
        chain.append(stage.name)
        stage = next_stage(stage)
    assert chain == ["download", "encode", "detect"]
    chain, stage = [], STAGES_BY_NAME["export"]
    while stage is not None:
        chain.append(stage.name)
        stage = next_stage(stage)
    assert chain == ["export", "keyframes", "embed"]
    assert next_stage(STAGES_BY_NAME["backfill"]) is None


def test_failed_states_can_be_retried_to_the_ready_state():
    for st in STAGES:
        retry = states.VIDEO_RETRY if st.table == "source_videos" else states.CLIP_RETRY
        assert retry[st.failed] in (st.ready, st.release_state)


def test_release_states_cover_every_in_flight_state():
    released = release_states()
    for st in STAGES:
        assert (st.table, st.in_flight) in released
    assert released[("clips", "embedding")] == "keyframed"
