"""How commands print: tables for people, JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

import click
import pandas as pd


def emit(data: Any, as_json: bool) -> None:
    """Print ``data`` (a DataFrame, dict or list) as JSON or as a readable table."""
    if as_json:
        if isinstance(data, pd.DataFrame):
            data = json.loads(data.to_json(orient="records", date_format="iso"))
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if isinstance(data, pd.DataFrame):
        click.echo("(no rows)" if data.empty else data.to_string(index=False))
    elif isinstance(data, dict):
        for key, value in data.items():
            click.echo(f"{key}: {value}")
    else:
        click.echo(str(data))
