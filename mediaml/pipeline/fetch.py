"""Bring a source video to a local file: local paths, ``file://``, ``s3://``, ``http(s)://``.

HTTP downloads stream to disk with a size limit, a content-type check and retries on
transient errors (connection drops, 429, 5xx). Web video pages (HTML) go through
``yt-dlp`` when the ``web`` extra is installed: it picks the best quality available
(``bv*+ba/b``, optionally capped by ``MEDIAML_YTDL_MAX_HEIGHT``) and its info JSON gives
the video's real title. Every download lands under a temporary name and is renamed only
when complete. ``upload://`` sources were streamed into the object store by the
dashboard and need no fetching (see `upload_key_of`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from mediaml.config import Settings
from mediaml.errors import MediaError, StorageError
from mediaml.files import atomic_path
from mediaml.media.ffmpeg import ffmpeg_exe
from mediaml.storage import keys

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# Content types that can hold a video; anything else (HTML, JSON, text) is refused
# unless yt-dlp can make sense of the page.
MEDIA_TYPES = (
    "video/",
    "audio/",
    "application/octet-stream",
    "binary/octet-stream",
    "application/mp4",
    "application/x-matroska",
    "application/vnd.rn-realmedia",
)

Progress = Callable[[int, int | None], None]
UPLOAD_SCHEME = "upload://"


@dataclass(frozen=True)
class Fetched:
    """A fetched source: the local file and, when the source said so, its real title."""

    path: Path
    title: str | None = None


def source_kind(uri: str) -> str:
    """``local``, ``s3``, ``http``, ``ytdl`` (``ytdl+https://`` forces yt-dlp) or
    ``upload`` (a file uploaded through the dashboard, already in the object store)."""
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("", "file"):
        return "local"
    if scheme == "s3":
        return "s3"
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("ytdl+http", "ytdl+https"):
        return "ytdl"
    if scheme == "upload":
        return "upload"
    raise MediaError(
        f"unsupported source {uri!r}: use a local path, file://, s3://, http(s)://, or "
        "ytdl+https:// to fetch a web video page with yt-dlp"
    )


def upload_uri(key: str) -> str:
    """The source URI of an upload stored under ``key`` (an ``uploads/`` key)."""
    return UPLOAD_SCHEME + keys.validate_key(key)


def upload_key_of(uri: str) -> str:
    """The object-store key an ``upload://`` source names.

    Raises:
        StorageError: the key is not a valid ``uploads/`` key.
    """
    key = keys.validate_key(uri.removeprefix(UPLOAD_SCHEME))
    if not key.startswith(keys.UPLOADS + "/"):
        raise StorageError(f"{uri!r} does not name an upload (expected upload://uploads/...)")
    return key


def local_source_path(uri: str) -> Path:
    """The filesystem path of a local or ``file://`` source."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


def filename_of(uri: str) -> str:
    """The file name a source URI ends with (used for the extension of the original)."""
    return Path(unquote(urlparse(uri).path)).name or "source"


def _session(settings: Settings) -> requests.Session:
    retry = Retry(
        total=4,
        connect=4,
        read=4,
        status=4,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers["User-Agent"] = "mediaml/0.1 (+https://github.com/mediaml)"
    return session


def fetch(
    uri: str,
    dest: Path,
    settings: Settings,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], None] | None = None,
) -> Path:
    """Download or copy the source at ``uri`` to ``dest`` and return ``dest``
    (`fetch_source` also returns the title a web page gave)."""
    return fetch_source(uri, dest, settings, progress=progress, cancelled=cancelled).path


def fetch_source(
    uri: str,
    dest: Path,
    settings: Settings,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], None] | None = None,
) -> Fetched:
    """Download or copy the source at ``uri`` to ``dest``.

    Args:
        uri: the source (local path, file://, s3://, http(s)://, ytdl+http(s)://).
        dest: where the file should end up (written atomically).
        settings: for the size limit and S3 credentials.
        progress: called with (bytes so far, total or None).
        cancelled: called between chunks; raises to abandon the download.

    Returns:
        The file and, for pages fetched by yt-dlp, the title from their info JSON.

    Raises:
        MediaError: the source is missing, empty, too large or not media.
        requests.ConnectionError / requests.Timeout: transient network failures.
    """
    kind = source_kind(uri)
    title = None
    if kind == "upload":
        raise MediaError(f"{uri} is an upload already in the object store; nothing to fetch")
    if kind == "local":
        path = local_source_path(uri)
        if not path.is_file():
            raise MediaError(f"source file {path} does not exist")
        with atomic_path(dest) as part:
            shutil.copyfile(path, part)
    elif kind == "s3":
        _fetch_s3(uri, dest, settings, progress, cancelled)
    elif kind == "ytdl":
        title = _fetch_ytdl(uri.removeprefix("ytdl+"), dest, settings, progress, cancelled)
    else:
        title = _fetch_http(uri, dest, settings, progress, cancelled)
    if dest.stat().st_size == 0:
        dest.unlink()
        raise MediaError(f"source {uri} is empty (0 bytes)")
    return Fetched(dest, title)


def _fetch_http(
    uri: str,
    dest: Path,
    settings: Settings,
    progress: Progress | None,
    cancelled: Callable[[], None] | None,
) -> str | None:
    """Stream ``uri`` to ``dest``; an HTML page goes to yt-dlp (whose title is returned)."""
    limit = settings.max_download_bytes
    with _session(settings) as session, session.get(uri, stream=True, timeout=(10, 60)) as resp:
        if resp.status_code in (429,) or resp.status_code >= 500:
            raise requests.ConnectionError(f"{uri} answered HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise MediaError(f"{uri} answered HTTP {resp.status_code}; check the URL")
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype == "text/html":
            resp.close()
            return _fetch_ytdl(uri, dest, settings, progress, cancelled)
        if ctype and not ctype.startswith(MEDIA_TYPES):
            raise MediaError(f"{uri} is {ctype}, not a video")
        total = int(resp.headers["Content-Length"]) if resp.headers.get("Content-Length") else None
        if total is not None and total > limit:
            raise MediaError(
                f"{uri} is {total} bytes, over the {limit}-byte limit (MEDIAML_MAX_DOWNLOAD_BYTES)"
            )
        _write_capped(
            resp.iter_content(CHUNK), dest, uri, limit, total, progress, cancelled, whole=True
        )
    return None


def _write_capped(
    chunks: Iterable[bytes],
    dest: Path,
    uri: str,
    limit: int,
    total: int | None,
    progress: Progress | None,
    cancelled: Callable[[], None] | None,
    *,
    whole: bool = False,
) -> None:
    """Write ``chunks`` to ``dest`` (all or nothing), counting bytes against ``limit``
    (the size announced up front may be wrong), reporting (bytes so far, ``total``) and
    checking ``cancelled`` after each chunk. With ``whole``, fewer bytes than ``total``
    is a dropped connection (retried), not a short file."""
    done = 0
    with atomic_path(dest) as part, part.open("wb") as out:
        for chunk in chunks:
            done += len(chunk)
            if done > limit:
                raise MediaError(
                    f"{uri} exceeds the {limit}-byte limit (MEDIAML_MAX_DOWNLOAD_BYTES)"
                )
            out.write(chunk)
            if progress:
                progress(done, total)
            if cancelled:
                cancelled()
        if whole and total is not None and done != total:
            raise requests.ConnectionError(f"{uri} ended after {done} of {total} bytes")


def _fetch_s3(
    uri: str,
    dest: Path,
    settings: Settings,
    progress: Progress | None,
    cancelled: Callable[[], None] | None,
) -> None:
    """Stream the object at ``uri`` to ``dest``, reporting (bytes so far, object size)."""
    import s3fs
    from botocore.exceptions import NoCredentialsError

    fs = s3fs.S3FileSystem(
        key=settings.aws_access_key_id,
        secret=settings.aws_secret_access_key,
        client_kwargs={
            "region_name": settings.aws_region,
            **({"endpoint_url": settings.s3_endpoint_url} if settings.s3_endpoint_url else {}),
        },
    )
    limit = settings.max_download_bytes
    try:
        size = int(fs.size(uri))
        if size > limit:
            raise MediaError(
                f"{uri} is {size} bytes, over the {limit}-byte limit (MEDIAML_MAX_DOWNLOAD_BYTES)"
            )
        # Counted while streaming too: the object may be replaced between HEAD and GET.
        with fs.open(uri, "rb", block_size=CHUNK) as src:
            chunks = iter(lambda: src.read(CHUNK), b"")
            _write_capped(chunks, dest, uri, limit, size, progress, cancelled)
    except FileNotFoundError:
        raise MediaError(f"source {uri} does not exist") from None
    except PermissionError as exc:
        raise StorageError(f"cannot read {uri}: {exc}; check the AWS credentials") from None
    except NoCredentialsError:
        raise StorageError(
            f"cannot read {uri}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or an AWS profile), then `mediaml retry`"
        ) from None


def ytdl_format(max_height: int | None = None) -> str:
    """The yt-dlp format selector: the best video and audio (merged), else the best single
    file; with ``max_height``, formats up to that height are preferred and taller ones
    are taken only when nothing else exists."""
    best = "bv*+ba/b"
    if not max_height:
        return best
    capped = f"bv*[height<={max_height}]+ba/b[height<={max_height}]"
    return f"{capped}/{best}"


def _fetch_ytdl(
    url: str,
    dest: Path,
    settings: Settings,
    progress: Progress | None = None,
    cancelled: Callable[[], None] | None = None,
) -> str | None:
    """Download the video a page holds; returns the title from yt-dlp's info JSON."""
    try:
        import yt_dlp
    except ImportError:
        raise MediaError(
            f"{url} is a web page, not a video file; install the web extra "
            "(pip install 'mediaml[web]') to fetch videos from pages with yt-dlp"
        ) from None
    limit = settings.max_download_bytes

    def hook(status: dict[str, Any]) -> None:
        if cancelled:
            cancelled()
        if progress and status.get("status") == "downloading":
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            progress(int(status.get("downloaded_bytes") or 0), int(total) if total else None)

    workdir = dest.parent / f".ytdl-{uuid.uuid4().hex}"
    workdir.mkdir(parents=True)
    try:
        options = {
            "outtmpl": str(workdir / "video.%(ext)s"),
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "max_filesize": limit,
            "format": ytdl_format(settings.ytdl_max_height),
            # Merging separate video and audio streams needs FFmpeg: use ours.
            "ffmpeg_location": ffmpeg_exe(),
            "merge_output_format": "mp4/mkv",
            "retries": 3,
            "noplaylist": True,
            "progress_hooks": [hook],
        }
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.extract_info(url, download=True)
        except yt_dlp.utils.DownloadError as exc:
            raise MediaError(f"yt-dlp could not fetch {url}: {exc}") from None
        files = [p for p in workdir.iterdir() if p.is_file() and not p.name.endswith(".part")]
        if not files:
            raise MediaError(
                f"yt-dlp downloaded nothing from {url}: it found no video, or every format "
                f"is over the {limit}-byte limit (MEDIAML_MAX_DOWNLOAD_BYTES)"
            )
        os.replace(max(files, key=lambda p: p.stat().st_size), dest)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ytdl_title(info or {})


def ytdl_title(info: dict[str, Any]) -> str | None:
    """The video's title from yt-dlp's info JSON.

    yt-dlp's generic extractors (any page with a ``<video>`` element) number each media they
    find on a page, "Title (1)", "Title (2)"; that number is not part of the title.
    """
    title = str(info.get("title") or "").strip()
    if info.get("extractor_key") in ("Generic", "HTML5MediaEmbed"):
        title = re.sub(r" \(\d+\)$", "", title)
    return title or None
