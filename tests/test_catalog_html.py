"""Notebook tables of clips: every text column is escaped, only thumbnails are markup."""

from __future__ import annotations

import io

import pandas as pd
from PIL import Image

from mediaml.catalog import ClipFrame
from mediaml.storage import LocalStore, set_store

HOSTILE = "<img src=x onerror=alert(1)>"


def test_hostile_titles_render_as_text_beside_real_thumbnails(tmp_path):
    store = LocalStore(tmp_path / "media", tmp_path / "cache")
    buf = io.BytesIO()
    Image.new("RGB", (32, 18), "red").save(buf, "JPEG")
    store.put_bytes(buf.getvalue(), "artifacts/keyframes/1/k.jpg")
    set_store(store)
    try:
        frame = ClipFrame(
            {
                "clip_id": [1, 2],
                "title": [HOSTILE, "fine & dandy"],
                "last_error": [None, "<script>alert(2)</script>"],
                "tags": [["<b>x</b>"], []],
                "state": pd.Categorical(["<i>odd</i>", "embedded"]),
                "keyframe_key": ["artifacts/keyframes/1/k.jpg", None],
            }
        )
        html = frame._repr_html_()
    finally:
        set_store(None)
    assert html is not None
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html and "<i>odd</i>" not in html
    assert "fine &amp; dandy" in html
    assert html.count('<img src="data:image/jpeg;base64,') == 1
