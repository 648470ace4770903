"""Every notebook in notebooks/ runs top to bottom on generated media, offline."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("MEDIAML_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEDIAML_EMBED_MODEL", "mediaml-descriptor-v1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    book = nbformat.read(path, as_version=4)
    NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        out
        for cell in book.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    # Notebooks show their results: every code cell but imports printed something.
    shown = [c for c in book.cells if c.cell_type == "code" and c.get("outputs")]
    assert len(shown) >= len([c for c in book.cells if c.cell_type == "code"]) // 2
