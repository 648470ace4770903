"""The explore page on a catalogue too big to draw point by point (5,000 clips, over the
2,000 drawn one by one): the server stays responsive while the page builds, the map
arrives as one raster, a box selection of the whole map lists its clips a page at a
time, and the pointer over the raster shows the nearest clip (looked up on the server).
bench/scale.py measures the same page at 10k, 100k and 1M clips."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import requests
from pgvector.psycopg import register_vector
from PIL import Image
from playwright.sync_api import Page, expect

from mediaml.db import Database
from mediaml.projections import update_maps
from tests.conftest import PgServer
from tests.dashboard.browser import drag_across_map, selected_count
from tests.dashboard.conftest import screenshot, start_server, stop_server

pytestmark = pytest.mark.browser

CLIPS = 5_000  # more than POINTS_SHOWN (2,000): drawn as one raster
PER_VIDEO = 100
MODEL = "synthetic-64"
KEY = "artifacts/keyframes/synthetic/keyframe.jpg"


def fill(url: str, media: Path) -> None:
    """CLIPS embedded clips in clusters (one per source video), one keyframe each."""
    media.joinpath(KEY).parent.mkdir(parents=True)
    Image.new("RGB", (64, 36), (30, 120, 200)).save(media / KEY, "JPEG")
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(CLIPS // PER_VIDEO, 64)).astype(np.float32)
    vectors = np.repeat(centres, PER_VIDEO, axis=0) + rng.normal(
        scale=0.3, size=(CLIPS, 64)
    ).astype(np.float32)
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute(
            "INSERT INTO source_videos (title, source_uri, fps_num, fps_den, frame_count, state)"
            " SELECT 'synthetic ' || i, 'synthetic://' || i, 25, 1, 1000, 'done'"
            " FROM generate_series(1, %s) i",
            (CLIPS // PER_VIDEO,),
        )
        conn.execute(
            "INSERT INTO clips (video_id, start_frame, end_frame, start_time, end_time, state)"
            " SELECT v.id, j * 10, j * 10 + 10, j * 0.4, j * 0.4 + 0.4, 'embedded'"
            " FROM source_videos v CROSS JOIN generate_series(0, %s) j ORDER BY v.id, j",
            (PER_VIDEO - 1,),
        )
        conn.execute(
            "INSERT INTO clip_artifacts (clip_id, kind, frame, key)"
            " SELECT id, 'keyframe', start_frame + 5, %s FROM clips",
            (KEY,),
        )
        ids = [r[0] for r in conn.execute("SELECT id FROM clips ORDER BY id")]
        with conn.cursor().copy(
            "COPY embeddings (clip_id, model_name, model_version, generation_strategy, part,"
            " dim, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "text", "text", "text", "int2", "int4", "vector"])
            for clip_id, vector in zip(ids, vectors, strict=True):
                copy.write_row((clip_id, MODEL, "v1", "keyframe_multi_avg", 0, 64, vector))


@pytest.fixture(scope="module")
def big_server(
    pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The dashboard's base URL and its database's URL."""
    name = pg_server.create_database()
    url = pg_server.url(name)
    data = tmp_path_factory.mktemp("big")
    fill(url, data / "media")
    db = Database(url, max_size=1)
    update_maps(db=db, method="PCA")  # what the update_maps job does on a worker
    db.close()
    proc, base = start_server(
        {
            "DATABASE_URL": url,
            "MEDIAML_DATA_DIR": str(data),
            "MEDIAML_EMBED_MODEL": MODEL,
            "MEDIAML_LOG_LEVEL": "WARNING",
        }
    )
    yield base, url
    stop_server(proc)
    pg_server.drop_database(name)


MAP_DRAWN = """() => {
  const doc = window.Bokeh && Bokeh.documents[0];
  if (!doc) return null;  // the page is still loading
  const img = doc.get_model_by_name('mm-map-image');
  const pts = doc.get_model_by_name('mm-map');
  // An object, not the bare count: wait_for_function waits for a truthy value, and 0
  // separate points is the answer expected while the map is one raster.
  return !!img && img.data.image.length > 0 ? {points: pts.data.clip_id.length} : null;
}"""


# Where a point of the map (data coordinates) is on screen, from the figure's view.
TO_SCREEN = """([x, y]) => {
  function* walk(v) { yield v; if (v.children) for (const c of v.children()) yield* walk(c); }
  for (const root of Object.values(Bokeh.index))
    for (const v of walk(root))
      if (v.model && v.model.type === 'Figure') {
        const r = v.canvas_view.el.getBoundingClientRect();
        return [r.left + v.frame.x_scale.compute(x), r.top + v.frame.y_scale.compute(y)];
      }
  return null;
}"""


def test_healthz_answers_while_explore_builds_and_selection_is_paged(
    page: Page, big_server: tuple[str, str]
) -> None:
    base, url = big_server
    answers: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            answers.append(requests.get(f"{base}/healthz", timeout=10).status_code)
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        page.goto(f"{base}/explore")
        try:
            shown = page.wait_for_function(MAP_DRAWN, timeout=60000).json_value()["points"]
        except Exception:
            screenshot(page, "explore-scale-timeout")
            raise
    finally:
        stop.set()
        poller.join()
    assert answers and set(answers) <= {200, 503}, answers
    # The clips arrive as one image; none is sent as a separate point.
    assert shown == 0
    expect(page.locator(".mm-map-status")).to_contain_text(f"{CLIPS:,} clips on the map")
    expect(page.locator(".mm-card").first).to_be_visible(timeout=20000)

    drag_across_map(page)
    assert selected_count(page) > CLIPS * 0.9
    selection = page.locator(".mm-selection")
    expect(selection).to_contain_text("showing 1–24")
    cards = page.locator(".mm-selected ~ div .mm-card, .mm-card")
    screenshot(page, "explore-scale-selection")
    page.get_by_role("button", name="More clips ›").click()
    expect(selection).to_contain_text("showing 25–48")
    assert cards.count() <= 12 + 24 * 2  # the similar grid plus one page, never thousands

    # Over the raster, the clip nearest the pointer is looked up on the server and shown.
    with psycopg.connect(url) as conn:
        where = {
            c: (x, y) for c, x, y in conn.execute("SELECT clip_id, x, y FROM clip_projections")
        }
    target = next(iter(where))
    spot = page.evaluate(TO_SCREEN, list(where[target]))
    page.mouse.move(spot[0] - 20, spot[1] - 20)
    page.mouse.move(spot[0], spot[1], steps=4)
    probe = page.locator(".mm-probe")  # inside the pane's shadow root
    expect(probe).to_contain_text("Nearest the pointer: #", timeout=15000)

    def pixels_away() -> float:
        """How far from the pointer the clip shown is drawn (earlier moves' answers may
        still be arriving: the latest position is looked up last)."""
        shown = int(re.search(r"#(\d+)", probe.inner_text()).group(1))
        at = page.evaluate(TO_SCREEN, list(where[shown]))
        return float(np.hypot(at[0] - spot[0], at[1] - spot[1]))

    deadline = time.monotonic() + 15
    while pixels_away() > 3 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    # The clip under the pointer, or one drawn within a pixel or two of it.
    assert pixels_away() <= 3, (probe.inner_text(), target)
    screenshot(page, "explore-scale-probe")
