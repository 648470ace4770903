"""Health of the services a process depends on: database, job tables, object store.

The web role answers ``/healthz`` with :class:`LoopHealth`, which asks the database on
the server's event loop itself; a load balancer only needs the status code, an operator
who is logged in also sees which check failed and why.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mediaml.db.database import Database, get_db
from mediaml.storage import LocalStore, get_store
from mediaml.storage.store import ObjectStore

# The tables the queues and the status page read; a database without them is migrated
# by an older mediaml (run `mediaml db upgrade`).
JOB_TABLES = ("huey_task", "huey_schedule", "job_runs")
TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Health:
    """One answer per check: None when it passed, else what went wrong."""

    checks: dict[str, str | None]
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(problem is None for problem in self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, problem in self.checks.items() if problem is not None]

    def public(self) -> dict[str, Any]:
        """Up or down, and nothing else (for callers who are not logged in)."""
        return {"status": "ok" if self.ok else "unavailable"}

    def detail(self) -> dict[str, Any]:
        """Every check with its problem, for operators."""
        return {
            **self.public(),
            "checks": {name: problem or "ok" for name, problem in self.checks.items()},
            "failed": self.failed,
            **({"details": self.details} if self.details else {}),
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_MISSING = (
    "SELECT array_agg(t) AS missing FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL"
)
# One simple-protocol message: its statements run in one implicit transaction, and the
# timeout applies to each statement after it.
_PROBE_ALL = f"SET LOCAL statement_timeout = '{TIMEOUT_SECONDS}s'; SELECT " + ", ".join(
    f"EXISTS (SELECT 1 FROM {table})" for table in JOB_TABLES
)


def _unreadable(exc: BaseException) -> str:
    return f"not readable within {TIMEOUT_SECONDS} s: {_first_line(exc)}"


def _missing(row: Any) -> str | None:
    """What the :data:`_MISSING` query's row says (a dict or a tuple row)."""
    missing = (row.get("missing") if isinstance(row, dict) else row[0] if row else None) or []
    if not missing:
        return None  # created since the read
    return f"missing {', '.join(missing)}; run `mediaml db upgrade`"


def _unanswered(exc: BaseException) -> dict[str, str | None]:
    return {
        "database": f"does not answer: {_first_line(exc)}",
        "job_tables": "not checked: the database does not answer",
    }


class LoopHealth:
    """Whether the database, the job tables and the object store answer, asked from a
    server's event loop, with no hand-off to a thread when the object store is local.

    The database is asked through one connection of its own, an asynchronous psycopg
    connection used on the running loop: the query is sent and its answer read by the
    loop, between its other callbacks. Handing the check to a worker thread and its
    answer back took two thread wake-ups, each waiting for a CPU and then for the GIL;
    while pages are built on a 2-core machine those waits were most of a slow
    ``/healthz`` (see ``docs/explore-at-scale.md``). A local store's check (a directory
    listing) runs on the loop too; a remote store's, a network request, in a thread,
    while the database answers.

    The job tables are read in one round trip when all is well: the timeout and a read
    of every table go in one simple-protocol message, in autocommit (no BEGIN and COMMIT
    round trips); only when a read fails are the missing tables looked for.

    The object cache's usage (for operators only) walks the cache directory, which can
    hold many files: it is counted in a thread, at most every :data:`USAGE_SECONDS`, and
    a request is answered with the latest count (the first one waits for it).
    """

    USAGE_SECONDS = 10.0

    def __init__(self) -> None:
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._url: str | None = None
        self._lock: asyncio.Lock | None = None
        self._usage: dict[int, tuple[float, str]] = {}  # id(store) -> (when, line)
        self._recount: asyncio.Future[None] | None = None

    async def check(
        self, db: Database | None = None, store: ObjectStore | None = None, *, details: bool = False
    ) -> Health:
        """Ask the database, the job tables and the object store (never raises)."""
        problem: str | None = None
        remote: asyncio.Future[str | None] | None = None
        try:
            store = store or get_store()
        except Exception as exc:  # the store cannot even be built: report it
            store, problem = None, _first_line(exc)
        if store is not None and not isinstance(store, LocalStore):
            remote = asyncio.ensure_future(asyncio.to_thread(_store_problem, store))
        try:
            url = (db or get_db()).url
            checks = await asyncio.wait_for(self._database(url), TIMEOUT_SECONDS + 1)
        except Exception as exc:  # psycopg, timeouts, OS errors: report, never crash
            self.close()
            checks = _unanswered(exc)
        if remote is not None:
            problem = await remote
        elif store is not None:
            problem = _store_problem(store)
        checks["object_store"] = problem
        info = {}
        if details and store is not None and problem is None:
            try:
                info["object_cache"] = await self._usage_line(store)
            except Exception as exc:  # the cache directory cannot be read: report it
                checks["object_store"] = _first_line(exc)
        return Health(checks, info)

    async def _database(self, url: str) -> dict[str, str | None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._url != url:
            self.close()  # another loop (tests) or another database
            self._loop, self._url, self._lock = loop, url, asyncio.Lock()
        assert self._lock is not None
        async with self._lock:  # one query at a time on the connection
            reused = self._conn is not None and not self._conn.closed
            try:
                return await self._ask(url)
            except psycopg.OperationalError:
                self.close()
                if not reused:
                    raise
            # The connection broke since the last check (a database restart, an idle
            # timeout): a new one gets one more try.
            return await self._ask(url)

    async def _ask(self, url: str) -> dict[str, str | None]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=TIMEOUT_SECONDS
            )
        return {"database": None, "job_tables": await self._job_tables(self._conn)}

    @staticmethod
    async def _job_tables(conn: psycopg.AsyncConnection[Any]) -> str | None:
        """None when every job table exists and can be read, else what is wrong."""
        try:
            await conn.execute(_PROBE_ALL)
            return None
        except psycopg.errors.UndefinedTable:
            pass
        except psycopg.errors.QueryCanceled as exc:  # a job table locked meanwhile
            return _unreadable(exc)
        cursor = await conn.execute(_MISSING, (list(JOB_TABLES),))
        return _missing(await cursor.fetchone())

    async def _usage_line(self, store: ObjectStore) -> str:
        usage = self._usage.get(id(store))
        if usage is None:
            line = await asyncio.to_thread(_usage_line, store)
            self._usage[id(store)] = (time.monotonic(), line)
            return line
        if time.monotonic() - usage[0] > self.USAGE_SECONDS and self._recount is None:
            self._recount = asyncio.ensure_future(self._count_again(store))
        return usage[1]

    async def _count_again(self, store: ObjectStore) -> None:
        try:
            line = await asyncio.to_thread(_usage_line, store)
            self._usage[id(store)] = (time.monotonic(), line)
        finally:
            self._recount = None

    def close(self) -> None:
        """Close the connection (the next check opens a new one); from any thread."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()  # no await: the connection's loop may be gone


def _usage_line(store: ObjectStore) -> str:
    return store.cache.usage().line()


def _store_problem(store: ObjectStore) -> str | None:
    try:
        store.check()
    except Exception as exc:  # each backend fails in its own way; the probe reports it
        return _first_line(exc)
    return None
