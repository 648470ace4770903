"""The explore, ``clips()`` and export rows of ``bench/scale.py`` (issue 16), on the
catalogues of ``bench/_catalogue.py``.

:func:`prepare` gives a catalogue what these rows need beyond vectors (once, kept in the
cached database): a keyframe per clip (every key points at one real JPEG) and the stored
map (``mediaml.projections.update_maps``, timed when first built). Then:

* ``/explore`` in headless Chromium against ``mediaml serve`` in a subprocess: time until
  the similar grid and the map image are drawn (median of 3 after a warm-up load), with
  ``/status`` loaded the same way as the baseline; the warm-up load on its own, the
  first explore page after the server's start (ready, server and Postgres CPU,
  ``/healthz`` p95 / max): the one a user who has just started ``mediaml serve`` sees; websocket bytes received; server CPU
  per load, and Postgres's (the catalogue's backends: the pages' queries, and the search
  warm-up the server starts with); server peak memory; ``/healthz`` polled back to back
  while the page builds, from a process of its own (idle latency as baseline), and a
  control server's
  ``/healthz`` polled the same way at the same time (see :data:`_CONTROL_CHILD`); a box
  selection of the whole map until its cards are drawn.
* ``mediaml.clips()`` first page (the default limit), against the same page by raw SQL;
  ``clips(limit=None)`` up to 100k.
* ``export_parquet`` in a fresh process: wall time, peak memory, bytes written, against a
  binary ``COPY`` of the same tables to nowhere.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests
from _catalogue import CACHE, Catalogue, _meta, _record, progress

ROOT = Path(__file__).resolve().parents[1]
KEYFRAME = "artifacts/keyframes/bench/keyframe.jpg"
DATA_DIR = CACHE / "explore-data"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# Explore loads after the warm-up load: 3, or MEDIAML_BENCH_EXPLORE_LOADS (A/B runs of
# the `/healthz` tail need more polls than 3 loads give: ~40 each).
REPEAT = int(os.environ.get("MEDIAML_BENCH_EXPLORE_LOADS", "3"))
# When set, a file to which explore_page writes every load's figures and polls (JSON).
DUMP = os.environ.get("MEDIAML_BENCH_EXPLORE_DUMP")
Row = dict[str, str]


_MAP_CHILD = """
import sys, time
from mediaml.db import Database
from mediaml.projections import update_maps
db = Database(sys.argv[1], max_size=1)
t = time.perf_counter()
done = update_maps(db=db, method="PCA")
result = {"s": time.perf_counter() - t, "done": done}
"""

# Appended to every child's code: its ``result`` with the peak memory of the child's own
# address space (VmHWM, which exec starts afresh). Not ru_maxrss: Linux carries the
# parent's high-water mark over fork and exec into it, so a child of this benchmark
# holding a 1M catalogue's vectors reported 3.5 GB whatever it did itself.
_RESULT = """
import json
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({**result, "peak_mb": hwm / 1024}))
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh Python process (so its peak memory is its own): it leaves
    a dict in ``result``, returned here with the process's peak memory as ``peak_mb``."""
    done = subprocess.run(
        [sys.executable, "-c", code + _RESULT, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def prepare(cat: Catalogue) -> None:
    """Keyframes and the stored map for ``cat`` (idempotent; the map build is timed once,
    in a fresh process so its peak memory is its own)."""
    from PIL import Image

    from mediaml.db.migrate import upgrade

    jpeg = DATA_DIR / "media" / KEYFRAME
    if not jpeg.exists():
        jpeg.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (320, 180), (200, 90, 40)).save(jpeg, "JPEG")
    upgrade(cat.url)
    with psycopg.connect(cat.url) as conn:
        if "map_build_s" in _meta(conn):
            return
        progress("keyframes and the map ...")
        conn.execute(
            "INSERT INTO clip_artifacts (clip_id, kind, frame, key)"
            " SELECT id, 'keyframe', start_frame + 5, %s FROM clips ON CONFLICT DO NOTHING",
            (KEYFRAME,),
        )
        conn.commit()
        result = _child(_MAP_CHILD, cat.url)
        progress(f"map: {result}")
        _record(conn, "map_build_s", result["s"])
        _record(conn, "map_build_peak_mb", result["peak_mb"])
        conn.commit()
    with psycopg.connect(cat.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE clip_artifacts")
        conn.execute("VACUUM ANALYZE clip_projections")


def map_build(cat: Catalogue) -> Row:
    """The stored map: ``update_maps`` from scratch (fit on a sample, place every clip)."""
    prepare(cat)
    with psycopg.connect(cat.url) as conn:
        cat.meta.update(_meta(conn))
    peak = cat.meta.get("map_build_peak_mb")
    memory = f" / {peak:,.0f} MB peak" if peak is not None else ""
    return {"map build, `update_maps` from scratch": cat.built_note("map_build_s") + memory}


# -- clips() and export --------------------------------------------------------------------


def clips_page(cat: Catalogue) -> Row:
    """``clips()`` first page (the default limit) against the same rows by raw SQL."""
    from mediaml.catalog import CLIPS_LIMIT, clips
    from mediaml.db import Database

    db = Database(cat.url, max_size=1)
    raw, first, every = [], [], []
    with psycopg.connect(cat.url) as conn:
        for _ in range(REPEAT):
            t = time.perf_counter()
            conn.execute(
                "SELECT * FROM clips c JOIN source_videos v ON v.id = c.video_id"
                " WHERE c.state <> 'archived' ORDER BY c.video_id, c.start_frame, c.id LIMIT %s",
                (CLIPS_LIMIT,),
            ).fetchall()
            raw.append(time.perf_counter() - t)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                clips(db=db)
                first.append(time.perf_counter() - t)
            if cat.size <= 100_000:
                t = time.perf_counter()
                clips(limit=None, db=db)
                every.append(time.perf_counter() - t)
    db.close()
    a, b = statistics.median(first), statistics.median(raw)
    row = {
        f"`clips()` first page ({CLIPS_LIMIT:,} rows), vs raw SQL": f"{a * 1000:,.0f} ms"
        f" ({a / b:.1f}x raw {b * 1000:,.0f} ms)"
    }
    row["`clips(limit=None)`, every clip"] = (
        f"{statistics.median(every):,.1f} s" if every else "not run above 100k"
    )
    return row


_EXPORT_CHILD = """
import sys, time
from mediaml.db import Database
from mediaml.exchange import export_parquet
db = Database(sys.argv[1], max_size=1)
t = time.perf_counter()
export_parquet(sys.argv[2], overwrite=True, db=db)
result = {"s": time.perf_counter() - t}
"""


def export(cat: Catalogue) -> Row:
    """``export_parquet`` in a fresh process against a binary COPY of the same tables."""
    from mediaml.exchange import TABLES

    start = time.perf_counter()
    with psycopg.connect(cat.url) as conn, conn.cursor() as cur:
        for table in TABLES:
            query = f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT (FORMAT BINARY)"
            with cur.copy(query) as copy:
                for _ in copy:
                    pass
    copy_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(dir="/tmp") as out:
        result = _child(_EXPORT_CHILD, cat.url, out)
        written = sum(p.stat().st_size for p in Path(out).iterdir()) / 2**20
    return {
        "`export_parquet` time / peak memory (fresh process)": f"{result['s']:,.1f} s /"
        f" {result['peak_mb']:,.0f} MB ({result['s'] / copy_s:.1f}x a binary COPY,"
        f" {written:,.0f} MB written)"
    }


# -- the explore page ------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL process serving the database at ``url``
    (its backends, named in their process titles; the benchmarks' server runs on this
    machine). A backend that exits between two readings loses its share."""
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    found = {}
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        # A backend's title: "postgres: <user> <database> <client> <state>".
        title = " ".join(proc.info["cmdline"] or []).split()
        if (
            proc.info["name"] == "postgres"
            and title[:1] == ["postgres:"]
            and title[2:3] == [database]
        ):
            found[proc.pid] = proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return found


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_POLL_CHILD = """
import json, sys, threading, time
import requests
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
polls = []
with requests.Session() as session:
    session.get(sys.argv[1] + "/healthz", timeout=60)
    print("ready", flush=True)
    while not stop.is_set():
        when, t = time.time(), time.perf_counter()
        session.get(sys.argv[1] + "/healthz", timeout=60)
        polls.append((when, time.perf_counter() - t))
        time.sleep(0.02)
print(json.dumps(polls), flush=True)
"""


class HealthPoller:
    """Times ``/healthz`` back to back (20 ms apart) while a page builds, from a process
    of its own: a thread here would share this process's GIL with Playwright's event
    dispatch (every websocket frame the page receives), and its times would include the
    wait for it, not only the server's. ``polls`` holds each request's start (wall
    clock, comparable between processes) and its duration, in seconds."""

    def __init__(self, base: str) -> None:
        self.base, self.polls = base, []
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start polling; returns once the first request has been answered."""
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _POLL_CHILD, self.base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self._proc.stdout.readline()

    def finish(self) -> None:
        """Stop polling and collect the times."""
        assert self._proc is not None
        out, _ = self._proc.communicate("", timeout=120)
        self.polls = [(when, seconds) for when, seconds in json.loads(out.strip().splitlines()[-1])]


# The control: the same health check as ``mediaml serve``'s ``/healthz``
# (``LoopHealth.check``: one round trip to the same database, the local store's check) on
# a bare asyncio HTTP server in a process of its own, with nothing else to do. Its slow
# polls are the machine's (CPU scheduling, Postgres, the poller), not our server's.
_CONTROL_CHILD = """
import asyncio, json, sys
from mediaml.db import Database
from mediaml.health import LoopHealth

async def main():
    db, health = Database(sys.argv[1], max_size=1), LoopHealth()

    async def answer(reader, writer):
        while (await reader.readline()).strip():  # a request line, then its headers
            while (await reader.readline()).strip():
                pass
            result = await health.check(db=db)
            body = json.dumps(result.public()).encode()
            status = b"200 OK" if result.ok else b"503 Service Unavailable"
            writer.write(b"HTTP/1.1 " + status + b"\\r\\nContent-Type: application/json"
                         b"\\r\\nContent-Length: " + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def _control(url: str, data_dir: Path = DATA_DIR) -> tuple[subprocess.Popen[str], str]:
    """Start the control server (see :data:`_CONTROL_CHILD`) on the database at ``url``,
    with the same settings as :func:`_serve`'s; returns it and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CONTROL_CHILD, url],
        env=_server_env(url, data_dir),
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}"


SLOW = 0.05  # issue 16's target for /healthz under explore load


def slow_share(times: list[float]) -> float:
    """The share of polls over :data:`SLOW`."""
    return sum(t > SLOW for t in times) / len(times)


def machine_stalls(
    ours: list[tuple[float, float]], control: list[tuple[float, float]]
) -> tuple[int, int]:
    """Of our polls over :data:`SLOW` (``(start, seconds)`` each), how many overlapped in
    time a control poll over :data:`SLOW`, a stall of the machine; and how many were slow."""
    slow = [(a, a + d) for a, d in control if d > SLOW]
    ours_slow = [(a, a + d) for a, d in ours if d > SLOW]
    shared = sum(any(a < ce and cs < e for cs, ce in slow) for a, e in ours_slow)
    return shared, len(ours_slow)


def _p95_max(times: list[float]) -> str:
    """p95 / max in ms of ``times`` (seconds)."""
    return f"{statistics.quantiles(times, n=20)[-1] * 1000:.0f} / {max(times) * 1000:.0f} ms"


def latency_line(times: list[float]) -> str:
    """Median / p95 / max in ms of ``times`` (seconds)."""
    return f"{statistics.median(times) * 1000:.0f} / {_p95_max(times)}"


MAP_DRAWN = """() => {
  const doc = window.Bokeh && Bokeh.documents[0];
  const img = doc && doc.get_model_by_name('mm-map-image');
  return !!img && img.data.image.length > 0;
}"""


def _server_env(url: str, data_dir: Path = DATA_DIR) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIAML_DATA_DIR": str(data_dir),
        "MEDIAML_EMBED_MODEL": "bench-synthetic-512",
        "MEDIAML_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def _serve(cat: Catalogue) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _server_env(cat.url)
    log = DATA_DIR / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mediaml", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError("mediaml serve exited: " + " | ".join(tail))
        try:
            requests.get(f"{base}/healthz", timeout=2)
            return proc, base
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"mediaml serve did not answer /healthz within 2 minutes; see {log}")


def _load(browser: Any, base: str, pid: int, control: str, url: str) -> dict[str, Any]:
    from tests.dashboard.browser import drag_across_map

    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    t = time.perf_counter()
    page.goto(f"{base}/status")
    page.wait_for_load_state("networkidle")
    status_s = time.perf_counter() - t
    received = [0]
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda p: received.__setitem__(0, received[0] + len(p))),
    )
    poller, beside = HealthPoller(base), HealthPoller(control)
    cpu, postgres = _cpu_seconds(pid), _postgres_cpu(url)
    beside.start()
    poller.start()
    t = time.perf_counter()
    page.goto(f"{base}/explore")
    page.locator(".mm-card").first.wait_for(timeout=300_000)
    page.wait_for_function(MAP_DRAWN, timeout=300_000)
    ready = time.perf_counter() - t
    poller.finish()
    beside.finish()
    cpu = _cpu_seconds(pid) - cpu
    postgres = {p: t - postgres.get(p, 0.0) for p, t in _postgres_cpu(url).items()}
    page.locator(".bk-Canvas").last.scroll_into_view_if_needed()
    t = time.perf_counter()
    drag_across_map(page)  # the same drag as the browser tests
    page.locator(".mm-selection").wait_for(timeout=300_000)
    # Locators look inside the panes' shadow roots (document.querySelectorAll does not).
    page.locator(".mm-card").nth(12).wait_for(timeout=300_000)
    select_s = time.perf_counter() - t
    selected = page.locator(".mm-selection b").inner_text()
    context.close()
    return {
        "status": status_s,
        "ready": ready,
        "ws": received[0],
        "cpu": cpu,
        "postgres": sum(postgres.values()),
        "healthz": poller.polls,
        "control": beside.polls,
        "select": select_s,
        "selected": selected,
    }


def explore_page(cat: Catalogue) -> Row:
    """``/explore`` in Chromium: see the module doc."""
    from playwright.sync_api import sync_playwright

    prepare(cat)
    proc, base = _serve(cat)
    control: subprocess.Popen[str] | None = None
    try:
        control, control_base = _control(cat.url)
        idle = []
        for _ in range(20):
            t = time.perf_counter()
            requests.get(f"{base}/healthz", timeout=10)
            idle.append(time.perf_counter() - t)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            first, *loads = [
                _load(browser, base, proc.pid, control_base, cat.url) for _ in range(REPEAT + 1)
            ]
            browser.close()
        peak = _peak_mb(proc.pid)
    finally:
        for server in (proc, control):
            if server is not None:
                server.terminate()
                server.wait(30)

    if DUMP:
        Path(DUMP).write_text(json.dumps({"first": first, "loads": loads, "peak_mb": peak}))

    def med(key: str) -> float:
        return statistics.median(x[key] for x in loads)

    ours = [poll for x in loads for poll in x["healthz"]]
    beside = [poll for x in loads for poll in x["control"]]
    health, control_times = [t for _, t in ours], [t for _, t in beside]
    shared, slow = machine_stalls(ours, beside)
    return {
        "/explore ready in Chromium (grid and map drawn), vs /status": f"{med('ready'):.2f} s"
        f" ({med('ready') / med('status'):.1f}x /status {med('status'):.2f} s)",
        "explore server CPU per page load / peak server memory": f"{med('cpu'):.2f} s /"
        f" {peak:,.0f} MB",
        "explore Postgres CPU per page load (the catalogue's backends)": f"{med('postgres'):.2f} s",
        "first /explore load after a start (the server's first explore page): ready /"
        " server CPU / Postgres CPU; `/healthz` p95 / max": f"{first['ready']:.2f} s /"
        f" {first['cpu']:.2f} s / {first['postgres']:.2f} s;"
        f" {_p95_max([t for _, t in first['healthz']])}",
        "explore websocket payload per page load": f"{med('ws') / 1024:,.0f} KB",
        "`/healthz` while explore pages build: median / p95 / max (idle median)": (
            f"{latency_line(health)} ({statistics.median(idle) * 1000:.0f} ms)"
        ),
        "`/healthz` control beside it (same check, bare asyncio server): median / p95 / max;"
        " polls over 50 ms, ours / control; ours over 50 ms during a control one": (
            f"{latency_line(control_times)}; {slow_share(health):.1%} /"
            f" {slow_share(control_times):.1%}; {shared} of {slow}"
        ),
        "box-select the whole map -> count and first cards drawn": f"{med('select'):.2f} s"
        f" ({loads[-1]['selected']}, 24 cards)",
    }


MEASUREMENTS = [map_build, explore_page, clips_page, export]
