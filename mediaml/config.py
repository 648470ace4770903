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
from dataclasses import dataclass, field, fields, replace
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
    Queue("default", 10, "ingest; the scheduler runs where this queue is consumed"),
    Queue("media_processing", 5, "download, encode + detect, export, keyframes, embeddings"),
    Queue("background_jobs", 2, "the dispatcher"),
    Queue("temp_clips", 3, "temp clip prefetch for review playback"),
    Queue("maintenance", 1, "playback cache cleanup"),
)
QUEUE_NAMES: tuple[str, ...] = tuple(q.name for q in QUEUES)
QUEUE_CONCURRENCY: dict[str, int] = {q.name: q.concurrency for q in QUEUES}


def parse_queues(value: str | None) -> tuple[str, ...]:
    """Parse ``MEDIAML_QUEUES``: a comma list, trimmed, de-duplicated, empties ignored.

    Args:
        value: the raw variable, or None when unset.

    Returns:
        The selected queue names in the order first given; empty when unset or empty
        (:func:`load_settings` then applies the run mode's rule, see ``MEDIAML_QUEUES``).

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
    return tuple(names)


def default_queues(production: bool) -> tuple[str, ...]:
    """The queues a process consumes when ``MEDIAML_QUEUES`` is unset.

    In development every queue, so one machine does all the work (as the seed does
    outside production). In production none: the operator chooses per service (web:
    ``default``; workers: the others), and :class:`mediaml.jobs.worker.Worker` refuses
    to start without a choice.
    """
    return () if production else QUEUE_NAMES


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
    help: str
    default: str | None = None
    fallbacks: tuple[str, ...] = ()
    required_in_production: bool = False
    secret: bool = False  # kept out of reprs and logs
    kind: str = "str"  # str | int | float | bool | path | queues | scheduler | env
    attr: str = ""  # the Settings field it fills; set from the field it declares

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.fallbacks)


def setting(name: str, help: str, **options: Any) -> Any:
    """Declare a :class:`Settings` field and the environment variable that fills it.

    The field and the variable are one declaration: :data:`SETTINGS` is derived from the
    fields, so a setting cannot exist in one place and not the other. Secret settings are
    left out of the dataclass ``repr``.
    """
    spec = Setting(name, help, **options)
    return field(repr=not spec.secret, metadata={"setting": spec})


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one process. Build it with :func:`load_settings`.

    Each field declares its environment variable with :func:`setting`.
    """

    env: str = setting(
        "MEDIAML_ENV",
        "Run mode: `development` (default) or `production`. `APP_ENV` is read as a "
        "fallback. Production fails fast at boot naming every missing required variable.",
        default="development",
        fallbacks=("APP_ENV",),
        kind="env",
    )
    database_url: str | None = setting(
        "DATABASE_URL",
        "PostgreSQL connection URL. Unset: an embedded PostgreSQL with pgvector is "
        "started in the data dir and shared by every process on the machine.",
        fallbacks=("PROD_DATABASE_URL",),
        required_in_production=True,
        secret=True,
    )
    secret_key_base: str | None = setting(
        "SECRET_KEY_BASE",
        "Secret that signs dashboard cookies and sessions (at least 32 characters in production).",
        required_in_production=True,
        secret=True,
    )
    public_host: str | None = setting(
        "PUBLIC_HOST",
        "Public hostname used to build absolute URLs (the seed called it `PHX_HOST`).",
        fallbacks=("PHX_HOST",),
        required_in_production=True,
    )
    s3_bucket: str | None = setting(
        "PROD_S3_BUCKET_NAME",
        "S3 bucket holding all media. Unset: media live in `<data dir>/media`.",
        required_in_production=True,
    )
    cloudfront_domain: str | None = setting(
        "PROD_CLOUDFRONT_DOMAIN",
        "CloudFront domain in front of the bucket; media URLs are then CloudFront signed "
        "URLs instead of S3 presigned URLs.",
        required_in_production=True,
    )
    cloudfront_key_pair_id: str | None = setting(
        "CLOUDFRONT_KEY_PAIR_ID",
        "CloudFront public key (key pair) id used to sign media URLs; needed when "
        "`PROD_CLOUDFRONT_DOMAIN` is set.",
    )
    cloudfront_private_key: str | None = setting(
        "CLOUDFRONT_PRIVATE_KEY",
        "PEM private key matching `CLOUDFRONT_KEY_PAIR_ID`, either the PEM text itself or "
        "a path to a PEM file.",
        secret=True,
    )
    aws_access_key_id: str | None = setting(
        "AWS_ACCESS_KEY_ID",
        "AWS access key for S3.",
        required_in_production=True,
        secret=True,
    )
    aws_secret_access_key: str | None = setting(
        "AWS_SECRET_ACCESS_KEY",
        "AWS secret key for S3.",
        required_in_production=True,
        secret=True,
    )
    aws_region: str | None = setting(
        "AWS_REGION",
        "AWS region of the bucket.",
        required_in_production=True,
    )
    s3_endpoint_url: str | None = setting(
        "MEDIAML_S3_ENDPOINT_URL",
        "Endpoint of an S3-compatible server (MinIO, moto, R2). Unset: AWS S3.",
    )
    queues: tuple[str, ...] = setting(
        "MEDIAML_QUEUES",
        "Comma-separated queues this process consumes (the seed's `OBAN_QUEUES`). Unset: "
        "every queue in development; in production a worker refuses to start until it is "
        "set (web: `default`; workers: the others). Unknown names fail at boot.",
        kind="queues",
    )
    scheduler: bool = setting(
        "MEDIAML_SCHEDULER",
        "`true`/`false`: schedule the periodic jobs here (the seed's `OBAN_SCHEDULER`). "
        "Unset: on exactly when `default` is consumed.",
        kind="scheduler",
    )
    data_dir: Path = setting(
        "MEDIAML_DATA_DIR",
        "Where the embedded database, local media and caches live. Default: the per-user "
        "data dir (`~/.local/share/mediaml` on Linux).",
        kind="path",
    )
    model_dir: Path | None = setting(
        "MEDIAML_MODEL_DIR",
        "Where embedding models are looked up (`<dir>/<model name>/`). Unset: `<data "
        "dir>/models`, then the Hugging Face cache.",
        kind="path",
    )
    embed_model: str = setting(
        "MEDIAML_EMBED_MODEL",
        "Embedding model: a model name, or `auto`: CLIP ViT-B/32 when its files are on "
        "this machine, else (development only, with one notice) the offline "
        "`mediaml-descriptor-v1`. In production `auto` means CLIP, which must load at boot. "
        "The backfill stage makes sure every embedded clip has this model's vectors.",
        default="auto",
    )
    detector: str = setting(
        "MEDIAML_DETECTOR",
        "Shot detector: `mediaml` (built in, runs inside the encode) or the name of a "
        "detector plugin (entry-point group `mediaml.detectors`, see docs/plugins.md).",
        default="mediaml",
    )
    embed_strategy: str = setting(
        "MEDIAML_EMBED_STRATEGY",
        "Default embedding generation strategy: `keyframe_multi_avg`, `keyframe_single` "
        "or `keyframe_multi`.",
        default="keyframe_multi_avg",
    )
    export_profile: str = setting(
        "MEDIAML_EXPORT_PROFILE",
        "How approved clips are exported: `proxy_copy` (stream copy from the review "
        "proxy: fast, frame-exact) or `master_quality` (re-encode from the master).",
        default="proxy_copy",
    )
    shutdown_grace: float = setting(
        "MEDIAML_SHUTDOWN_GRACE",
        "Seconds a worker gives running tasks after SIGTERM/SIGINT before it releases "
        "their items for another worker.",
        default="25",
        kind="float",
    )
    dispatch_interval: float = setting(
        "MEDIAML_DISPATCH_INTERVAL",
        "Seconds between dispatcher runs.",
        default="60",
        kind="float",
    )
    cleanup_interval: float = setting(
        "MEDIAML_CLEANUP_INTERVAL",
        "Seconds between playback cache cleanups.",
        default="300",
        kind="float",
    )
    map_interval: float = setting(
        "MEDIAML_MAP_INTERVAL",
        "Seconds between updates of the explore maps (new clips placed on them).",
        default="300",
        kind="float",
    )
    lease_seconds: float = setting(
        "MEDIAML_LEASE_SECONDS",
        "How long an in-flight item may go without a heartbeat before the dispatcher "
        "(or the next `mediaml run`) takes it up again. A running step renews it every "
        "third of this, so a short lease loses nothing: a killed worker's item is back "
        "within this plus `MEDIAML_DISPATCH_INTERVAL` (under 2 minutes by default).",
        default="45",
        kind="float",
    )
    playback_cache_max_age: float = setting(
        "MEDIAML_PLAYBACK_CACHE_MAX_AGE",
        "Seconds a temp clip may stay in the playback cache.",
        default="900",
        kind="float",
    )
    playback_cache_max_bytes: int = setting(
        "MEDIAML_PLAYBACK_CACHE_MAX_BYTES",
        "Size above which the playback cache evicts least recently used files.",
        default="1073741824",
        kind="int",
    )
    object_cache_max_age: float = setting(
        "MEDIAML_OBJECT_CACHE_MAX_AGE",
        "Seconds an unused local copy of a stored object (original, master, proxy, "
        "keyframe) may stay in `<data dir>/cache/objects` when the store is S3.",
        default="86400",
        kind="float",
    )
    object_cache_max_bytes: int = setting(
        "MEDIAML_OBJECT_CACHE_MAX_BYTES",
        "Size above which the local object cache evicts least recently used copies "
        "(files a running step holds are never evicted).",
        default="10737418240",
        kind="int",
    )
    min_free_disk_bytes: int = setting(
        "MEDIAML_MIN_FREE_DISK_BYTES",
        "Free disk below which cleanup logs a warning.",
        default="524288000",
        kind="int",
    )
    max_download_bytes: int = setting(
        "MEDIAML_MAX_DOWNLOAD_BYTES",
        "Largest download accepted by ingest (and largest upload through the dashboard).",
        default="21474836480",
        kind="int",
    )
    ytdl_max_height: int | None = setting(
        "MEDIAML_YTDL_MAX_HEIGHT",
        "Preferred largest video height for pages fetched with yt-dlp, e.g. `1080` (taller "
        "formats are taken only when nothing else exists). Unset: the best quality "
        "available, uncapped.",
        kind="int",
    )
    auth_users: str | None = setting(
        "MEDIAML_AUTH_USERS",
        "Dashboard logins as `user:password` pairs separated by commas, or a path to a "
        "JSON file of `{user: password}`. Required for the web role in production.",
        secret=True,
    )
    login_free_attempts: int = setting(
        "MEDIAML_LOGIN_FREE_ATTEMPTS",
        "Failed dashboard logins allowed per user name and per client address before "
        "each further failure locks that name or address out.",
        default="5",
        kind="int",
    )
    login_lockout_seconds: float = setting(
        "MEDIAML_LOGIN_LOCKOUT_SECONDS",
        "First login lockout in seconds; it doubles with every further failure, up to 15 minutes.",
        default="30",
        kind="float",
    )
    log_level: str = setting(
        "MEDIAML_LOG_LEVEL",
        "Log level: DEBUG, INFO, WARNING or ERROR.",
        default="INFO",
    )
    port: int = setting(
        "PORT",
        "Port the web role listens on (Render sets it).",
        default="5006",
        kind="int",
    )

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


SETTINGS: tuple[Setting, ...] = tuple(
    replace(f.metadata["setting"], attr=f.name) for f in fields(Settings)
)
"""Every environment variable mediaml reads, in declaration order."""
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


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

    values["queues"] = values.get("queues") or default_queues(values.get("env") == "production")
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
        queues = so_far.get("queues") or default_queues(so_far.get("env") == "production")
        return parse_scheduler(value, queues)
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
