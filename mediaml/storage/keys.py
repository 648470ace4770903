"""Object keys: the one module that decides where every stored file lives.

Layout::

    originals/<video id>-<slug><ext>
    masters/<video id>-<slug>.mp4
    proxies/<video id>-<slug>.mp4
    clips/<video id>-<slug>/<clip id>-<start>-<end>.mp4
    artifacts/keyframes/<video id>/<clip id>/<frame>.jpg
    artifacts/keyframes/<video id>/<clip id>/<frame>-<rendition>.png   model-sized rendition
    uploads/<token>-<slug><ext>          files uploaded through the dashboard (originals)

Titles become slugs of ``[a-z0-9-]``; ids make keys unique, so two videos with the
same title never collide, and no title can produce ``..``, ``/`` or an absolute path.
"""

from __future__ import annotations

import re
import unicodedata

from mediaml.errors import ConfigError, StorageError

UPLOADS = "uploads"
PREFIXES = (
    "originals/",
    "masters/",
    "proxies/",
    "clips/",
    "artifacts/keyframes/",
    f"{UPLOADS}/",
)
_SLUG_MAX = 60
_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")
_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def slugify(title: str) -> str:
    """A lowercase ASCII slug of ``title`` (``[a-z0-9-]``, at most 60 chars, never empty)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text[:_SLUG_MAX].rstrip("-") or "untitled"


def clean_ext(filename: str, default: str = ".mp4") -> str:
    """The lowercase extension of ``filename`` if it is a plain short one, else ``default``."""
    dot = filename.rfind(".")
    ext = filename[dot:].lower() if dot > filename.rfind("/") and dot >= 0 else ""
    return ext if _EXT.match(ext) else default


def _id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"ids in keys must be non-negative integers, not {value!r}")
    return value


def original_key(video_id: int, title: str, filename: str) -> str:
    """Key of a source video as ingested."""
    return f"originals/{_id(video_id)}-{slugify(title)}{clean_ext(filename)}"


def master_key(video_id: int, title: str) -> str:
    """Key of a video's archival master rendition."""
    return f"masters/{_id(video_id)}-{slugify(title)}.mp4"


def proxy_key(video_id: int, title: str) -> str:
    """Key of a video's all-intra review proxy."""
    return f"proxies/{_id(video_id)}-{slugify(title)}.mp4"


def clip_key(video_id: int, title: str, clip_id: int, start_frame: int, end_frame: int) -> str:
    """Key of an exported clip file."""
    return (
        f"clips/{_id(video_id)}-{slugify(title)}/"
        f"{_id(clip_id)}-{_id(start_frame)}-{_id(end_frame)}.mp4"
    )


def keyframe_key(video_id: int, clip_id: int, frame: int) -> str:
    """Key of one keyframe JPEG of a clip."""
    return f"artifacts/keyframes/{_id(video_id)}/{_id(clip_id)}/{_id(frame):08d}.jpg"


def rendition_key(video_id: int, clip_id: int, frame: int, rendition: str) -> str:
    """Key of a keyframe's model-sized rendition named ``rendition`` (see
    :mod:`mediaml.embed.renditions`), in the folder of the clip's keyframes.

    Raises:
        ValueError: the name is not a plain key part (letters, digits, ``.``, ``_``, ``-``).
    """
    if not _KEY_PART.match(rendition):
        raise ValueError(f"rendition names are plain key parts, not {rendition!r}")
    return f"artifacts/keyframes/{_id(video_id)}/{_id(clip_id)}/{_id(frame):08d}-{rendition}.png"


def upload_key(token: str, filename: str) -> str:
    """Key of a file uploaded through the dashboard; ``token`` (hex) makes it unique.

    The upload is the video's original: the download stage adopts it without a copy.
    """
    if not re.fullmatch(r"[0-9a-f]{8,64}", token):
        raise ValueError(f"upload tokens are 8-64 lowercase hex digits, not {token!r}")
    stem = filename.rsplit("/", 1)[-1]
    stem = stem[: stem.rfind(".")] if "." in stem else stem
    return f"{UPLOADS}/{token}-{slugify(stem)}{clean_ext(filename)}"


def validate_key(key: str) -> str:
    """Check that ``key`` is a relative key under one of :data:`PREFIXES`.

    Raises:
        StorageError: absolute, empty parts, ``.``/``..``, backslashes, odd characters or
            an unknown prefix.
    """
    if not isinstance(key, str) or not key.startswith(PREFIXES):
        raise StorageError(f"object key {key!r} is not under {', '.join(PREFIXES)}")
    parts = key.split("/")
    if any(not _KEY_PART.match(p) for p in parts) or "\\" in key:
        raise StorageError(f"object key {key!r} has an empty, dot or unsafe path component")
    return key


def validate_prefix(prefix: str) -> str:
    """Check that ``prefix`` (for listing) lies inside mediaml's key layout.

    Raises:
        StorageError: it starts outside the layout or has unsafe components.
    """
    top = {p.split("/")[0] for p in PREFIXES}
    parts = prefix.split("/")
    if parts[0] not in top or any(p in (".", "..") or "\\" in p for p in parts):
        raise StorageError(f"cannot list {prefix!r}: not a mediaml key prefix")
    return prefix


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def validate_bucket_name(name: str) -> str:
    """Check an S3 bucket name against AWS's naming rules.

    Raises:
        ConfigError: the name breaks a rule; the message says which variable to fix.
    """
    if (
        not _BUCKET.match(name)
        or ".." in name
        or re.match(r"^\d+\.\d+\.\d+\.\d+$", name)
        or name.startswith("xn--")
        or name.endswith("-s3alias")
    ):
        raise ConfigError(
            f"PROD_S3_BUCKET_NAME {name!r} is not a valid S3 bucket name (3-63 characters of "
            "lowercase letters, digits, dots and hyphens, starting and ending with a letter "
            "or digit)"
        )
    return name
