"""The ``mediaml`` command line. Commands parse options and call the library; nothing
else happens here. Errors that mediaml raises on purpose become one-line messages and a
non-zero exit code."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mediaml.errors import MediamlError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_PARTIAL = 3


def friendly_errors(func: F) -> F:
    """Turn :class:`MediamlError` into ``Error: <message>`` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MediamlError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mediaml", prog_name="mediaml")
@click.option("-v", "--verbose", is_flag=True, help="Log more (INFO from mediaml).")
def cli(verbose: bool) -> None:
    """mediaml: turn raw video into reviewed, searchable clips.

    \b
    Examples:
      mediaml demo                     sample videos through the whole pipeline, then the dashboard
      mediaml ingest ~/footage/        register videos
      mediaml run --until review       encode, detect shots, create clips for review
      mediaml serve --port 5006        the review / explore / status dashboard
      mediaml status --json            counts per state
      mediaml search 42                clips similar to clip 42
      mediaml worker                   consume every queue (or MEDIAML_QUEUES)
      mediaml db upgrade               apply database migrations
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    from mediaml.cli import data, db, pipeline, reel, runtime, search, serve

    for command in (
        pipeline.ingest,
        pipeline.run,
        pipeline.status,
        pipeline.retry,
        search.embed,
        search.search,
        data.export,
        data.import_,
        reel.reel,
        db.db,
        runtime.worker,
        runtime.demo,
        serve.serve,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli()
