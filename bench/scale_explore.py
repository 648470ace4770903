"""Explore, ``clips()`` and export at catalogue scale: the issue-16 rows that are not search.

For each size (10k, 100k, optionally 1M clips) a catalogue is built once in an embedded
PostgreSQL under ``--data`` (default ``/tmp/mm-scale-explore``) and reused by later runs:
100 clips per source video, one keyframe per clip (every key points at one real JPEG),
clustered 512-dim unit vectors loaded by binary COPY, the HNSW index, and the stored
map (``mediaml.projections.update_maps``, timed). Then, in one run:

* ``/explore`` in headless Chromium (``mediaml serve`` in a subprocess): time until the
  similar grid and the map image are drawn, websocket bytes received, server CPU per
  load, server peak memory, ``/healthz`` latency polled while the page builds, and a
  box selection of the whole map until its cards are drawn; baseline: ``/status``
  ready in the same browser and server.
* ``mediaml.clips()`` first page (the default limit) and ``limit=None``; baseline: the
  same page of rows by raw SQL.
* ``export_parquet`` wall time and peak memory of a fresh process; baseline: a binary
  ``COPY`` of every exported table to nowhere in the same process.

Medians of ``--repeat`` (3) page loads. Run: ``python bench/scale_explore.py --sizes
10000,100000``. The functions are importable (``bench/scale.py`` reports them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402

MODEL = "bench-synthetic-512"
STRATEGY = "keyframe_multi_avg"
DIM = 512
PER_VIDEO, SCENES = 100, 10
KEYFRAME = "artifacts/keyframes/bench/keyframe.jpg"
CHROMIUM = "/usr/bin/chromium"
DATA = Path("/tmp/mm-scale-explore")


# -- the catalogue -----------------------------------------------------------------------


def pg_server(folder: Path) -> Any:
    """The bench's embedded PostgreSQL (kept between runs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver.get_server(folder, cleanup_mode="stop")


def clustered(n: int, seed: int, start: int = 0, count: int | None = None) -> np.ndarray:
    """Rows ``start:start+count`` of ``n`` unit vectors clustered video -> scene -> clip."""
    rng = np.random.default_rng(seed)
    videos = max(1, n // PER_VIDEO)
    centres = rng.standard_normal((videos, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    scenes = np.repeat(centres, SCENES, axis=0) + rng.standard_normal(
        (videos * SCENES, DIM), dtype=np.float32
    ) / np.sqrt(DIM)
    count = n - start if count is None else count
    owner = np.arange(start, start + count) // (PER_VIDEO // SCENES)
    noise = np.random.default_rng(seed + start + 1).standard_normal((count, DIM), dtype=np.float32)
    out = scenes[owner] + noise * 0.6 / np.sqrt(DIM)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Catalogue:
    n: int
    url: str
    data_dir: Path
    build: dict[str, float]


def catalogue(n: int, data: Path = DATA) -> Catalogue:
    """The ``n``-clip catalogue, built on first use (timed), reused afterwards."""
    from pgvector.psycopg import register_vector
    from PIL import Image

    from mediaml.db import Database
    from mediaml.db.migrate import upgrade
    from mediaml.embed.store import ensure_index
    from mediaml.projections import update_maps

    server = pg_server(data / "pg")
    name = f"explore_{n}"
    url = str(server.get_uri(name))
    data_dir = data / "mediaml"
    jpeg = data_dir / "media" / KEYFRAME
    if not jpeg.exists():
        jpeg.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (320, 180), (200, 90, 40)).save(jpeg, "JPEG")
    meta = data / f"{name}.json"
    if meta.exists():
        return Catalogue(n, url, data_dir, json.loads(meta.read_text()))
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    upgrade(url)
    build: dict[str, float] = {}
    print(f"building {n:,} clips ...", flush=True)
    start = time.perf_counter()
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute(
            "INSERT INTO source_videos (title, source_uri, fps_num, fps_den, frame_count,"
            " duration_s, state) SELECT 'bench video ' || i, 'bench://' || i, 25, 1, %s, %s,"
            " 'done' FROM generate_series(1, %s) i",
            (PER_VIDEO * 10, PER_VIDEO * 10 / 25, max(1, n // PER_VIDEO)),
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
            (KEYFRAME,),
        )
        ids = [r[0] for r in conn.execute("SELECT id FROM clips ORDER BY id")]
        step = 50_000
        with conn.cursor().copy(
            "COPY embeddings (clip_id, model_name, model_version, generation_strategy, part,"
            " dim, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "text", "text", "text", "int2", "int4", "vector"])
            for first in range(0, len(ids), step):
                block = clustered(len(ids), 7, first, min(step, len(ids) - first))
                for clip_id, vector in zip(ids[first : first + step], block, strict=True):
                    copy.write_row((clip_id, MODEL, "synthetic", STRATEGY, 0, DIM, vector))
        conn.commit()
        build["load_s"] = time.perf_counter() - start
        start = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '2GB'")
        ensure_index(conn, MODEL, STRATEGY, DIM)
        conn.commit()
        build["index_s"] = time.perf_counter() - start
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    db = Database(url, max_size=2)
    start = time.perf_counter()
    update_maps(db=db, method="PCA")
    build["map_s"] = time.perf_counter() - start
    db.close()
    meta.write_text(json.dumps(build))
    print(f"built: {build}", flush=True)
    return Catalogue(n, url, data_dir, build)


# -- clips() and export --------------------------------------------------------------------


def measure_clips(cat: Catalogue, repeat: int = 3) -> dict[str, float]:
    """``clips()`` first page and (up to 100k) every clip, vs the raw page by SQL."""
    from mediaml.catalog import CLIPS_LIMIT, clips
    from mediaml.db import Database

    db = Database(cat.url, max_size=2)
    raw, first, every = [], [], []
    with psycopg.connect(cat.url) as conn:
        for _ in range(repeat):
            t = time.perf_counter()
            conn.execute(
                "SELECT * FROM clips ORDER BY video_id, start_frame, id LIMIT %s", (CLIPS_LIMIT,)
            ).fetchall()
            raw.append(time.perf_counter() - t)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                clips(db=db)
                first.append(time.perf_counter() - t)
            if cat.n <= 100_000:
                t = time.perf_counter()
                clips(limit=None, db=db)
                every.append(time.perf_counter() - t)
    db.close()
    out = {"clips_first_page_s": statistics.median(first), "raw_page_s": statistics.median(raw)}
    if every:
        out["clips_all_s"] = statistics.median(every)
    return out


_EXPORT_CHILD = """
import json, resource, sys, time
from mediaml.db import Database
from mediaml.exchange import export_parquet
db = Database(sys.argv[1], max_size=1)
t = time.perf_counter()
counts = export_parquet(sys.argv[2], db=db)
print(json.dumps({"s": time.perf_counter() - t, "peak_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": counts}))
"""


def measure_export(cat: Catalogue) -> dict[str, float]:
    """``export_parquet`` in a fresh process (wall time, peak RSS, bytes written) against a
    binary COPY of the same tables to nowhere."""
    from mediaml.exchange import TABLES

    start = time.perf_counter()
    with psycopg.connect(cat.url) as conn, conn.cursor() as cur:
        for table in TABLES:
            with cur.copy(
                f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT (FORMAT BINARY)"
            ) as copy:
                for _ in copy:
                    pass
    copy_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(dir="/tmp") as out:
        done = subprocess.run(
            [sys.executable, "-c", _EXPORT_CHILD, cat.url, out],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        written = sum(p.stat().st_size for p in Path(out).iterdir())
    return {
        "export_s": result["s"],
        "export_peak_mb": result["peak_mb"],
        "export_written_mb": written / 2**20,
        "binary_copy_s": copy_s,
    }


# -- the explore page ------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class HealthPoller(threading.Thread):
    """Times ``/healthz`` back to back while a page builds."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base, self.times = base, []
        self.stop = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            t = time.perf_counter()
            session.get(f"{self.base}/healthz", timeout=60)
            self.times.append(time.perf_counter() - t)
            time.sleep(0.02)


MAP_DRAWN = """() => {
  const doc = window.Bokeh && Bokeh.documents[0];
  const img = doc && doc.get_model_by_name('mm-map-image');
  return !!img && img.data.image.length > 0;
}"""


def measure_explore(cat: Catalogue, repeat: int = 3) -> dict[str, float]:
    """/explore in Chromium against ``mediaml serve``; see the module doc."""
    from playwright.sync_api import sync_playwright

    from tests.dashboard.conftest import CHROMIUM_ARGS, start_server, stop_server

    env = {
        "DATABASE_URL": cat.url,
        "MEDIAML_DATA_DIR": str(cat.data_dir),
        "MEDIAML_EMBED_MODEL": MODEL,
        "MEDIAML_LOG_LEVEL": "WARNING",
    }
    proc, base = start_server(env)
    pid = proc.pid
    out: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        out.setdefault(key, []).append(value)

    try:
        idle = []
        for _ in range(20):
            t = time.perf_counter()
            requests.get(f"{base}/healthz", timeout=10)
            idle.append(time.perf_counter() - t)
        add("healthz_idle_ms", statistics.median(idle) * 1000)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for i in range(repeat + 1):  # the first load warms the server up; not counted
                context = browser.new_context(viewport={"width": 1300, "height": 1000})
                page = context.new_page()
                t = time.perf_counter()
                page.goto(f"{base}/status")
                page.wait_for_load_state("networkidle")
                status_s = time.perf_counter() - t
                received = [0]

                def on_ws(ws: Any, received: list[int] = received) -> None:
                    ws.on("framereceived", lambda p: received.__setitem__(0, received[0] + len(p)))

                page.on("websocket", on_ws)
                poller = HealthPoller(base)
                cpu = _cpu_seconds(pid)
                poller.start()
                t = time.perf_counter()
                page.goto(f"{base}/explore")
                page.locator(".mm-grid .mm-card, .mm-card").first.wait_for(timeout=120_000)
                page.wait_for_function(MAP_DRAWN, timeout=120_000)
                ready = time.perf_counter() - t
                poller.stop.set()
                poller.join()
                cpu = _cpu_seconds(pid) - cpu
                # Box-select the whole map.
                canvas = page.locator(".bk-Canvas").last
                canvas.scroll_into_view_if_needed()
                box = canvas.bounding_box()
                assert box is not None
                t = time.perf_counter()
                page.mouse.move(box["x"] + 3, box["y"] + 35)
                page.mouse.down()
                page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3, steps=5)
                page.mouse.up()
                page.locator(".mm-selection").wait_for(timeout=120_000)
                page.locator(".mm-selected ~ * .mm-card, .mm-card").last.wait_for(timeout=60_000)
                select_s = time.perf_counter() - t
                selected = page.locator(".mm-selection").inner_text()
                context.close()
                if i == 0:
                    continue
                add("status_s", status_s)
                add("explore_ready_s", ready)
                add("ws_kb", received[0] / 1024)
                add("server_cpu_s", cpu)
                add("healthz_max_ms", max(poller.times) * 1000)
                add("healthz_median_ms", statistics.median(poller.times) * 1000)
                add("select_all_s", select_s)
            browser.close()
        peak = _memory_mb(pid, "VmHWM")
    finally:
        stop_server(proc)
    result = {k: statistics.median(v) for k, v in out.items()}
    result["server_peak_mb"] = peak
    result["selection"] = selected  # type: ignore[assignment]
    return result


def report(rows: dict[int, dict[str, Any]]) -> str:
    """A markdown table, one column per size."""
    sizes = sorted(rows)
    names = [
        ("/explore ready (s)", "explore_ready_s"),
        ("baseline: /status ready (s)", "status_s"),
        ("ratio explore / status", "explore_vs_status"),
        ("explore server CPU per load (s)", "server_cpu_s"),
        ("server peak memory (MB)", "server_peak_mb"),
        ("websocket payload per load (KB)", "ws_kb"),
        ("/healthz idle median (ms)", "healthz_idle_ms"),
        ("/healthz during explore build, median / max (ms)", "healthz"),
        ("box-select whole map -> cards drawn (s)", "select_all_s"),
        ("`clips()` first page (s)", "clips_first_page_s"),
        ("baseline: same page by raw SQL (s)", "raw_page_s"),
        ("`clips(limit=None)` (s)", "clips_all_s"),
        ("`export_parquet` time (s)", "export_s"),
        ("baseline: binary COPY of the same tables (s)", "binary_copy_s"),
        ("`export_parquet` peak memory (MB)", "export_peak_mb"),
        ("Parquet written (MB)", "export_written_mb"),
        ("map build, `update_maps` from scratch (s)", "map_s"),
        ("load average (1 min)", "load"),
    ]
    lines = ["| measurement | " + " | ".join(f"{n:,}" for n in sizes) + " |"]
    lines.append("|---|" + "---|" * len(sizes))
    for label, key in names:
        cells = []
        for n in sizes:
            r = rows[n]
            if key == "healthz" and "healthz_max_ms" in r:
                cells.append(f"{r['healthz_median_ms']:.0f} / {r['healthz_max_ms']:.0f}")
            elif key == "explore_vs_status" and "status_s" in r:
                cells.append(f"{r['explore_ready_s'] / r['status_s']:.2f}")
            elif isinstance(r.get(key), float):
                cells.append(f"{r[key]:.3g}" if r[key] < 100 else f"{r[key]:.0f}")
            else:
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--skip", default="", help="comma list of: explore,clips,export")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    rows: dict[int, dict[str, Any]] = {}
    for n in (int(s) for s in args.sizes.split(",")):
        cat = catalogue(n, args.data)
        row: dict[str, Any] = {**cat.build}
        if "clips" not in skip:
            row.update(measure_clips(cat, args.repeat))
        if "export" not in skip:
            row.update(measure_export(cat))
        if "explore" not in skip:
            row.update(measure_explore(cat, args.repeat))
        row["load"] = os.getloadavg()[0]
        rows[n] = row
        print(json.dumps({n: row}, default=str), flush=True)
    print(report(rows))


if __name__ == "__main__":
    main()
