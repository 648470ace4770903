"""Health of the services a process depends on: database, job tables, object store.

The web role answers ``/healthz`` from :func:`check_health`; a load balancer only needs
the status code, an operator who is logged in also sees which check failed and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
        # Two round trips: a busy database answers each one late, and /healthz waits.
        with database.pool.connection(timeout=TIMEOUT_SECONDS) as conn:
            row = conn.execute(
                "SELECT set_config('statement_timeout', %s, true),"
                " (SELECT array_agg(t) FROM unnest(%s::text[]) AS t"
                "  WHERE to_regclass(t) IS NULL) AS missing",
                (f"{TIMEOUT_SECONDS}s", list(JOB_TABLES)),
            ).fetchone()
            checks["database"] = None
            missing = (row or {}).get("missing") or []
            if missing:
                checks["job_tables"] = f"missing {', '.join(missing)}; run `mediaml db upgrade`"
            else:
                probes = ", ".join(f"EXISTS (SELECT 1 FROM {table})" for table in JOB_TABLES)
                conn.execute(f"SELECT {probes}")
                checks["job_tables"] = None
    except Exception as exc:  # psycopg, pool timeouts, OS errors: report, never crash
        checks.setdefault("database", f"does not answer: {_first_line(exc)}")
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
