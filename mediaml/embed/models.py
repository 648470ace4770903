"""Finding a model's files: ``MEDIAML_MODEL_DIR/<name>/`` first, then the Hugging Face cache,
then one download with ``huggingface_hub`` into that cache.

Nothing here falls back from one model to another. When the files cannot be found and
cannot be fetched (these machines are offline), :func:`find_model` raises one
:class:`~mediaml.errors.ModelError` that names the folder and every file it expects, so
the user knows exactly what to copy where.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mediaml.config import get_settings
from mediaml.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFiles:
    """Where a model's files live and which of them it needs.

    Attributes:
        folder: the folder name under ``MEDIAML_MODEL_DIR``.
        repo_id: the Hugging Face Hub repository with the same layout, if any.
        files: the relative paths that must all be present.
        revision: the repository commit that is looked up in the cache and downloaded,
            so a push to the repository never changes the model under a stored vector.
    """

    folder: str
    repo_id: str | None
    files: tuple[str, ...]
    revision: str | None = None

    def local_dir(self) -> Path:
        """``MEDIAML_MODEL_DIR/<folder>`` (the first place looked in)."""
        return get_settings().models_dir / self.folder

    def missing_in(self, directory: Path) -> list[str]:
        """The expected files that ``directory`` does not have."""
        return [f for f in self.files if not (directory / f).is_file()]


def _offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return value in ("1", "true", "yes", "on")


def _cached_dir(spec: ModelFiles) -> Path | None:
    """The Hugging Face cache snapshot holding every file of ``spec``, if there is one."""
    if spec.repo_id is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    found: list[Path] = []
    for name in spec.files:
        path = try_to_load_from_cache(spec.repo_id, name, revision=spec.revision)
        if not isinstance(path, str):
            return None
        found.append(Path(path))
    # Every file resolves inside one snapshot folder: strip the relative path off the first.
    root = found[0]
    for _ in Path(spec.files[0]).parts:
        root = root.parent
    return root


def check_model(spec: ModelFiles) -> tuple[bool, str]:
    """Whether the model's files are on this machine, without network access.

    Returns:
        ``(True, folder)`` or ``(False, what is missing where)``.
    """
    local = spec.local_dir()
    missing = spec.missing_in(local)
    if not missing:
        return True, f"found in {local}"
    try:
        cached = _cached_dir(spec)
    except (ImportError, OSError, ValueError) as exc:
        log.debug("Hugging Face cache lookup failed: %s", exc)
        cached = None
    if cached is not None:
        return True, f"found in the Hugging Face cache ({cached})"
    return False, _missing_message(spec, local, missing, reason=None)


def find_model(spec: ModelFiles, *, download: bool = True) -> Path:
    """The folder holding every file of ``spec``.

    Looks in ``MEDIAML_MODEL_DIR/<folder>``, then the Hugging Face cache, then (when
    ``download`` is true and ``HF_HUB_OFFLINE`` is not set) downloads the files once into
    the cache.

    Raises:
        ModelError: the files are not on this machine and cannot be downloaded; the
            message names the folder and the files expected in it.
    """
    local = spec.local_dir()
    missing = spec.missing_in(local)
    if not missing:
        return local
    ok, _ = check_model(spec)
    if ok:
        cached = _cached_dir(spec)
        assert cached is not None
        return cached
    if spec.repo_id is None or not download:
        raise ModelError(_missing_message(spec, local, missing, reason=None))
    if _offline():
        raise ModelError(_missing_message(spec, local, missing, reason="HF_HUB_OFFLINE is set"))
    return _download(spec, local, missing)


def _download(spec: ModelFiles, local: Path, missing: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    assert spec.repo_id is not None
    log.info("downloading %s from the Hugging Face Hub (once)", spec.repo_id)
    try:
        folder = Path(
            snapshot_download(spec.repo_id, revision=spec.revision, allow_patterns=list(spec.files))
        )
    except Exception as exc:
        # The hub client raises errors from several HTTP and OS layers; whichever it is,
        # the user needs the same answer: where to put the files by hand.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(_missing_message(spec, local, missing, reason=reason)) from None
    still_missing = spec.missing_in(folder)
    if still_missing:
        raise ModelError(
            _missing_message(
                spec, local, missing, reason=f"{spec.repo_id} lacks {', '.join(still_missing)}"
            )
        )
    return folder


def _missing_message(spec: ModelFiles, local: Path, missing: list[str], reason: str | None) -> str:
    partly = f" (missing: {', '.join(missing)})" if len(missing) < len(spec.files) else ""
    where = f"model {spec.folder!r} not found: {local} must hold {', '.join(spec.files)}{partly}"
    advice = f"copy the files there or set MEDIAML_MODEL_DIR to a folder with {spec.folder}/ in it"
    if spec.repo_id is None:
        return f"{where}; {advice}"
    if reason:
        fetch = f"downloading {spec.repo_id} from the Hugging Face Hub failed ({reason})"
    else:
        fetch = f"{spec.repo_id} is not in the Hugging Face cache either"
    return f"{where}; {fetch}; {advice}"


def file_digest(path: Path, length: int = 12) -> str:
    """The first ``length`` hex digits of the SHA-256 of a file, to identify weights."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
