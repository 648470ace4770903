"""Container health check: ``python -m runners.healthcheck`` (the Dockerfile's HEALTHCHECK).

The role is read from the container's main process: the web role must answer
``/healthz`` with 200; a worker must reach the database and its job tables.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def role() -> str:
    """``web`` or ``worker``, from PID 1's command line (or the first argument)."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    try:
        cmdline = Path("/proc/1/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        cmdline = ""
    return "worker" if "runners.worker" in cmdline or "mediaml worker" in cmdline else "web"


def check_web() -> str | None:
    port = os.environ.get("PORT", "10000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=8) as resp:
            return None if resp.status == 200 else f"/healthz answered {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"/healthz answered {exc.code}"
    except OSError as exc:
        return f"/healthz unreachable: {exc}"


def check_worker() -> str | None:
    import psycopg

    from mediaml.config import load_settings
    from mediaml.db.database import resolve_url

    try:
        url, _ = resolve_url(load_settings())
        with psycopg.connect(url, connect_timeout=8) as conn:
            conn.execute("SELECT count(*) FROM huey_task")
    except Exception as exc:  # any failure means unhealthy; say which
        return f"database/job tables unreachable: {exc}"
    return None


def main() -> int:
    problem = check_worker() if role() == "worker" else check_web()
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
