"""``mediaml worker``: long-running processes."""

from __future__ import annotations

import sys

import click

from mediaml.cli import friendly_errors


@click.command()
@click.option(
    "--queues",
    help="Comma-separated queues (default: MEDIAML_QUEUES; unset in development: every queue).",
)
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
      mediaml worker                                    # every queue + scheduler (dev)
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


@click.command()
@click.option("--no-serve", is_flag=True, help="Stop after the pipeline; do not serve.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: PORT, else 5006).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@friendly_errors
def demo(no_serve: bool, port: int | None, host: str) -> None:
    """Run sample videos through the whole pipeline, then serve the dashboard.

    Generates a few multi-shot videos with sound, ingests them (labelled as demo data),
    encodes, detects shots, approves the demo clips, exports, keyframes and embeds them
    (CLIP when its model files are available, the offline descriptor backend otherwise),
    prints a summary and serves the dashboard. MEDIAML_DATA_DIR decides where it all lives.

    \b
    Examples:
      mediaml demo
      MEDIAML_DATA_DIR=/tmp/mm mediaml demo --no-serve
    """
    from mediaml.config import get_settings
    from mediaml.demo import run_demo

    ctx = click.get_current_context()
    serve = ctx.find_root().command.get_command(ctx, "serve")  # type: ignore[attr-defined]
    if serve is None and not no_serve:
        raise click.UsageError(
            "the dashboard is not installed (no `mediaml serve`); reinstall mediaml, or "
            "pass --no-serve"
        )
    run_demo(echo=click.echo)
    if no_serve:
        return
    port = port or get_settings().port
    click.echo(f"\ndashboard: http://{host}:{port}/review  (explore: /explore, status: /status)")
    click.echo("press Ctrl+C to stop")
    ctx.invoke(serve, port=port, host=host)
