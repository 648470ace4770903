"""The ``/healthz`` control of ``bench/_explore.py``: a bare server answering after the
same health check as ``mediaml serve``, and how its polls are set beside ours."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
import requests

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def explore(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    monkeypatch.setenv("MEDIAML_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(BENCH))
    import _explore

    yield _explore
    for name in ("_explore", "_catalogue"):
        sys.modules.pop(name, None)


def test_machine_stalls_count_our_slow_polls_that_overlap_a_slow_control_poll(explore):
    ours = [(0.0, 0.01), (1.0, 0.2), (2.0, 0.08), (3.0, 0.06), (4.0, 0.3)]
    control = [
        (1.15, 0.1),  # starts inside our 1.0-1.2 poll: shared
        (2.0, 0.01),  # fast: our slow 2.0 poll was our own
        (2.9, 0.07),  # ends at 2.97, before our 3.0 poll starts
        (4.29, 0.051),  # overlaps the end of our 4.0-4.3 poll
        (5.0, 0.5),  # nothing of ours is slow then
    ]
    assert explore.machine_stalls(ours, control) == (2, 4)
    assert explore.machine_stalls(ours, []) == (0, 4)
    assert explore.slow_share([0.01, 0.049, 0.05, 0.051]) == 0.25
    assert explore.latency_line([0.01] * 10 + [0.02] * 10) == "15 / 20 / 20 ms"


def test_the_control_answers_healthz_after_the_same_check(explore, db_url, tmp_path):
    proc, base = explore._control(db_url, tmp_path)
    try:
        with requests.Session() as session:  # one connection, as the poller keeps it
            for _ in range(2):
                answer = session.get(f"{base}/healthz", timeout=30)
                assert answer.status_code == 200 and answer.json() == {"status": "ok"}
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute("DROP TABLE huey_schedule")
            answer = session.get(f"{base}/healthz", timeout=30)
            assert answer.status_code == 503 and answer.json() == {"status": "unavailable"}
        poller = explore.HealthPoller(base)
        poller.start()
        time.sleep(0.3)
        poller.finish()
        starts = [start for start, _ in poller.polls]
        assert len(starts) >= 3 and starts == sorted(starts)
        assert abs(starts[0] - time.time()) < 60  # wall clock: comparable between processes
    finally:
        proc.terminate()
        proc.wait(30)


def test_postgres_cpu_counts_the_work_of_that_databases_backends_only(explore, db_url, pg_server):
    with psycopg.connect(db_url) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        before = explore._postgres_cpu(db_url)
        conn.execute("SELECT count(*) FROM generate_series(1, 5000000)")
        after = explore._postgres_cpu(db_url)
        other = explore._postgres_cpu(pg_server.url("postgres"))
    assert after[pid] - before[pid] > 0.05  # a few hundred ms of CPU in that backend
    assert pid not in other
