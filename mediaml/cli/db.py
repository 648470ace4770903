"""``mediaml db``: database maintenance."""

from __future__ import annotations

import click

from mediaml.cli import friendly_errors


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@friendly_errors
def upgrade() -> None:
    """Apply pending migrations (safe to run twice, or from two processes at once).

    \b
    Example:
      DATABASE_URL=postgresql://... mediaml db upgrade
    """
    from mediaml.config import get_settings
    from mediaml.db.database import resolve_url
    from mediaml.db.migrate import schema_version
    from mediaml.db.migrate import upgrade as run_upgrade

    url, source = resolve_url(get_settings())
    applied = run_upgrade(url, source)
    version = schema_version(url)
    if applied:
        click.echo(
            f"applied migrations {', '.join(f'{v:04d}' for v in applied)} to {source}; schema at {version}"
        )
    else:
        click.echo(f"database ({source}) is up to date at schema version {version}")
