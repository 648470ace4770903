"""Health checks against a real database and object stores."""

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
