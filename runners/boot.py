"""What every process entry point does first: read settings, set up logs, run, and turn
a boot problem into one line on stderr and exit status 2."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from mediaml.config import Settings, load_settings
from mediaml.errors import MediamlError

EXIT_BOOT_FAILED = 2


def boot(role: str, run: Callable[[Settings], int]) -> int:
    """Load and validate settings, configure logging, then ``run(settings)``.

    Returns:
        ``run``'s exit status, or 2 when the settings or the boot are not usable.
    """
    try:
        settings = load_settings()
    except MediamlError as exc:
        print(f"{role} boot failed: {exc}", file=sys.stderr)
        return EXIT_BOOT_FAILED
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Huey logs every task at INFO; mediaml's own lines say what matters.
    logging.getLogger("huey").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return run(settings)
    except MediamlError as exc:
        print(f"{role} boot failed: {exc}", file=sys.stderr)
        return EXIT_BOOT_FAILED
