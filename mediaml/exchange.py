"""Export the catalogue to Parquet and import it into an empty database, losslessly.

One Parquet file per table (videos, cuts, clips, artifacts, embeddings, review audit) in
a directory. Ids are kept, so references between tables survive; vectors are stored as
``list<float32>`` exactly as PostgreSQL holds them (pgvector stores float32).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql
from psycopg.types.json import Jsonb

from mediaml.db import Database, get_db
from mediaml.errors import MediamlError

# Parent tables first, so an import never meets a dangling reference.
TABLES = ("source_videos", "cuts", "clips", "clip_artifacts", "embeddings", "review_actions")


def _columns(conn: Any, table: str) -> list[tuple[str, str]]:
    """(name, udt type) of the stored, non-generated columns of ``table``."""
    rows = conn.execute(
        "SELECT column_name, udt_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s AND is_generated = 'NEVER'"
        " ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [(r["column_name"], r["udt_name"]) for r in rows]


def _to_arrow_value(value: Any, udt: str) -> Any:
    if value is None:
        return None
    if udt == "vector":
        return np.asarray(value.to_numpy(), dtype=np.float32).tolist()
    if udt in ("jsonb", "json"):
        return json.dumps(value, sort_keys=True)
    return value


def export_parquet(
    path: str | Path, *, overwrite: bool = False, db: Database | None = None
) -> dict[str, int]:
    """Write every table to ``path/<table>.parquet``.

    Args:
        path: a new or empty folder.
        overwrite: replace the files of an earlier export in ``path``.

    Returns:
        Rows written per table.

    Raises:
        MediamlError: ``path`` cannot be created or written, or it is not empty and
            ``overwrite`` is false.

    Example:
        >>> mediaml.export_parquet("backup/")
    """
    db = db or get_db()
    out = Path(path).expanduser()
    if not overwrite and out.is_dir() and any(out.iterdir()):
        held = sorted(p.name for p in out.iterdir())
        shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        raise MediamlError(
            f"{out} is not empty ({shown}); choose a new folder, or pass overwrite=True "
            "(mediaml export --overwrite) to replace an earlier export there"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise MediamlError(f"cannot write to {out}: {exc.strerror or exc}") from None
    counts = {}
    with db.transaction() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one consistent snapshot
        for table in TABLES:
            cols = _columns(conn, table)
            names = [c for c, _ in cols]
            rows = conn.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY id").format(
                    sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(table)
                )
            ).fetchall()
            data = {name: [_to_arrow_value(r[name], udt) for r in rows] for name, udt in cols}
            fields = [
                pa.field(name, pa.list_(pa.float32())) if udt == "vector" else None
                for name, udt in cols
            ]
            arrays = [
                pa.array(data[name], type=f.type if f else None)
                for (name, _), f in zip(cols, fields, strict=True)
            ]
            pq.write_table(pa.Table.from_arrays(arrays, names=names), out / f"{table}.parquet")
            counts[table] = len(rows)
    return counts


def import_parquet(path: str | Path, *, db: Database | None = None) -> dict[str, int]:
    """Load a directory written by :func:`export_parquet` into an empty database.

    Returns:
        Rows loaded per table.

    Raises:
        MediamlError: the directory lacks a table file, or the database already has videos.
    """
    db = db or get_db()
    src = Path(path).expanduser()
    missing = [t for t in TABLES if not (src / f"{t}.parquet").is_file()]
    if missing:
        raise MediamlError(f"{src} is not a mediaml export: missing {', '.join(missing)}.parquet")
    counts = {}
    with db.transaction() as conn:
        row = conn.execute("SELECT count(*) AS n FROM source_videos").fetchone()
        existing = row["n"] if row else 0
        if existing:
            raise MediamlError(
                f"import_parquet needs an empty database; this one has {existing} videos"
            )
        conn.execute("ALTER TABLE review_actions DISABLE TRIGGER review_actions_append_only")
        for table in TABLES:
            cols = dict(_columns(conn, table))
            rows = pq.read_table(src / f"{table}.parquet").to_pylist()
            names = [n for n in (rows[0] if rows else {}) if n in cols]
            if rows:
                query = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, names)),
                    sql.SQL(", ").join(
                        sql.SQL("{}::vector").format(sql.Placeholder())
                        if cols[n] == "vector"
                        else sql.Placeholder()
                        for n in names
                    ),
                )
                with conn.cursor() as cur:
                    cur.executemany(
                        query, [[_from_arrow_value(r[n], cols[n]) for n in names] for r in rows]
                    )
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({t}, 'id'),"
                    " COALESCE((SELECT max(id) FROM {i}), 0) + 1, false)"
                ).format(t=sql.Literal(table), i=sql.Identifier(table))
            )
            counts[table] = len(rows)
        conn.execute("ALTER TABLE review_actions ENABLE TRIGGER review_actions_append_only")
    return counts


def _from_arrow_value(value: Any, udt: str) -> Any:
    if value is None:
        return None
    if udt == "vector":
        return "[" + ",".join(repr(float(np.float32(x))) for x in value) + "]"
    if udt in ("jsonb", "json"):
        return Jsonb(json.loads(value))
    return value
