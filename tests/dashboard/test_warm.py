"""What `mediaml serve` imports before it starts answering, so that its first pages do
not (``dashboards.server.warm_first_use``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Library, start_server, stop_server

pytestmark = pytest.mark.browser

# `mediaml serve` as usual, except that the modules loaded when it freezes its start-up
# objects (gc.freeze, just before the event loop starts) are remembered, and the ones
# loaded after that are written to MODULES_OUT when the server stops.
SERVE = """
import gc, json, os, sys
from runners.web import serve_command
frozen = set()
freeze = gc.freeze
def remember_and_freeze():
    frozen.update(sys.modules)
    freeze()
gc.freeze = remember_and_freeze
try:
    serve_command(sys.argv[1:])
finally:
    with open(os.environ["MODULES_OUT"], "w") as out:
        json.dump({"frozen": len(frozen), "later": sorted(set(sys.modules) - frozen)}, out)
"""

LATE_ON_PURPOSE = {"onnxruntime", "imageio_ffmpeg", "encodings"}
MAP_DRAWN = """() => {
  const doc = window.Bokeh && Bokeh.documents[0];
  const img = doc && doc.get_model_by_name('mm-map-image');
  return !!img && img.data.image.length > 0;
}"""


def test_the_first_explore_and_status_pages_import_nothing(
    library: Library, browser: Any, tmp_path: Path
) -> None:
    out = tmp_path / "modules.json"
    proc, base = start_server({**library.env, "MODULES_OUT": str(out)}, ("-c", SERVE))
    try:
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = context.new_page()
        page.goto(f"{base}/explore")
        expect(page.locator(".mm-card").first).to_be_visible(timeout=60_000)
        page.wait_for_function(MAP_DRAWN, timeout=60_000)
        page.goto(f"{base}/status")
        expect(page.locator(".tabulator-row").first).to_be_visible(timeout=60_000)
        context.close()
    finally:
        stop_server(proc)
    modules = json.loads(out.read_text())
    assert modules["frozen"] > 1000  # the server's own imports were seen
    # Loaded late on purpose: the embedding model's runtime (with the model, on the first
    # search that needs it) and the FFmpeg wheel (only looked up when ffmpeg is not on
    # PATH). Text codecs are looked up by name on first use, which ones depends on the
    # machine's locale and data, and cost microseconds.
    later = [m for m in modules["later"] if m.split(".")[0] not in LATE_ON_PURPOSE]
    assert later == []
