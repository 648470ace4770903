"""The one embedding model policy: which model the pipeline, the CLI, notebooks, workers
and the demo embed with, decided once per process before any clip is embedded.

``MEDIAML_EMBED_MODEL`` is a model name or ``auto`` (the default):

* a model name means exactly that model; if it cannot be loaded, embedding fails with
  the loader's message (what to copy where);
* ``auto`` in development means CLIP ViT-B/32 when its files are on this machine
  (``MEDIAML_MODEL_DIR`` or the Hugging Face cache; nothing is downloaded to find out),
  otherwise the offline descriptor model, announced once with what to do to get CLIP;
* ``auto`` in production means CLIP, and :func:`require_model` makes the worker and web
  processes refuse to boot when it cannot be loaded, like a missing variable.

Every stored vector records the ``model_name`` that made it, and searches only ever
compare vectors of one model, so a fallback never mixes models.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mediaml.config import Settings, get_settings
from mediaml.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

AUTO = "auto"
# What ``auto`` prefers, and what it falls back to in development.
PREFERRED = "clip-vit-base-patch32"
FALLBACK = "mediaml-descriptor-v1"


@dataclass(frozen=True)
class ModelChoice:
    """The model a process embeds with, and why.

    Attributes:
        name: the model name used (and stored with every vector).
        configured: the value of ``MEDIAML_EMBED_MODEL``.
        reason: one line saying why this model, and what to do to get another.
        fallback: whether ``auto`` fell back from CLIP to the descriptor.
    """

    name: str
    configured: str
    reason: str
    fallback: bool = False


Availability = Callable[[str], tuple[bool, str]]


def choose_model(
    configured: str, *, production: bool, available: Availability, models_dir: Path
) -> ModelChoice:
    """Decide the model for ``MEDIAML_EMBED_MODEL=configured`` (pure: no I/O of its own).

    Args:
        configured: a model name or ``auto``.
        production: whether the process runs in production (no fallback there).
        available: ``model -> (available, where or what is missing)``, offline.
        models_dir: ``MEDIAML_MODEL_DIR`` (named in the fallback notice).
    """
    if configured != AUTO:
        return ModelChoice(configured, configured, f"MEDIAML_EMBED_MODEL={configured}")
    ok, where = available(PREFERRED)
    if ok:
        return ModelChoice(PREFERRED, AUTO, f"{PREFERRED} ({where})")
    if production:
        # Production never falls back: the boot check loads (or downloads) CLIP or stops.
        return ModelChoice(PREFERRED, AUTO, f"{PREFERRED} (production: no fallback)")
    # A folder with some of the files (a copy or download cut short): name what is missing.
    missing = re.search(r"\(missing: ([^)]*)\)", where)
    absent = (
        f"{models_dir / PREFERRED} lacks {missing.group(1)}"
        if missing
        else f"{PREFERRED} is not on this machine"
    )
    return ModelChoice(
        FALLBACK,
        AUTO,
        f"{absent}, so clips are embedded with the offline "
        f"{FALLBACK} model (similar colours, layout and texture; no text search). "
        f"To use CLIP, put its files in {models_dir / PREFERRED} (see docs/embeddings.md) or run once "
        f"with network access and MEDIAML_EMBED_MODEL={PREFERRED} to download them; "
        f"set MEDIAML_EMBED_MODEL={FALLBACK} to keep the descriptor without this notice",
        fallback=True,
    )


_CHOSEN: dict[tuple[str, str, bool], ModelChoice] = {}
_LOCK = threading.Lock()


def model_choice(settings: Settings | None = None) -> ModelChoice:
    """The model this process embeds with, decided once per configuration.

    The first call in a process decides and, when ``auto`` fell back to the descriptor,
    logs one warning that says what to do; later calls return the same choice.
    """
    from mediaml.embed.embedder import model_available

    settings = settings or get_settings()
    key = (settings.embed_model, str(settings.models_dir), settings.production)
    with _LOCK:
        choice = _CHOSEN.get(key)
        if choice is None:
            choice = choose_model(
                settings.embed_model,
                production=settings.production,
                available=model_available,
                models_dir=settings.models_dir,
            )
            _CHOSEN[key] = choice
            if choice.fallback:
                log.warning("%s", choice.reason)
            else:
                log.info("embedding model: %s", choice.reason)
    return choice


def default_model(settings: Settings | None = None) -> str:
    """The model name used when none is given (``MEDIAML_EMBED_MODEL`` with ``auto`` resolved)."""
    return model_choice(settings).name


def require_model(settings: Settings) -> ModelChoice:
    """Load the configured model now; for production boots, which must not start without it.

    Raises:
        ConfigError: the model cannot be loaded; the message says what to copy where.
    """
    from mediaml.embed.embedder import get_embedder

    choice = model_choice(settings)
    try:
        get_embedder(choice.name)
    except ModelError as exc:
        raise ConfigError(
            f"MEDIAML_EMBED_MODEL={settings.embed_model}: the embedding model cannot be "
            f"loaded: {exc}"
        ) from None
    return choice


def forget_choices() -> None:
    """Decide again on the next call (after model files were added, and in tests)."""
    with _LOCK:
        _CHOSEN.clear()
