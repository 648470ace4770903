"""Settings: every environment variable mediaml reads, validated in one place.

``SETTINGS`` is the one table of variables (name, fallbacks, default, meaning, and whether
production requires it). ``load_settings`` turns an environment mapping into a typed,
frozen :class:`Settings`; it is a pure function so it is tested without touching
``os.environ``. The docs' variable tables are checked against ``SETTINGS`` by the tests.

``QUEUES`` is the one table of job queues and their canonical concurrency.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediaml.errors import ConfigError

# --------------------------------------------------------------------------- queues


@dataclass(frozen=True)
class Queue:
    """A named job queue with its canonical number of concurrent workers."""

    name: str
    concurrency: int
    runs: str


QUEUES: tuple[Queue, ...] = (
    Queue("default", 10, "light jobs; its consumer also runs the scheduler"),
    Queue("media_processing", 5, "download, encode, detect, export, keyframes, embeddings"),
    Queue("background_jobs", 2, "the dispatcher, archive and persist jobs"),
    Queue("temp_clips", 3, "temp clip generation and prefetch for review"),
    Queue("maintenance", 1, "playback cache cleanup, monitoring"),
)
QUEUE_NAMES: tuple[str, ...] = tuple(q.name for q in QUEUES)
QUEUE_CONCURRENCY: dict[str, int] = {q.name: q.concurrency for q in QUEUES}


def parse_queues(value: str | None) -> tuple[str, ...]:
    """Parse ``MEDIAML_QUEUES``: a comma list, trimmed, de-duplicated, empties ignored.

    Args:
        value: the raw variable, or None when unset.

    Returns:
        The selected queue names in the order first given; ``("default",)`` when unset
        or empty.

    Raises:
        ConfigError: a name is not one of :data:`QUEUE_NAMES`; the message lists them.
    """
    names: list[str] = []
    for item in (value or "").split(","):
        name = item.strip()
        if name and name not in names:
            names.append(name)
    unknown = [n for n in names if n not in QUEUE_NAMES]
    if unknown:
        raise ConfigError(
            f"MEDIAML_QUEUES has unknown queue name(s) {', '.join(unknown)}; "
            f"allowed names are: {', '.join(QUEUE_NAMES)}"
        )
    return tuple(names) or ("default",)


def parse_scheduler(value: str | None, queues: tuple[str, ...]) -> bool:
    """Decide whether this process schedules periodic jobs (``MEDIAML_SCHEDULER``).

    ``true``/``1`` turn it on, ``false``/``0`` off; unset (or empty) means on exactly
    when the ``default`` queue is among ``queues``.

    Raises:
        ConfigError: any other value.
    """
    if value is None or value.strip() == "":
        return "default" in queues
    v = value.strip().lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise ConfigError(f"MEDIAML_SCHEDULER must be true, false, 1 or 0 (or unset), not {value!r}")


# ------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Setting:
    """One environment variable: where it is read from, its default and its meaning."""

    name: str
    attr: str  # the Settings field it fills
    help: str
    default: str | None = None
    fallbacks: tuple[str, ...] = ()
    required_in_production: bool = False
    secret: bool = False
    kind: str = "str"  # str | int | float | bool | path | queues | scheduler | env

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.fallbacks)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MEDIAML_ENV",
        "env",
        "Run mode: `development` (default) or `production`. "
        "`APP_ENV` is read as a fallback. Production fails fast at boot naming every "
        "missing required variable.",
        default="development",
        fallbacks=("APP_ENV",),
        kind="env",
    ),
    Setting(
        "DATABASE_URL",
        "database_url",
        "PostgreSQL connection URL. Unset: an embedded PostgreSQL with "
        "pgvector is started in the data dir and shared by every process on the "
        "machine.",
        fallbacks=("PROD_DATABASE_URL",),
        required_in_production=True,
        secret=True,
    ),
    Setting(
        "SECRET_KEY_BASE",
        "secret_key_base",
        "Secret that signs dashboard cookies and sessions (at least 32 characters in production).",
        required_in_production=True,
        secret=True,
    ),
    Setting(
        "PUBLIC_HOST",
        "public_host",
        "Public hostname used to build absolute URLs (the seed called it `PHX_HOST`).",
        fallbacks=("PHX_HOST",),
        required_in_production=True,
    ),
    Setting(
        "PROD_S3_BUCKET_NAME",
        "s3_bucket",
        "S3 bucket holding all media. Unset: media live in `<data dir>/media`.",
        required_in_production=True,
    ),
    Setting(
        "PROD_CLOUDFRONT_DOMAIN",
        "cloudfront_domain",
        "CloudFront domain in front of the bucket; media URLs "
        "are then CloudFront signed URLs instead of S3 presigned URLs.",
        required_in_production=True,
    ),
    Setting(
        "CLOUDFRONT_KEY_PAIR_ID",
        "cloudfront_key_pair_id",
        "CloudFront public key (key pair) id used to sign "
        "media URLs; needed when `PROD_CLOUDFRONT_DOMAIN` is set.",
    ),
    Setting(
        "CLOUDFRONT_PRIVATE_KEY",
        "cloudfront_private_key",
        "PEM private key matching `CLOUDFRONT_KEY_PAIR_ID`, "
        "either the PEM text itself or a path to a PEM file.",
        secret=True,
    ),
    Setting(
        "AWS_ACCESS_KEY_ID",
        "aws_access_key_id",
        "AWS access key for S3.",
        required_in_production=True,
        secret=True,
    ),
    Setting(
        "AWS_SECRET_ACCESS_KEY",
        "aws_secret_access_key",
        "AWS secret key for S3.",
        required_in_production=True,
        secret=True,
    ),
    Setting("AWS_REGION", "aws_region", "AWS region of the bucket.", required_in_production=True),
    Setting(
        "MEDIAML_S3_ENDPOINT_URL",
        "s3_endpoint_url",
        "Endpoint of an S3-compatible server (MinIO, moto, R2). Unset: AWS S3.",
    ),
    Setting(
        "MEDIAML_QUEUES",
        "queues",
        "Comma-separated queues this process consumes (the seed's "
        "`OBAN_QUEUES`). Unknown names fail at boot.",
        default="default",
        kind="queues",
    ),
    Setting(
        "MEDIAML_SCHEDULER",
        "scheduler",
        "`true`/`false`: schedule the periodic jobs here (the seed's "
        "`OBAN_SCHEDULER`). Unset: on exactly when `default` is consumed.",
        kind="scheduler",
    ),
    Setting(
        "MEDIAML_DATA_DIR",
        "data_dir",
        "Where the embedded database, local media and caches live. "
        "Default: the per-user data dir (`~/.local/share/mediaml` on Linux).",
        kind="path",
    ),
    Setting(
        "MEDIAML_MODEL_DIR",
        "model_dir",
        "Where embedding models are looked up "
        "(`<dir>/<model name>/`). Unset: `<data dir>/models`, then the Hugging Face "
        "cache.",
        kind="path",
    ),
    Setting(
        "MEDIAML_EMBED_MODEL",
        "embed_model",
        "Default embedding model name; its vectors are the ones "
        "the backfill stage makes sure every embedded clip has.",
        default="clip-vit-base-patch32",
    ),
    Setting(
        "MEDIAML_EMBED_STRATEGY",
        "embed_strategy",
        "Default embedding generation strategy: "
        "`keyframe_multi_avg`, `keyframe_single` or `keyframe_multi`.",
        default="keyframe_multi_avg",
    ),
    Setting(
        "MEDIAML_EXPORT_PROFILE",
        "export_profile",
        "How approved clips are exported: `proxy_copy` (stream copy from the review "
        "proxy: fast, frame-exact) or `master_quality` (re-encode from the master).",
        default="proxy_copy",
    ),
    Setting(
        "MEDIAML_SHUTDOWN_GRACE",
        "shutdown_grace",
        "Seconds a worker gives running tasks after SIGTERM/SIGINT before it releases "
        "their items for another worker.",
        default="25",
        kind="float",
    ),
    Setting(
        "MEDIAML_DISPATCH_INTERVAL",
        "dispatch_interval",
        "Seconds between dispatcher runs.",
        default="60",
        kind="float",
    ),
    Setting(
        "MEDIAML_CLEANUP_INTERVAL",
        "cleanup_interval",
        "Seconds between playback cache cleanups.",
        default="300",
        kind="float",
    ),
    Setting(
        "MEDIAML_LEASE_SECONDS",
        "lease_seconds",
        "How long an in-flight item may go without a heartbeat "
        "before the dispatcher takes it up again.",
        default="900",
        kind="float",
    ),
    Setting(
        "MEDIAML_PLAYBACK_CACHE_MAX_AGE",
        "playback_cache_max_age",
        "Seconds a temp clip may stay in the playback cache.",
        default="900",
        kind="float",
    ),
    Setting(
        "MEDIAML_PLAYBACK_CACHE_MAX_BYTES",
        "playback_cache_max_bytes",
        "Size above which the playback cache evicts least recently used files.",
        default=str(1024**3),
        kind="int",
    ),
    Setting(
        "MEDIAML_OBJECT_CACHE_MAX_AGE",
        "object_cache_max_age",
        "Seconds an unused local copy of a stored object (original, master, proxy, "
        "keyframe) may stay in `<data dir>/cache/objects` when the store is S3.",
        default=str(24 * 3600),
        kind="float",
    ),
    Setting(
        "MEDIAML_OBJECT_CACHE_MAX_BYTES",
        "object_cache_max_bytes",
        "Size above which the local object cache evicts least recently used copies "
        "(files a running step holds are never evicted).",
        default=str(10 * 1024**3),
        kind="int",
    ),
    Setting(
        "MEDIAML_MIN_FREE_DISK_BYTES",
        "min_free_disk_bytes",
        "Free disk below which cleanup logs a warning.",
        default=str(500 * 1024**2),
        kind="int",
    ),
    Setting(
        "MEDIAML_MAX_DOWNLOAD_BYTES",
        "max_download_bytes",
        "Largest download accepted by ingest.",
        default=str(20 * 1024**3),
        kind="int",
    ),
    Setting(
        "MEDIAML_AUTH_USERS",
        "auth_users",
        "Dashboard logins as `user:password` pairs separated by "
        "commas, or a path to a JSON file of `{user: password}`. Required for the web "
        "role in production.",
        secret=True,
    ),
    Setting(
        "MEDIAML_LOGIN_FREE_ATTEMPTS",
        "login_free_attempts",
        "Failed dashboard logins allowed per user name and per client address before "
        "each further failure locks that name or address out.",
        default="5",
        kind="int",
    ),
    Setting(
        "MEDIAML_LOGIN_LOCKOUT_SECONDS",
        "login_lockout_seconds",
        "First login lockout in seconds; it doubles with every further failure, up to 15 minutes.",
        default="30",
        kind="float",
    ),
    Setting(
        "MEDIAML_LOG_LEVEL",
        "log_level",
        "Log level: DEBUG, INFO, WARNING or ERROR.",
        default="INFO",
    ),
    Setting(
        "PORT", "port", "Port the web role listens on (Render sets it).", default="5006", kind="int"
    ),
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one process. Build it with :func:`load_settings`."""

    env: str
    database_url: str | None = field(repr=False)
    secret_key_base: str | None = field(repr=False)
    public_host: str | None
    s3_bucket: str | None
    cloudfront_domain: str | None
    cloudfront_key_pair_id: str | None
    cloudfront_private_key: str | None = field(repr=False)
    aws_access_key_id: str | None = field(repr=False)
    aws_secret_access_key: str | None = field(repr=False)
    aws_region: str | None
    s3_endpoint_url: str | None
    queues: tuple[str, ...]
    scheduler: bool
    data_dir: Path
    model_dir: Path | None
    embed_model: str
    embed_strategy: str
    export_profile: str
    shutdown_grace: float
    dispatch_interval: float
    cleanup_interval: float
    lease_seconds: float
    playback_cache_max_age: float
    playback_cache_max_bytes: int
    object_cache_max_age: float
    object_cache_max_bytes: int
    min_free_disk_bytes: int
    max_download_bytes: int
    auth_users: str | None = field(repr=False)
    login_free_attempts: int
    login_lockout_seconds: float
    log_level: str
    port: int

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def media_dir(self) -> Path:
        """Root of the local object store when no bucket is configured."""
        return self.data_dir / "media"

    @property
    def cache_dir(self) -> Path:
        """Local copies of stored objects, reused by stages on this machine."""
        return self.data_dir / "cache"

    @property
    def playback_cache_dir(self) -> Path:
        """Temp clips cut for review playback."""
        return self.data_dir / "cache" / "playback"

    @property
    def models_dir(self) -> Path:
        """Where models are looked up first."""
        return self.model_dir or self.data_dir / "models"


def _default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("mediaml", appauthor=False))


EMBED_STRATEGIES = ("keyframe_multi_avg", "keyframe_single", "keyframe_multi")
EXPORT_PROFILES = ("proxy_copy", "master_quality")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _raw(env: Mapping[str, str], setting: Setting) -> str | None:
    for name in setting.names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting from ``env`` (default ``os.environ``).

    All problems are collected and reported together, so an operator fixes them in one
    deploy rather than one per boot.

    Raises:
        ConfigError: one or more variables are missing (production) or malformed; the
            message names each of them.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    values: dict[str, Any] = {}

    for setting in SETTINGS:
        raw = _raw(env, setting)
        value = raw if raw is not None else setting.default
        target = setting.attr
        if value is None:
            values[target] = None
            continue
        try:
            values[target] = _convert(setting, value, values)
        except ConfigError as exc:
            problems.append(str(exc))
            # Keep going with the default so every other problem is reported too.
            values[target] = _convert(setting, setting.default, values) if setting.default else None

    values["queues"] = values.get("queues") or ("default",)
    if values.get("scheduler") is None:
        values["scheduler"] = parse_scheduler(None, values["queues"])
    values["data_dir"] = values.get("data_dir") or _default_data_dir()

    settings = Settings(**values)
    problems.extend(_cross_checks(settings, env))
    if problems:
        raise ConfigError("; ".join(problems))
    return settings


def _convert(setting: Setting, value: str, so_far: Mapping[str, Any]) -> Any:
    name = setting.name
    if setting.kind == "env":
        v = value.lower()
        if v in ("production", "prod"):
            return "production"
        if v in ("development", "dev", "test", "local"):
            return "development"
        raise ConfigError(f"{name} must be 'production' or 'development', not {value!r}")
    if setting.kind == "queues":
        return parse_queues(value)
    if setting.kind == "scheduler":
        return parse_scheduler(value, so_far.get("queues", ("default",)))
    if setting.kind == "path":
        return Path(value).expanduser()
    if setting.kind in ("int", "float"):
        try:
            number = int(value) if setting.kind == "int" else float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {value!r}") from None
        if number <= 0 and name != "PORT":
            raise ConfigError(f"{name} must be positive, not {value!r}")
        if name == "PORT" and not 0 < number < 65536:
            raise ConfigError(f"PORT must be between 1 and 65535, not {value!r}")
        return number
    if setting.kind == "bool":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, not {value!r}")
    if name == "MEDIAML_EMBED_STRATEGY" and value not in EMBED_STRATEGIES:
        raise ConfigError(
            f"MEDIAML_EMBED_STRATEGY must be one of {', '.join(EMBED_STRATEGIES)}, not {value!r}"
        )
    if name == "MEDIAML_EXPORT_PROFILE" and value not in EXPORT_PROFILES:
        raise ConfigError(
            f"MEDIAML_EXPORT_PROFILE must be one of {', '.join(EXPORT_PROFILES)}, not {value!r}"
        )
    if name == "MEDIAML_LOG_LEVEL":
        if value.upper() not in LOG_LEVELS:
            raise ConfigError(
                f"MEDIAML_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {value!r}"
            )
        return value.upper()
    if name == "DATABASE_URL" and not value.startswith(("postgres://", "postgresql://")):
        raise ConfigError(
            "DATABASE_URL must be a postgresql:// URL "
            f"(got one starting {value.split(':', 1)[0]!r})"
        )
    return value


def _cross_checks(settings: Settings, env: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    if settings.production:
        missing = [s.name for s in SETTINGS if s.required_in_production and _raw(env, s) is None]
        if missing:
            problems.append(
                "production mode needs these variables, which are not set: " + ", ".join(missing)
            )
        if settings.secret_key_base and len(settings.secret_key_base) < 32:
            problems.append("SECRET_KEY_BASE must be at least 32 characters in production")
    if settings.cloudfront_domain and not (
        settings.cloudfront_key_pair_id and settings.cloudfront_private_key
    ):
        gaps = [
            n
            for n, v in (
                ("CLOUDFRONT_KEY_PAIR_ID", settings.cloudfront_key_pair_id),
                ("CLOUDFRONT_PRIVATE_KEY", settings.cloudfront_private_key),
            )
            if not v
        ]
        problems.append("PROD_CLOUDFRONT_DOMAIN is set, so signed URLs need " + " and ".join(gaps))
    if settings.s3_bucket is not None:
        from mediaml.storage.keys import validate_bucket_name

        try:
            validate_bucket_name(settings.s3_bucket)
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


_current: Settings | None = None


def get_settings() -> Settings:
    """The settings of this process, read from ``os.environ`` on first use."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(settings: Settings | None) -> None:
    """Replace the process settings (``None`` re-reads the environment on next use)."""
    global _current
    _current = settings


def settings_markdown() -> str:
    """The variables table of ``docs/environment-operations.md``, generated from SETTINGS."""
    lines = [
        "| variable | fallback | default | required in production | meaning |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        fallback = ", ".join(f"`{f}`" for f in s.fallbacks) or ""
        default = f"`{s.default}`" if s.default is not None else ""
        required = "yes" if s.required_in_production else ""
        lines.append(f"| `{s.name}` | {fallback} | {default} | {required} | {s.help} |")
    return "\n".join(lines)
