"""The explore page on a catalogue too big to draw point by point: the server stays
responsive while the page builds, the map arrives as one raster, and a box selection of
the whole map lists its clips a page at a time."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.dashboard.conftest import screenshot, start_server, stop_server

pytestmark = pytest.mark.browser

CLIPS = 30_000
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
def big_server(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
    yield base
    stop_server(proc)
    pg_server.drop_database(name)


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    yield context.new_page()
    context.close()


MAP_DRAWN = """() => {
  const img = Bokeh.documents[0] && Bokeh.documents[0].get_model_by_name('mm-map-image');
  const pts = Bokeh.documents[0].get_model_by_name('mm-map');
  return !!img && img.data.image.length > 0 ? pts.data.clip_id.length : null;
}"""


def test_healthz_answers_while_explore_builds_and_selection_is_paged(
    page: Page, big_server: str
) -> None:
    answers: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            answers.append(requests.get(f"{big_server}/healthz", timeout=10).status_code)
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        page.goto(f"{big_server}/explore")
        shown = page.wait_for_function(MAP_DRAWN, timeout=60000).json_value()
    finally:
        stop.set()
        poller.join()
    assert answers and set(answers) <= {200, 503}, answers
    # 30,000 clips arrive as one image; none is sent as a separate point.
    assert shown == 0
    expect(page.locator(".mm-map-status")).to_contain_text("30,000 clips on the map")
    expect(page.locator(".mm-card").first).to_be_visible(timeout=20000)

    canvas = page.locator(".bk-Canvas").last
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 3, box["y"] + 35)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3, steps=6)
    page.mouse.up()
    selection = page.locator(".mm-selection")
    expect(selection).to_contain_text("clip(s) selected", timeout=20000)
    count = int(re.search(r"([\d,]+) clip", selection.inner_text()).group(1).replace(",", ""))
    assert count > CLIPS * 0.9
    expect(selection).to_contain_text("showing 1–24")
    cards = page.locator(".mm-selected ~ div .mm-card, .mm-card")
    screenshot(page, "explore-scale-selection")
    page.get_by_role("button", name="More clips ›").click()
    expect(selection).to_contain_text("showing 25–48")
    assert cards.count() <= 12 + 24 * 2  # the similar grid plus one page, never thousands

    # Zooming in far enough draws single clips, with hover thumbnails.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(40):
        page.mouse.wheel(0, -400)
    zoomed = page.wait_for_function(
        f"() => {{ const n = ({MAP_DRAWN})(); return n > 0 ? n : null; }}", timeout=30000
    ).json_value()
    assert 0 < zoomed <= 2000
