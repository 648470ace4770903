"""Register source videos: local files, folders and globs, ``file://``, ``s3://``,
``http(s)://`` and ``ytdl+http(s)://`` URLs.

Registration is idempotent (a source URI is known once). Local files are probed first
(``check=True``) so corrupt, empty or non-video files are reported straight away and never
enter the pipeline.
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import pandas as pd

from mediaml.db import Database, get_db
from mediaml.db.videos import create_video
from mediaml.errors import IngestWarning, MediaError, MediamlError
from mediaml.pipeline.fetch import source_kind

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".mov",
        ".m4v",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
        ".mxf",
        ".dv",
    }
)
COLUMNS = ["source", "video_id", "title", "created", "state", "error"]


def _row(source: str, **fields: Any) -> dict[str, Any]:
    return {
        "source": source,
        "video_id": None,
        "title": None,
        "created": False,
        "state": None,
        "error": None,
        **fields,
    }


def expand_sources(sources: str | Path | Iterable[str | Path]) -> list[tuple[str, str | None]]:
    """Expand folders and globs into files.

    Returns:
        ``(source, error)`` pairs: a local path or URL with ``error`` None, or the
        original argument with a message saying why it yields nothing.
    """
    if isinstance(sources, str | Path):
        sources = [sources]
    found: list[tuple[str, str | None]] = []
    for raw in sources:
        text = str(raw)
        try:
            kind = source_kind(text)
        except MediamlError as exc:
            found.append((text, str(exc)))
            continue
        if kind != "local":
            found.append((text, None))
            continue
        path_text = urlparse(text).path if text.startswith("file://") else text
        path = Path(path_text).expanduser()
        if glob.has_magic(path_text):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            files = [p for p in matches if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
            if not files:
                found.append((text, f"no video files match {text}"))
            found += [(str(p.resolve()), None) for p in files]
        elif path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
            )
            if not files:
                found.append(
                    (
                        text,
                        f"no video files in {path} (looked for "
                        f"{', '.join(sorted(VIDEO_EXTENSIONS))})",
                    )
                )
            found += [(str(p.resolve()), None) for p in files]
        elif path.is_file():
            found.append((str(path.resolve()), None))
        else:
            found.append((text, f"{path} does not exist"))
    return found


def source_uri(source: str) -> str:
    """The canonical URI stored for a source (local paths become ``file://`` URIs)."""
    if source_kind(source) == "local" and not source.startswith("file://"):
        return "file://" + quote(str(Path(source).resolve()))
    return source


def title_of(source: str) -> str:
    """A human title from a source's file name."""
    name = Path(unquote(urlparse(source).path)).stem or urlparse(source).netloc or "untitled"
    return name.replace("_", " ").strip() or "untitled"


def ingest(
    sources: str | Path | Iterable[str | Path],
    *,
    title: str | None = None,
    check: bool = True,
    metadata: dict[str, Any] | None = None,
    db: Database | None = None,
) -> pd.DataFrame:
    """Register videos for processing.

    Args:
        sources: paths, folders, globs or URLs.
        title: title for a single source (default: from the file name).
        check: probe local files and refuse those that are not usable video.
        metadata: stored on each new video (e.g. ``{"demo": True}``).

    Returns:
        One row per source: ``source``, ``video_id``, ``title``, ``created`` (False if
        it was already known), ``state``, ``error`` (why it was not registered). When
        some sources could not be registered, an :class:`~mediaml.errors.IngestWarning`
        names each of them.

    Raises:
        MediaError: no source could be registered (a missing path, an empty folder, no
            video files); the message says why for each.

    Example:
        >>> mediaml.ingest("~/footage/*.mp4")
    """
    db = db or get_db()
    rows = []
    expanded = expand_sources(sources)
    for source, error in expanded:
        if error:
            rows.append(_row(source, error=error))
            continue
        if check and source_kind(source) == "local":
            from mediaml.media import probe

            try:
                probe(source)
            except MediamlError as exc:
                rows.append(_row(source, error=str(exc)))
                continue
        name = title if title and len(expanded) == 1 else title_of(source)
        with db.transaction() as conn:
            video, created = create_video(conn, name, source_uri(source), metadata=metadata or {})
        rows.append(
            _row(
                source,
                video_id=video["id"],
                title=video["title"],
                created=created,
                state=video["state"],
            )
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["video_id"] = frame["video_id"].astype("Int64")
    failed = [f"{r['source']}: {r['error']}" for r in rows if r["error"]]
    if failed and len(failed) == len(rows):
        raise MediaError("could not ingest " + "; ".join(failed))
    if failed:
        warnings.warn(
            f"could not ingest {len(failed)} of {len(rows)} sources (see the error column): "
            + "; ".join(failed),
            IngestWarning,
            stacklevel=2,
        )
    return frame
