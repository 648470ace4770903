"""``mediaml worker``: long-running processes."""

from __future__ import annotations

import sys

import click

from mediaml.cli import friendly_errors


@click.command()
@click.option("--queues", help="Comma-separated queues (default: MEDIAML_QUEUES, else default).")
@click.option(
    "--scheduler/--no-scheduler",
    default=None,
    help="Schedule periodic jobs here (default: MEDIAML_SCHEDULER rules).",
)
@friendly_errors
def worker(queues: str | None, scheduler: bool | None) -> None:
    """Consume job queues until SIGTERM/SIGINT (then finish or release running work).

    \b
    Examples:
      mediaml worker                                    # default queue + scheduler
      MEDIAML_QUEUES=media_processing,background_jobs,temp_clips,maintenance \\
        MEDIAML_SCHEDULER=false mediaml worker          # a worker-only node
    """
    import logging
    import os

    from mediaml.config import load_settings
    from mediaml.jobs.worker import run_worker

    env = dict(os.environ)
    if queues is not None:
        env["MEDIAML_QUEUES"] = queues
    if scheduler is not None:
        env["MEDIAML_SCHEDULER"] = "true" if scheduler else "false"
    settings = load_settings(env)
    logging.getLogger().setLevel(settings.log_level)
    sys.exit(run_worker(settings))
