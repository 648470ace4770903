"""Health of the services a process depends on: database, job tables, object store.

The web role answers ``/healthz`` from :func:`check_health`; a load balancer only needs
the status code, an operator who is logged in also sees which check failed and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from mediaml.db.database import Database, get_db
from mediaml.storage import get_store
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


def _check_job_tables(conn: Any) -> str | None:
    """None when every job table exists and can be read, else what is wrong.

    One round trip when all is well: the timeout and a read of every table go in one
    message, outside an explicit transaction (no BEGIN and COMMIT round trips). Each
    round trip waits for the database backend and then for this process's GIL; while
    pages are built both are contended, and the four round trips this took before
    (begin, two queries, commit) made ``/healthz`` several times slower. Only when a
    read fails are the missing tables looked for, in a second one.
    """
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        try:
            conn.execute(_PROBE_ALL)
            return None
        except psycopg.errors.UndefinedTable:
            pass
        except psycopg.errors.QueryCanceled as exc:  # a job table locked meanwhile
            return f"not readable within {TIMEOUT_SECONDS} s: {_first_line(exc)}"
        row = conn.execute(_MISSING, (list(JOB_TABLES),)).fetchone()
        missing = (row or {}).get("missing") or []
        if not missing:
            return None  # created since the read
        return f"missing {', '.join(missing)}; run `mediaml db upgrade`"
    finally:
        conn.autocommit = autocommit


def check_health(
    db: Database | None = None, store: ObjectStore | None = None, *, details: bool = False
) -> Health:
    """Ask the database, the job tables and the object store whether they answer.

    With ``details``, also report this machine's object cache use (for operators).
    Never raises: each failure becomes the message of its check.
    """
    checks: dict[str, str | None] = {}
    try:
        database = db or get_db()
        with database.pool.connection(timeout=TIMEOUT_SECONDS) as conn:
            checks["database"] = None
            checks["job_tables"] = _check_job_tables(conn)
    except Exception as exc:  # psycopg, pool timeouts, OS errors: report, never crash
        checks["database"] = f"does not answer: {_first_line(exc)}"
        checks.setdefault("job_tables", "not checked: the database does not answer")
    info: dict[str, str] = {}
    try:
        store = store or get_store()
        store.check()
        checks["object_store"] = None
        if details:
            info["object_cache"] = store.cache.usage().line()
    except Exception as exc:  # each backend fails in its own way; the probe reports it
        checks["object_store"] = _first_line(exc)
    return Health(checks, info)
