"""Export the catalogue to Parquet and import it into an empty database, losslessly.

One Parquet file per table (videos, cuts, clips, artifacts, embeddings, review audit) in
a directory. Ids are kept, so references between tables survive; vectors are stored as
``fixed_size_list<float32>[dim]`` exactly as PostgreSQL holds them (pgvector stores
float32); a catalogue holding models of several dimensions gets a ``list<float32>``
column instead.

Both directions stream in record batches of :data:`BATCH_ROWS` rows (a server-side
cursor into Arrow batches on export, Arrow batches into a binary ``COPY`` on import), so
memory stays flat however large the catalogue is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from mediaml.db import Database, get_db
from mediaml.embed.store import ensure_index
from mediaml.embed.video_vectors import refresh_video_vectors
from mediaml.errors import MediamlError

# Parent tables first, so an import never meets a dangling reference.
TABLES = ("source_videos", "cuts", "clips", "clip_artifacts", "embeddings", "review_actions")
BATCH_ROWS = 5_000

# PostgreSQL column type -> Arrow type; other types travel as their text form, which
# PostgreSQL parses back to the same value on import.
ARROW_TYPES: dict[str, pa.DataType] = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp": pa.timestamp("us"),
    "jsonb": pa.string(),
    "json": pa.string(),
}


def _columns(conn: Any, table: str) -> list[tuple[str, str]]:
    """(name, udt type) of the stored, non-generated columns of ``table``."""
    rows = conn.execute(
        "SELECT column_name, udt_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s AND is_generated = 'NEVER'"
        " ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [(r["column_name"], r["udt_name"]) for r in rows]


def _vector_type(conn: Any, table: str, column: str) -> pa.DataType:
    """A fixed-size list when every stored vector has one dimension, else a list."""
    dims = conn.execute(
        sql.SQL("SELECT DISTINCT vector_dims({}) AS d FROM {} LIMIT 2").format(
            sql.Identifier(column), sql.Identifier(table)
        )
    ).fetchall()
    if len(dims) == 1:
        return pa.list_(pa.float32(), int(dims[0]["d"]))
    return pa.list_(pa.float32())


def _schema(conn: Any, table: str, cols: list[tuple[str, str]]) -> pa.Schema:
    fields = []
    for name, udt in cols:
        kind = _vector_type(conn, table, name) if udt == "vector" else ARROW_TYPES.get(udt)
        fields.append(pa.field(name, kind or pa.string()))
    return pa.schema(fields)


def _arrow_column(values: list[Any], udt: str, kind: pa.DataType) -> pa.Array:
    if udt == "vector":
        vectors = [
            np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, np.float32) for v in values
        ]
        flat = pa.array(np.concatenate(vectors) if vectors else np.zeros(0, np.float32))
        if pa.types.is_fixed_size_list(kind):
            return pa.FixedSizeListArray.from_arrays(flat, kind.list_size)
        offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), flat)
    if udt in ("jsonb", "json"):
        values = [None if v is None else json.dumps(v, sort_keys=True) for v in values]
    elif udt not in ARROW_TYPES:
        values = [None if v is None else str(v) for v in values]
    return pa.array(values, type=kind)


def export_parquet(
    path: str | Path, *, overwrite: bool = False, db: Database | None = None
) -> dict[str, int]:
    """Write every table to ``path/<table>.parquet``, streaming ``BATCH_ROWS`` rows at a time.

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
            schema = _schema(conn, table, cols)
            query = sql.SQL("SELECT {} FROM {} ORDER BY id").format(
                sql.SQL(", ").join(sql.Identifier(n) for n, _ in cols), sql.Identifier(table)
            )
            counts[table] = 0
            with (
                pq.ParquetWriter(out / f"{table}.parquet", schema) as writer,
                conn.cursor(name=f"mediaml_export_{table}", binary=True) as cur,
            ):
                cur.itersize = BATCH_ROWS
                cur.execute(query)
                while rows := cur.fetchmany(BATCH_ROWS):
                    arrays = [
                        _arrow_column([r[name] for r in rows], udt, field.type)
                        for (name, udt), field in zip(cols, schema, strict=True)
                    ]
                    writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                    counts[table] += len(rows)
    return counts


def _copy_values(column: pa.Array, udt: str) -> Sequence[Any]:
    """One Arrow column as the Python values a binary ``COPY`` of ``udt`` takes."""
    if udt == "vector":
        flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        if pa.types.is_fixed_size_list(column.type):
            return list(flat.reshape(-1, column.type.list_size))
        offsets = column.offsets.to_numpy()
        return [flat[a:b] for a, b in pairwise(offsets - offsets[0])]
    values = column.to_pylist()
    if udt in ("jsonb", "json"):
        return [None if v is None else json.loads(v) for v in values]
    return values


def _batches(src: Path, table: str, names: list[str]) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(src / f"{table}.parquet").iter_batches(
        batch_size=BATCH_ROWS, columns=names
    )


def import_parquet(path: str | Path, *, db: Database | None = None) -> dict[str, int]:
    """Load a directory written by :func:`export_parquet` into an empty database, streaming
    ``BATCH_ROWS`` rows at a time into a binary ``COPY``.

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
            stored = pq.read_schema(src / f"{table}.parquet").names
            names = [n for n in stored if n in cols]
            # COPY writes identity columns as given (like INSERT ... OVERRIDING SYSTEM VALUE).
            query = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names))
            )
            counts[table] = 0
            with conn.cursor().copy(query) as copy:
                copy.set_types(
                    [
                        cols[n] if cols[n] in ARROW_TYPES or cols[n] == "vector" else "text"
                        for n in names
                    ]
                )
                for batch in _batches(src, table, names):
                    columns = [_copy_values(batch.column(i), cols[n]) for i, n in enumerate(names)]
                    for values in zip(*columns, strict=True):
                        copy.write_row(values)
                    counts[table] += batch.num_rows
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({t}, 'id'),"
                    " COALESCE((SELECT max(id) FROM {i}), 0) + 1, false)"
                ).format(t=sql.Literal(table), i=sql.Identifier(table))
            )
        conn.execute("ALTER TABLE review_actions ENABLE TRIGGER review_actions_append_only")
        # What search needs that an export does not carry: the videos' mean vectors and
        # each variant's indexes (an HNSW build: minutes per 100,000 512-dim clips).
        refresh_video_vectors(conn)
        for variant in conn.execute(
            "SELECT DISTINCT model_name, generation_strategy, dim FROM embeddings"
        ).fetchall():
            ensure_index(
                conn, variant["model_name"], variant["generation_strategy"], variant["dim"]
            )
    return counts
