"""PostgreSQL access: connection, migrations and small functions per table."""

from mediaml.db.database import Connection, Database, connect, get_db, redact, set_db

__all__ = ["Connection", "Database", "connect", "get_db", "redact", "set_db"]
