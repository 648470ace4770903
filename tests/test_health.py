"""Health checks against a real database and object stores."""

from psycopg.pq import Trace

from mediaml.db import Database
from mediaml.health import check_health
from mediaml.storage.s3 import S3Store


def test_all_checks_pass(db, store):
    health = check_health(db, store)
    assert health.ok and health.failed == []
    assert health.public() == {"status": "ok"}
    assert health.detail()["checks"] == {
        "database": "ok",
        "job_tables": "ok",
        "object_store": "ok",
    }


def test_missing_job_tables_are_named(db, store):
    with db.transaction() as conn:
        conn.execute("DROP TABLE huey_task")
    health = check_health(db, store)
    assert health.failed == ["job_tables"]
    assert "huey_task" in health.checks["job_tables"]
    assert health.public() == {"status": "unavailable"}


def test_unreachable_database_and_missing_bucket_are_reported(db_url, s3_endpoint, tmp_path):
    database = Database(db_url)
    database.close()  # a closed pool cannot hand out connections
    bad_store = S3Store(
        "no-such-bucket-here",
        tmp_path,
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
        endpoint_url=s3_endpoint,
    )
    health = check_health(database, bad_store)
    assert health.failed == ["database", "job_tables", "object_store"]
    assert "does not answer" in health.checks["database"]
    assert "no-such-bucket-here" in health.checks["object_store"]


def test_a_healthy_check_is_one_round_trip(db_url, store, tmp_path):
    """Each round trip waits for the database and for this process's GIL; while pages
    are built, four of them (begin, two queries, commit) made /healthz slow."""
    database = Database(db_url, max_size=1)
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        with database.pool.connection() as conn:  # the pool's one connection
            conn.pgconn.trace(out.fileno())
            conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        health = check_health(database, store)
        with database.pool.connection() as conn:
            conn.pgconn.untrace()
    database.close()
    assert health.ok
    answers = [line for line in trace.read_text().splitlines() if "\tReadyForQuery" in line]
    assert len(answers) == 1, trace.read_text()
