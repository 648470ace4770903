"""The exceptions mediaml raises on purpose.

Every message says what is wrong and what to do about it, in one line where possible,
so the CLI, the dashboard and worker logs can show it as is.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class MediamlError(Exception):
    """Base class for every error mediaml raises deliberately."""


class ConfigError(MediamlError):
    """A setting is missing or has a value that cannot be used."""


class DatabaseError(MediamlError):
    """The database cannot be reached, created or migrated."""


class SchemaTooNewError(DatabaseError):
    """The database was migrated by a newer mediaml than this one."""


class StorageError(MediamlError):
    """The object store refused an operation or is misconfigured."""


class IllegalTransitionError(MediamlError):
    """A state change that the state machine does not allow."""


class NotFoundError(MediamlError):
    """A video, clip or other record does not exist."""


class InvalidCutError(MediamlError):
    """A cut operation would break the tiling of a video into clips."""


class MediaError(MediamlError):
    """A media file is missing, corrupt or of a kind mediaml cannot handle."""


class IngestWarning(UserWarning):
    """Some of the sources given to ``ingest`` could not be registered (the others were)."""


class ModelError(MediamlError):
    """An embedding model is missing, unknown or cannot do what was asked."""


class QueryError(MediamlError):
    """A search was asked for with arguments it cannot run with (empty text, bad page)."""


class ReviewError(MediamlError):
    """A review action was asked for with unusable input (unknown action, no reviewer)."""


class ReviewConflictError(ReviewError):
    """Someone else got to the clip first: it was reviewed, changed or is held by another
    reviewer. Nothing was written; load the next clip and carry on.

    ``reason`` is what happened, without what the dashboard does next (its message adds
    "here is the next clip"); a notebook says what to do there instead."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


def required(value: T | None, what: str) -> T:
    """``value``, which the code around it guarantees is there; a clear error if not.

    Used instead of ``assert`` for narrowing, which ``python -O`` strips: a broken
    guarantee then fails here, naming what was missing, not three calls later.

    Raises:
        RuntimeError: ``value`` is None (a bug in mediaml, not a user error).
    """
    if value is None:
        raise RuntimeError(f"mediaml bug: {what} is missing; please report it")
    return value
