"""Worker process: ``python -m runners.worker`` (same as ``mediaml worker``).

Reads ``MEDIAML_QUEUES`` and ``MEDIAML_SCHEDULER``; an unknown queue name or a bad value
stops the boot with one line that lists the allowed names.
"""

from __future__ import annotations

import logging
import sys

from mediaml.config import load_settings
from mediaml.errors import MediamlError


def main() -> int:
    """Boot checks, then consume until SIGTERM/SIGINT."""
    try:
        settings = load_settings()
    except MediamlError as exc:
        print(f"worker boot failed: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("huey").setLevel(
        max(logging.WARNING, logging.getLevelName(settings.log_level))
    )
    from mediaml.jobs.worker import run_worker

    try:
        return run_worker(settings)
    except MediamlError as exc:
        print(f"worker boot failed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
