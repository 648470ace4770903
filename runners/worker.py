"""Worker process: ``python -m runners.worker`` (same as ``mediaml worker``).

Reads ``MEDIAML_QUEUES`` and ``MEDIAML_SCHEDULER``; an unknown queue name or a bad value
stops the boot with one line that lists the allowed names.
"""

from __future__ import annotations

import sys

from runners.boot import boot


def main() -> int:
    """Boot checks, then consume until SIGTERM/SIGINT."""
    from mediaml.jobs.worker import run_worker

    return boot("worker", run_worker)


if __name__ == "__main__":
    sys.exit(main())
