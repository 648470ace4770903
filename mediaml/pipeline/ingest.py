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

from mediaml.config import get_settings
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


def _url_error(text: str, kind: str) -> str | None:
    """Why a remote source cannot name a video (no bucket, key or host), if it cannot."""
    parsed = urlparse(text.removeprefix("ytdl+"))
    if kind == "s3" and (not parsed.netloc or parsed.path.strip("/") == ""):
        return f"{text} names no object: use s3://<bucket>/<key>"
    if kind in ("http", "ytdl") and not parsed.netloc:
        return f"{text} has no host: use a full URL such as https://example.com/video.mp4"
    return None


def _walked(files: Iterable[Path], root: Path, own: Path, *, globbed: bool = False) -> list[Path]:
    """Video files found under ``root``, without hidden ones (dot files and folders, such
    as a half-written ``.name.partial-….mp4``) and, unless ``root`` is inside it, without
    mediaml's own data dir (``own``: masters, proxies and cached clips are not footage)."""
    skip_own = not root.resolve().is_relative_to(own)
    kept = []
    for p in files:
        if not p.is_file() or p.suffix.lower() not in VIDEO_EXTENSIONS:
            continue
        # A glob leaves out hidden names itself, except those its pattern spells out.
        parts = (p.name,) if globbed else p.relative_to(root).parts
        if any(part.startswith(".") for part in parts):
            continue
        if skip_own and p.resolve().is_relative_to(own):
            continue
        kept.append(p)
    return sorted(kept)


def expand_sources(sources: str | Path | Iterable[str | Path]) -> list[tuple[str, str | None]]:
    """Expand folders and globs into files (leaving out hidden files and mediaml's own
    data dir).

    Returns:
        ``(source, error)`` pairs: a local path or URL with ``error`` None, or the
        original argument with a message saying why it yields nothing.
    """
    if isinstance(sources, str | Path):
        sources = [sources]
    own = get_settings().data_dir.expanduser().resolve()
    found: list[tuple[str, str | None]] = []
    for raw in sources:
        text = str(raw)
        if not text.strip():
            found.append((text, "an empty source: give a file, folder, glob or URL"))
            continue
        try:
            kind = source_kind(text)
        except MediamlError as exc:
            found.append((text, str(exc)))
            continue
        if kind != "local":
            found.append((text, _url_error(text, kind)))
            continue
        path_text = urlparse(text).path if text.startswith("file://") else text
        path = Path(path_text).expanduser()
        if glob.has_magic(path_text):
            matches = [Path(p) for p in glob.glob(str(path), recursive=True)]
            # The folder the pattern starts from (its part before the first wildcard).
            first = next(i for i, part in enumerate(path.parts) if glob.has_magic(part))
            start = Path(*path.parts[:first]) if first else Path(".")
            files = _walked(matches, start, own, globbed=True)
            if not files:
                found.append((text, f"no video files match {text}"))
            found += [(str(p.resolve()), None) for p in files]
        elif path.is_dir():
            files = _walked(path.rglob("*"), path, own)
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
