"""Versioned SQL migrations, applied in order under an advisory lock.

Migrations are the files ``mediaml/db/migrations/NNNN_name.sql``. Each is applied in its
own transaction and recorded in ``schema_migrations``. Two processes upgrading at once
serialise on an advisory lock, so each migration runs exactly once. A database that has
a migration this code does not know was upgraded by a newer mediaml and is refused, and so
is a database whose applied migration differs from the file of the same version (someone
edited a migration after it shipped: a new migration is the way to change a schema).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from mediaml.db.database import check_reachable
from mediaml.errors import DatabaseError, SchemaTooNewError

log = logging.getLogger(__name__)

# pg_advisory_lock key: "mediaml" migrations.
LOCK_KEY = 0x6D65_6469_616D_6C00 - 2**63
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One SQL migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """Every migration shipped with this mediaml, ordered by version."""
    found = []
    for entry in resources.files("mediaml.db").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise DatabaseError(f"migration files are not numbered 0001.. without gaps: {versions}")
    return found


def applied_versions(conn: psycopg.Connection) -> list[int]:
    """Versions recorded in ``schema_migrations`` (empty when the table does not exist)."""
    return list(_applied(conn))


def _applied(conn: psycopg.Connection) -> dict[int, str]:
    """Applied version -> the checksum recorded when it was applied."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT version, checksum FROM schema_migrations ORDER BY version")
    return {version: checksum for version, checksum in rows.fetchall()}


# Deliberate edits of a shipped migration whose effect a later migration also applies to
# databases that ran the old text: version -> checksums of the earlier texts still accepted.
# 0001 lost its btree_gist dependency (0005 moves existing databases to the same rule).
SUPERSEDED: dict[int, frozenset[str]] = {
    1: frozenset({"1000e5f27c320c242aced017c29ed904517d0747c68d765bdcea8ece12fa771f"}),
}


def check_unchanged(migrations: list[Migration], applied: dict[int, str]) -> None:
    """Refuse a database whose applied migrations differ from the shipped files.

    A checksum listed in :data:`SUPERSEDED` for its version is accepted too.

    Raises:
        DatabaseError: names each edited migration and what to do instead.
    """
    edited = [
        f"{m.version:04d}_{m.name}"
        for m in migrations
        if m.version in applied
        and applied[m.version] != m.checksum
        and applied[m.version] not in SUPERSEDED.get(m.version, frozenset())
    ]
    if edited:
        raise DatabaseError(
            f"migration(s) {', '.join(edited)} changed after they were applied to this "
            "database (checksum differs); restore the original file(s) and put the change "
            "in a new migration"
        )


def upgrade(url: str, source: str = "DATABASE_URL") -> list[int]:
    """Apply every pending migration to the database at ``url``.

    Returns:
        The versions applied by this call (empty when already up to date).

    Raises:
        SchemaTooNewError: the database has migrations newer than this code.
        DatabaseError: a migration failed; it was rolled back and the message says which.
    """
    migrations = load_migrations()
    applied_now: list[int] = []
    check_reachable(url, source)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    integer PRIMARY KEY,
                       name       text NOT NULL,
                       checksum   text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            applied = _applied(conn)
            done = set(applied)
            newest_known = migrations[-1].version if migrations else 0
            if done and max(done) > newest_known:
                raise SchemaTooNewError(
                    f"the database is at schema version {max(done)} but this mediaml only "
                    f"knows up to {newest_known}; upgrade mediaml before using this database"
                )
            check_unchanged(migrations, applied)
            for m in migrations:
                if m.version in done:
                    continue
                try:
                    with conn.transaction():
                        conn.execute(m.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) "
                            "VALUES (%s, %s, %s)",
                            (m.version, m.name, m.checksum),
                        )
                except psycopg.Error as exc:
                    raise DatabaseError(
                        f"migration {m.version:04d}_{m.name} failed and was rolled back: "
                        f"{str(exc).strip()}"
                    ) from exc
                log.info("applied migration %04d_%s", m.version, m.name)
                applied_now.append(m.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now


def schema_version(url: str) -> int:
    """The newest migration applied to the database at ``url`` (0 when none)."""
    with psycopg.connect(url, autocommit=True) as conn:
        versions = applied_versions(conn)
    return max(versions, default=0)
