"""``python -m mediaml``: the same as the ``mediaml`` command."""

from mediaml.cli import main

main()
