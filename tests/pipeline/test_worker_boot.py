"""Worker boot checks, run as real processes."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediaml.config import QUEUE_NAMES, load_settings
from mediaml.errors import ConfigError
from mediaml.jobs.worker import Worker
from tests.pipeline.conftest import wait_for
from tests.test_config import PROD_MINIMUM

ROOT = Path(__file__).resolve().parents[2]


def boot(env_extra, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIAML_", "DATABASE_URL"))}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "runners.worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_unknown_queue_fails_at_boot_listing_allowed_names(tmp_path):
    result = boot({"MEDIAML_QUEUES": "default,bogus", "MEDIAML_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "bogus" in result.stderr
    for name in QUEUE_NAMES:
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_production_boot_names_missing_variables(tmp_path):
    result = boot({"APP_ENV": "production", "MEDIAML_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    for name in ("DATABASE_URL", "SECRET_KEY_BASE", "PROD_S3_BUCKET_NAME", "AWS_REGION"):
        assert name in result.stderr


@pytest.mark.parametrize(
    "queues, scheduler, expected",
    [
        ("default", None, True),
        ("default", "false", False),
        ("media_processing,background_jobs,temp_clips,maintenance", None, False),
        ("media_processing,background_jobs,temp_clips,maintenance", "false", False),
        ("maintenance", "true", True),
        ("default,maintenance", "0", False),
    ],
)
def test_scheduler_gating(db_url, tmp_path, queues, scheduler, expected):
    env = {"DATABASE_URL": db_url, "MEDIAML_DATA_DIR": str(tmp_path), "MEDIAML_QUEUES": queues}
    if scheduler is not None:
        env["MEDIAML_SCHEDULER"] = scheduler
    worker = Worker(load_settings(env))
    assert (worker.scheduler is not None) is expected
    assert sorted(worker.consumers) == sorted(queues.split(","))
    assert {q: c.workers for q, c in worker.consumers.items()} == {
        q: {
            "default": 10,
            "media_processing": 5,
            "background_jobs": 2,
            "temp_clips": 3,
            "maintenance": 1,
        }[q]
        for q in queues.split(",")
    }


def test_unreachable_database_names_database_url(tmp_path):
    result = boot(
        {"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x", "MEDIAML_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr and "url argument" not in result.stderr
    assert "Traceback" not in result.stderr


def test_plain_worker_in_development_consumes_every_queue_and_says_so(start_worker):
    """The README's `mediaml worker` with MEDIAML_QUEUES unset does all the work."""
    worker = start_worker(MEDIAML_QUEUES=None, MEDIAML_SCHEDULER=None)
    line = wait_for(
        lambda: next((ln for ln in worker.output().splitlines() if "worker up" in ln), None),
        timeout=60,
        what="the worker's start line",
        worker=worker,
    )
    assert f"consuming {', '.join(QUEUE_NAMES)} (every queue)" in str(line)
    assert "scheduler on" in str(line)


def test_production_worker_refuses_to_guess_its_queues(tmp_path):
    env = {**PROD_MINIMUM, "MEDIAML_DATA_DIR": str(tmp_path)}
    settings = load_settings(env)
    assert settings.queues == () and settings.scheduler is False
    with pytest.raises(ConfigError, match="MEDIAML_QUEUES is not set"):
        Worker(settings)
    result = boot(env)
    assert result.returncode == 2
    assert "MEDIAML_QUEUES" in result.stderr and "Traceback" not in result.stderr


def test_a_database_outage_is_logged_once_not_per_poll(start_worker, db_url, pg_server):
    """The database goes away under a running worker: every consumer thread fails to read
    its queue on each poll. The log says so once (then once a minute with a count), not
    forty tracebacks a second."""
    from psycopg.conninfo import conninfo_to_dict

    worker = start_worker(MEDIAML_QUEUES=None, MEDIAML_SCHEDULER=None)
    wait_for(lambda: "worker up" in worker.output(), 60, "the worker's start line", worker=worker)
    pg_server.drop_database(str(conninfo_to_dict(db_url)["dbname"]))
    wait_for(
        lambda: "Error reading from queue" in worker.output(), 60, "the first error", worker=worker
    )
    time.sleep(8)  # a few polls of every consumer thread (at most 2 s apart)
    log = worker.output()
    assert log.count("Error reading from queue") == 1, log[-3000:]
    assert log.count("Error reading schedule") <= 1
