"""Bring a source video to a local file: local paths, ``file://``, ``s3://``, ``http(s)://``.

HTTP downloads stream to disk with a size limit, a content-type check and retries on
transient errors (connection drops, 429, 5xx). Web video pages (HTML) go through
``yt-dlp`` when the ``web`` extra is installed. Every download lands under a temporary
name and is renamed only when complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from mediaml.config import Settings
from mediaml.errors import MediaError, StorageError

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


def source_kind(uri: str) -> str:
    """``local``, ``s3``, ``http`` or ``ytdl`` (``ytdl+https://`` forces yt-dlp)."""
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("", "file"):
        return "local"
    if scheme == "s3":
        return "s3"
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("ytdl+http", "ytdl+https"):
        return "ytdl"
    raise MediaError(
        f"unsupported source {uri!r}: use a local path, file://, s3://, http(s)://, or "
        "ytdl+https:// to fetch a web video page with yt-dlp"
    )


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


def _atomic_target(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")


def fetch(
    uri: str,
    dest: Path,
    settings: Settings,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], None] | None = None,
) -> Path:
    """Download or copy the source at ``uri`` to ``dest`` and return ``dest``.

    Args:
        uri: the source (local path, file://, s3://, http(s)://, ytdl+http(s)://).
        dest: where the file should end up (written atomically).
        settings: for the size limit and S3 credentials.
        progress: called with (bytes so far, total or None).
        cancelled: called between chunks; raises to abandon the download.

    Raises:
        MediaError: the source is missing, empty, too large or not media.
        requests.ConnectionError / requests.Timeout: transient network failures.
    """
    kind = source_kind(uri)
    if kind == "local":
        path = local_source_path(uri)
        if not path.is_file():
            raise MediaError(f"source file {path} does not exist")
        part = _atomic_target(dest)
        try:
            shutil.copyfile(path, part)
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)
    elif kind == "s3":
        _fetch_s3(uri, dest, settings)
    elif kind == "ytdl":
        _fetch_ytdl(uri.removeprefix("ytdl+"), dest, settings)
    else:
        _fetch_http(uri, dest, settings, progress, cancelled)
    if dest.stat().st_size == 0:
        dest.unlink()
        raise MediaError(f"source {uri} is empty (0 bytes)")
    return dest


def _fetch_http(
    uri: str,
    dest: Path,
    settings: Settings,
    progress: Progress | None,
    cancelled: Callable[[], None] | None,
) -> None:
    limit = settings.max_download_bytes
    with _session(settings) as session, session.get(uri, stream=True, timeout=(10, 60)) as resp:
        if resp.status_code in (429,) or resp.status_code >= 500:
            raise requests.ConnectionError(f"{uri} answered HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise MediaError(f"{uri} answered HTTP {resp.status_code}; check the URL")
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype == "text/html":
            resp.close()
            _fetch_ytdl(uri, dest, settings)
            return
        if ctype and not ctype.startswith(MEDIA_TYPES):
            raise MediaError(f"{uri} is {ctype}, not a video")
        total = int(resp.headers["Content-Length"]) if resp.headers.get("Content-Length") else None
        if total is not None and total > limit:
            raise MediaError(
                f"{uri} is {total} bytes, over the {limit}-byte limit (MEDIAML_MAX_DOWNLOAD_BYTES)"
            )
        part = _atomic_target(dest)
        done = 0
        try:
            with part.open("wb") as out:
                for chunk in resp.iter_content(CHUNK):
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
            if total is not None and done != total:
                raise requests.ConnectionError(f"{uri} ended after {done} of {total} bytes")
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)


def _fetch_s3(uri: str, dest: Path, settings: Settings) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(
        key=settings.aws_access_key_id,
        secret=settings.aws_secret_access_key,
        client_kwargs={
            "region_name": settings.aws_region,
            **({"endpoint_url": settings.s3_endpoint_url} if settings.s3_endpoint_url else {}),
        },
    )
    limit = settings.max_download_bytes
    part = _atomic_target(dest)
    try:
        size = int(fs.size(uri))
        if size > limit:
            raise MediaError(
                f"{uri} is {size} bytes, over the {limit}-byte limit (MEDIAML_MAX_DOWNLOAD_BYTES)"
            )
        done = 0
        # Stream with a count too: the object may be replaced between HEAD and GET.
        with fs.open(uri, "rb", block_size=CHUNK) as src, part.open("wb") as out:
            while chunk := src.read(CHUNK):
                done += len(chunk)
                if done > limit:
                    raise MediaError(
                        f"{uri} exceeds the {limit}-byte limit (MEDIAML_MAX_DOWNLOAD_BYTES)"
                    )
                out.write(chunk)
        os.replace(part, dest)
    except FileNotFoundError:
        raise MediaError(f"source {uri} does not exist") from None
    except PermissionError as exc:
        raise StorageError(f"cannot read {uri}: {exc}; check the AWS credentials") from None
    finally:
        part.unlink(missing_ok=True)


def _fetch_ytdl(url: str, dest: Path, settings: Settings) -> None:
    try:
        import yt_dlp
    except ImportError:
        raise MediaError(
            f"{url} is a web page, not a video file; install the web extra "
            "(pip install 'mediaml[web]') to fetch videos from pages with yt-dlp"
        ) from None
    workdir = dest.parent / f".ytdl-{uuid.uuid4().hex}"
    workdir.mkdir(parents=True)
    try:
        options = {
            "outtmpl": str(workdir / "video.%(ext)s"),
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "max_filesize": settings.max_download_bytes,
            "format": "bv*[height<=1080]+ba/b[height<=1080]/bv*+ba/b",
            "retries": 3,
            "noplaylist": True,
        }
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                ydl.download([url])
        except yt_dlp.utils.DownloadError as exc:
            raise MediaError(f"yt-dlp could not fetch {url}: {exc}") from None
        files = [p for p in workdir.iterdir() if p.is_file() and not p.name.endswith(".part")]
        if not files:
            raise MediaError(f"yt-dlp found no video at {url}")
        os.replace(max(files, key=lambda p: p.stat().st_size), dest)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
