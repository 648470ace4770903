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
@click.option("-v", "--verbose", is_flag=True, help="Log more (INFO from mediaml).")
def cli(verbose: bool) -> None:
    """mediaml: turn raw video into reviewed, searchable clips.

    \b
    Examples:
      mediaml db upgrade          apply database migrations
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    from mediaml.cli import db

    cli.add_command(db.db)


_register()


def main() -> None:
    """Console-script entry point."""
    cli()
