"""Health checks against a real database and object stores."""

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from psycopg.pq import Trace

from mediaml.db import Database
from mediaml.health import Health, LoopHealth
from mediaml.storage.s3 import S3Store


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on a new event loop in a thread of its own: the main thread may
    already run one (Playwright's sync API, for the browser tests of the same session)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_all_checks_pass(db, store):
    health = run(LoopHealth().check(db, store))
    assert health.ok and health.failed == []
    assert health.public() == {"status": "ok"}
    assert health.detail()["checks"] == {
        "database": "ok",
        "job_tables": "ok",
        "object_store": "ok",
    }


def test_unreachable_database_and_missing_bucket_are_reported(db_url, s3_endpoint, tmp_path):
    database = Database(db_url)
    database.close()
    database.url = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens there
    bad_store = S3Store(
        "no-such-bucket-here",
        tmp_path,
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
        endpoint_url=s3_endpoint,
    )
    health = run(LoopHealth().check(database, bad_store))
    assert health.failed == ["database", "job_tables", "object_store"]
    assert "does not answer" in health.checks["database"]
    assert "no-such-bucket-here" in health.checks["object_store"]
    assert health.public() == {"status": "unavailable"}


def test_the_loop_check_is_one_round_trip_on_a_connection_it_keeps(db_url, store, tmp_path):
    """``/healthz``'s check on the server's event loop (LoopHealth): the same answers,
    one round trip when all is well, and its connection kept from one check to the next."""
    database = Database(db_url, max_size=1)
    health = LoopHealth()
    trace = tmp_path / "libpq.trace"

    async def checks() -> list[Health]:
        first = await health.check(database, store, details=True)
        conn = health._conn
        assert conn is not None
        with trace.open("w") as out:
            conn.pgconn.trace(out.fileno())
            conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
            second = await health.check(database, store)
            conn.pgconn.untrace()
        assert health._conn is conn
        return [first, second]

    first, second = run(checks())
    health.close()
    database.close()
    assert first.ok and second.ok
    assert first.detail()["checks"] == {"database": "ok", "job_tables": "ok", "object_store": "ok"}
    assert "MB of" in first.details["object_cache"]
    answers = [line for line in trace.read_text().splitlines() if "\tReadyForQuery" in line]
    assert len(answers) == 1, trace.read_text()


def test_the_loop_check_names_missing_tables_and_a_database_gone(db, db_url, store):
    health = LoopHealth()

    async def check(database: Database) -> Health:
        return await health.check(database, store)

    with db.transaction() as conn:
        conn.execute("DROP TABLE huey_task")
    missing = run(check(db))
    assert missing.failed == ["job_tables"]
    assert "huey_task" in missing.checks["job_tables"]
    assert missing.public() == {"status": "unavailable"}
    gone = Database(db_url)
    gone.close()
    health.close()
    gone.url = "postgresql://nobody@127.0.0.1:1/none"
    down = run(check(gone))
    assert down.failed == ["database", "job_tables"]
    assert "does not answer" in down.checks["database"]
