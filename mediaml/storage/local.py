"""Local directory backend: the default when no bucket is configured."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote

from fsspec.implementations.local import LocalFileSystem

from mediaml.errors import StorageError
from mediaml.files import atomic_path
from mediaml.storage.store import ObjectStore

MEDIA_ROUTE = "/media/"


class LocalStore(ObjectStore):
    """Objects are files under ``root``; URLs point at the dashboard's media route."""

    name = "local"

    def __init__(self, root: Path, cache_dir: Path) -> None:
        root = Path(root).expanduser().resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the media dir {root} ({exc.strerror}); "
                "set MEDIAML_DATA_DIR to a writable directory"
            ) from None
        super().__init__(LocalFileSystem(), str(root), cache_dir)

    def _put_file(self, source: Path, target: str) -> None:
        with atomic_path(target) as part:
            shutil.copyfile(source, part)

    def local_path(self, key: str) -> Path:
        """The stored file itself: a local store needs no cache copy."""
        path = Path(self.path(key))
        if not path.exists():
            raise StorageError(f"local store has no object {key!r}")
        return path

    def remember(self, local_path: str | os.PathLike[str], key: str, *, link: bool = True) -> None:
        """Nothing to do: :meth:`local_path` already returns the stored file."""

    def url(self, key: str, expires: int = 3600) -> str:
        """The dashboard's media route for ``key`` (served with HTTP Range support)."""
        self.path(key)
        return MEDIA_ROUTE + quote(key)
