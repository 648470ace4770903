"""Writing files so that nothing half-written ever carries its final name.

Every writer in mediaml (downloads, object-store copies, FFmpeg outputs) goes through
:func:`atomic_path`: it yields a temporary path beside the target, renames it over the
target only when the block succeeds, and removes it otherwise. Readers that see a file
under its final name can trust it is complete.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    The temporary name keeps the suffix (FFmpeg picks its muxer from it) and is hidden
    (leading dot). The parent directory is created. If the block raises, or leaves no file
    behind, the temporary file is removed and ``path`` is left untouched.

    Raises:
        FileNotFoundError: the block succeeded but wrote nothing at the temporary path.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.stem}.partial-{uuid.uuid4().hex[:12]}{final.suffix}")
    try:
        yield temp
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
