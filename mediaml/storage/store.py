"""The object-store interface every stage uses: one API over fsspec filesystems.

Backends (one per module: ``local.py``, ``s3.py``) supply the filesystem, the root and
how to make a URL the browser can fetch. Everything else (atomic puts, the local cache,
key validation, operation counts) lives here once.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import fsspec

from mediaml.errors import StorageError
from mediaml.files import atomic_path
from mediaml.storage.cache import ObjectCache
from mediaml.storage.keys import validate_key, validate_prefix


class ObjectStore(ABC):
    """Put, get, open, exists, delete, list and url over one storage backend.

    Keys are validated by :func:`mediaml.storage.keys.validate_key`. ``stats`` counts the
    operations that moved data (``get``/``put``) and metadata calls, for benchmarks.
    """

    name: str = "abstract"

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        cache_dir: Path,
        cache: ObjectCache | None = None,
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.cache_dir = Path(cache_dir)
        self.cache = cache or ObjectCache(self.cache_dir / "objects")
        self.stats: Counter[str] = Counter()

    # -- paths ------------------------------------------------------------------

    def path(self, key: str) -> str:
        """The backend path of ``key``."""
        return f"{self.root}/{validate_key(key)}"

    def _err(self, op: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"{self.name} store could not {op} {key!r}: {exc}")

    # -- operations ---------------------------------------------------------------

    def put(self, local_path: str | os.PathLike[str], key: str) -> str:
        """Store a local file under ``key`` (replacing it atomically) and return the key."""
        target = self.path(key)
        self.stats["put"] += 1
        try:
            self._put_file(Path(local_path), target)
        except (OSError, ValueError) as exc:
            raise self._err("store", key, exc) from exc
        return key

    def put_bytes(self, data: bytes, key: str) -> str:
        """Store ``data`` under ``key`` and return the key."""
        with tempfile.NamedTemporaryFile(dir=self._tmp_dir(), delete=False) as tmp:
            tmp.write(data)
        try:
            return self.put(tmp.name, key)
        finally:
            os.unlink(tmp.name)

    def get(self, key: str, local_path: str | os.PathLike[str]) -> Path:
        """Copy ``key`` to ``local_path`` (written atomically) and return the path."""
        dest = Path(local_path)
        self.stats["get"] += 1
        try:
            with atomic_path(dest) as part:
                self.fs.get_file(self.path(key), str(part))
        except FileNotFoundError:
            raise StorageError(f"{self.name} store has no object {key!r}") from None
        except OSError as exc:
            raise self._err("fetch", key, exc) from exc
        return dest

    @contextmanager
    def open(self, key: str, mode: str = "rb") -> Iterator[IO[Any]]:
        """Open ``key`` for streaming reads (``rb``)."""
        if mode != "rb":
            raise ValueError("open() is for reading; use put() to write atomically")
        self.stats["get"] += 1
        try:
            f = self.fs.open(self.path(key), "rb")
        except FileNotFoundError:
            raise StorageError(f"{self.name} store has no object {key!r}") from None
        with f:
            yield f

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        self.stats["head"] += 1
        return bool(self.fs.exists(self.path(key)))

    def size(self, key: str) -> int:
        """Size of ``key`` in bytes."""
        self.stats["head"] += 1
        try:
            return int(self.fs.size(self.path(key)))
        except FileNotFoundError:
            raise StorageError(f"{self.name} store has no object {key!r}") from None

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when it is already gone)."""
        self.stats["delete"] += 1
        with suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))
        self.cache.discard(validate_key(key))

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (a key prefix such as ``"proxies/"``), sorted."""
        validate_prefix(prefix)
        self.stats["list"] += 1
        base = f"{self.root}/{prefix}"
        directory = base if base.endswith("/") else base.rsplit("/", 1)[0] + "/"
        try:
            found = self.fs.find(directory)
        except FileNotFoundError:
            return []
        keys = []
        root = self.fs._strip_protocol(self.root).rstrip("/") + "/"
        for p in found:
            k = self.fs._strip_protocol(p)[len(root) :]
            if k.startswith(prefix) and not k.rsplit("/", 1)[-1].startswith("."):
                keys.append(k)
        return sorted(keys)

    def local_path(self, key: str) -> Path:
        """A local file with the content of ``key``: the cache first, the store second.

        Stages on one worker call this instead of downloading the same object again.
        Use the file inside :meth:`pinned`, which keeps the cache from evicting it.
        """
        key = validate_key(key)
        cached = self.cache.lookup(key)
        if cached is not None:
            self.stats["cache_hit"] += 1
            return cached
        fetched = self.get(key, Path(self._tmp_dir()) / uuid.uuid4().hex)
        try:
            return self.cache.admit(fetched, key, move=True)
        finally:
            fetched.unlink(missing_ok=True)

    def remember(self, local_path: str | os.PathLike[str], key: str, *, link: bool = True) -> None:
        """Seed the local cache with a file just stored under ``key``.

        A file the caller made (a scratch encode) is hard-linked. Pass ``link=False`` for
        a file somebody else owns, such as a user's source video: a link shares its inode,
        so marking the cached copy as used would touch the user's file, and an edit to
        that file would change the cached copy. It is copied instead.
        """
        key = validate_key(key)
        if Path(local_path) == self.cache.path(key) or self.cache.path(key).exists():
            return
        self.cache.admit(Path(local_path), key, link=link)

    def pinned(self) -> AbstractContextManager[None]:
        """Keep every cached file this thread gets from :meth:`local_path` (or adds with
        :meth:`remember`) from being evicted until the block ends."""
        return self.cache.pinned()

    @abstractmethod
    def url(self, key: str, expires: int = 3600) -> str:
        """A URL from which a browser can fetch ``key`` (signed where needed)."""

    def check(self) -> None:
        """Raise :class:`StorageError` when the store cannot be reached."""
        try:
            self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            pass
        except Exception as exc:  # every backend has its own error types
            raise StorageError(
                f"{self.name} store at {self.root!r} does not answer: {exc}"
            ) from exc

    # -- backend hooks --------------------------------------------------------------

    def _put_file(self, source: Path, target: str) -> None:
        self.fs.put_file(str(source), target)

    def _tmp_dir(self) -> str:
        d = self.cache_dir / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return str(d)
