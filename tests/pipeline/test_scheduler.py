"""The periodic scheduler: leader election, ticking, and a plain huey_consumer."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from mediaml.jobs.scheduler import PeriodicJob, Scheduler
from tests.pipeline.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_only_one_of_two_schedulers_leads(db_url, settings):
    sent = {"a": 0, "b": 0}

    def job(name):
        return PeriodicJob("dispatcher", 0.2, lambda: sent.__setitem__(name, sent[name] + 1))

    a = Scheduler(settings, db_url, [job("a")])
    b = Scheduler(settings, db_url, [job("b")])
    a.start()
    wait_for(lambda: a.leader, timeout=10, what="a leads")
    b.start()
    wait_for(lambda: sent["a"] >= 3, timeout=15, what="a ticks while b waits")
    assert a.leader and not b.leader
    assert sent["b"] == 0
    a.stop()
    a.join(5)
    # The standby takes over once the leader is gone (its lock is released).
    wait_for(lambda: b.leader, timeout=10, what="b takes over")
    wait_for(lambda: sent["b"] >= 2, timeout=10, what="b ticks")
    b.stop()
    b.join(5)


def test_tick_sends_each_job_on_its_interval(settings, db_url):
    sent = []
    s = Scheduler(
        settings,
        db_url,
        [
            PeriodicJob("fast", 1, lambda: sent.append("fast")),
            PeriodicJob("slow", 5, lambda: sent.append("slow")),
        ],
    )
    for now in (0, 0.5, 1.0, 2.0, 5.0):
        s.tick(now)
    assert sent == ["fast", "slow", "fast", "fast", "fast", "slow"]


def test_plain_huey_consumer_runs_a_queue(db, db_url, settings, tmp_path):
    from mediaml.jobs import tasks

    tasks.playback_cache_cleanup()  # queued on `maintenance` in this test's database
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MEDIAML_")},
        "DATABASE_URL": db_url,
        "MEDIAML_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "huey_consumer"),
            "mediaml.jobs.maintenance",
            "-w",
            "1",
            "-k",
            "thread",
            "-g",
            "TERM",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def ran():
            with db.transaction() as conn:
                return conn.execute(
                    "SELECT count(*) AS n FROM job_runs WHERE job = 'playback_cache_cleanup'"
                ).fetchone()["n"]

        wait_for(ran, timeout=60, what="cleanup run by huey_consumer")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_every_queue_runs_a_task_and_every_periodic_job_is_one():
    """The queue table describes real jobs: each queue has a task, and the periodic job
    names (listed once, in the scheduler) are tasks of mediaml.jobs.tasks."""
    from mediaml.config import QUEUE_NAMES
    from mediaml.jobs import HUEYS, tasks
    from mediaml.jobs.scheduler import PERIODIC_JOBS

    for queue in QUEUE_NAMES:
        assert HUEYS[queue]._registry._registry, f"no task runs on {queue}"
    for name in PERIODIC_JOBS:
        assert callable(getattr(tasks, name))
