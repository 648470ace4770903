"""``mediaml export | import``: Parquet round trips of the catalogue."""

from __future__ import annotations

import click

from mediaml.cli import friendly_errors
from mediaml.cli.output import emit


@click.command("export")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in PATH.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly_errors
def export(path: str, overwrite: bool, as_json: bool) -> None:
    """Write videos, cuts, clips, artifacts, embeddings and the review audit to PATH/*.parquet.

    \b
    PATH must be new or empty unless --overwrite is given.

    \b
    Example:
      mediaml export backups/2026-11-29
    """
    import mediaml

    emit(mediaml.export_parquet(path, overwrite=overwrite), as_json)


@click.command("import")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@friendly_errors
def import_(path: str, as_json: bool) -> None:
    """Load an export (from ``mediaml export``) into an empty database.

    \b
    Example:
      DATABASE_URL=postgresql://new-host/mediaml mediaml import backups/2026-11-29
    """
    import mediaml

    emit(mediaml.import_parquet(path), as_json)
