"""Execute the example notebooks, keep their outputs small and stable, and compare them.

The notebooks in ``notebooks/`` are stored executed, so a reader on GitHub sees tables,
thumbnails and plots. ``python -m tests.support.notebooks`` (``make notebooks``) runs every
notebook in a fresh working folder on a fresh embedded database, with no model variables
set (so with the offline descriptor unless CLIP's files are on the machine), and writes it
back without volatile metadata. ``tests/test_notebooks.py`` runs them the same way and
checks that what they show still matches what is stored.

Outputs are compared after :func:`normalise`: the working folder is cut out of paths,
embedded images become ``<image>`` and decimal numbers ``<number>`` (x264 and therefore
keyframes and descriptor values differ slightly between machines with different core
counts), so a change in columns, rows, ids, states, counts or errors is caught.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# What decides the model and where things live; unset for a run "as a new user would".
MODEL_VARIABLES = ("MEDIAML_EMBED_MODEL", "HF_HUB_OFFLINE", "MEDIAML_MODEL_DIR")
KEPT_NOTEBOOK_METADATA = ("kernelspec",)

_IMAGE = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")
_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?")
_SPACES = re.compile(r"[ \t]+")


def execute(path: Path, workdir: Path, env: dict[str, str] | None = None) -> Any:
    """Run the notebook at ``path`` with ``workdir`` as its current folder.

    Args:
        env: variables to set for the kernel (the others are inherited, minus
            :data:`MODEL_VARIABLES`).

    Returns:
        The executed notebook, cleaned with :func:`clean`.
    """
    book = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    try:
        for name in MODEL_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(env or {})
        NotebookClient(
            book,
            timeout=600,
            kernel_name="python3",
            record_timing=False,
            resources={"metadata": {"path": str(workdir)}},
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return clean(book, workdir)


def clean(book: Any, workdir: Path) -> Any:
    """Drop volatile metadata and make paths relative to the working folder."""
    book = copy.deepcopy(book)
    book.metadata = {k: v for k, v in book.metadata.items() if k in KEPT_NOTEBOOK_METADATA}
    prefixes = sorted({f"{workdir}/", f"{workdir.resolve()}/"}, key=len, reverse=True)
    for cell in book.cells:
        cell.metadata = {}
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _relative(output["text"], prefixes)
            for kind, value in output.get("data", {}).items():
                if isinstance(value, str) and kind.startswith("text/"):
                    output["data"][kind] = _relative(value, prefixes)
    return book


def _relative(text: str, prefixes: list[str]) -> str:
    for prefix in prefixes:
        text = text.replace(prefix, "")
    return text


def normalise(book: Any) -> list[list[str]]:
    """Per code cell, what it shows, with machine-dependent detail replaced."""
    cells = []
    for cell in book.cells:
        if cell.cell_type != "code":
            continue
        shown = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                shown.append(f"{output['name']}: {_plain(output['text'])}")
            elif kind == "error":
                shown.append(f"error: {output.get('ename')}: {output.get('evalue')}")
            else:
                data = output.get("data", {})
                for mime in sorted(data):
                    value = data[mime]
                    text = _plain(value) if isinstance(value, str) else "<json>"
                    shown.append(f"{mime}: {'<image>' if mime.startswith('image/') else text}")
        cells.append(shown)
    return cells


def _plain(text: str) -> str:
    text = _IMAGE.sub("<image>", text)
    text = _NUMBER.sub("<number>", text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines()).strip()


def refresh(paths: list[Path]) -> None:
    """Execute each notebook on a fresh embedded database and store it with its outputs."""
    for path in paths:
        # A short path: the embedded server's socket lives in the data dir. The server
        # stops when the kernel, its last user, exits.
        with tempfile.TemporaryDirectory(
            prefix="mmnb-", dir="/tmp", ignore_cleanup_errors=True
        ) as tmp:
            workdir = Path(tmp)
            book = execute(path, workdir, {"MEDIAML_DATA_DIR": str(workdir / "data")})
        nbformat.write(book, path)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    chosen = [Path(a).resolve() for a in sys.argv[1:]] or NOTEBOOKS
    refresh(chosen)
