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
    """Turn :class:`MediamlError` into ``Error: <message>`` and exit status 1, and so a
    database that stops answering in the middle of a command (stopped, restarted, the
    network gone): what is committed stays, and the next run takes up the rest."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import psycopg

        try:
            return func(*args, **kwargs)
        except MediamlError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except psycopg.OperationalError as exc:
            from mediaml.db.database import lost_database

            click.echo(f"Error: {lost_database(exc)}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


COMMAND_GROUP = "mediaml.commands"
"""Entry-point group of commands contributed from outside the library (``mediaml serve``
comes from the ``runners`` package this way, so the library never imports it)."""


class _Commands(click.Group):
    """The built-in commands plus those registered under :data:`COMMAND_GROUP`, which are
    imported only when used (``mediaml --help`` lists them without loading them)."""

    def _plugins(self) -> dict[str, Any]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in (plugins := self._plugins()):
            command = plugins[name].load()
        return command


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
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
    from mediaml.cli import data, db, pipeline, reel, runtime, search

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
    ):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli()
