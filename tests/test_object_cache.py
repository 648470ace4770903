"""The local object cache: LRU and age limits, and files in use are never evicted."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mediaml.storage.cache import ObjectCache

ROOT = Path(__file__).resolve().parents[1]


def _file(tmp: Path, name: str, size: int) -> Path:
    path = tmp / name
    path.write_bytes(b"x" * size)
    return path


def test_least_recently_used_copies_go_first(tmp_path):
    cache = ObjectCache(tmp_path / "objects", max_bytes=300, max_age=3600)
    for i, name in enumerate(("a", "b", "c")):
        cache.admit(_file(tmp_path, name, 100), f"masters/{name}.mp4")
        stamp = time.time() - 30 + i
        os.utime(cache.path(f"masters/{name}.mp4"), (stamp, stamp))
    assert cache.lookup("masters/a.mp4") is not None  # a is now the most recently used
    cache.admit(_file(tmp_path, "d", 100), "masters/d.mp4")
    assert sorted(p.name for p in (tmp_path / "objects" / "masters").iterdir()) == [
        "a.mp4",
        "c.mp4",
        "d.mp4",
    ]
    usage = cache.usage()
    assert usage.files == 3 and usage.bytes == 300 <= usage.max_bytes


def test_expired_copies_go_even_under_the_cap(tmp_path):
    cache = ObjectCache(tmp_path / "objects", max_bytes=10_000, max_age=60)
    old = cache.admit(_file(tmp_path, "old", 10), "proxies/old.mp4")
    fresh = cache.admit(_file(tmp_path, "new", 10), "proxies/new.mp4")
    os.utime(old, (time.time() - 120,) * 2)
    usage = cache.make_room()
    assert usage.removed_old == 1 and not old.exists() and fresh.exists()


def test_a_copy_in_use_is_never_evicted(tmp_path):
    cache = ObjectCache(tmp_path / "objects", max_bytes=100, max_age=0)
    holding, release = threading.Event(), threading.Event()

    def step() -> None:
        with cache.pinned():
            cache.admit(_file(tmp_path, "in-use", 100), "originals/in-use.mp4")
            holding.set()
            release.wait(10)

    worker = threading.Thread(target=step)
    worker.start()
    assert holding.wait(10)
    try:
        usage = cache.make_room(incoming=100)  # over the cap and past max_age
        assert usage.pinned == 1 and cache.path("originals/in-use.mp4").exists()
    finally:
        release.set()
        worker.join()
    cache.make_room()
    assert not cache.path("originals/in-use.mp4").exists()


HOLDER = """
import sys
from pathlib import Path
from mediaml.storage.cache import ObjectCache
cache = ObjectCache(Path(sys.argv[1]), max_bytes=1, max_age=0)
with cache.pinned():
    assert cache.lookup("proxies/p.mp4") is not None
    print("holding", flush=True)
    sys.stdin.readline()
"""


def test_a_copy_another_process_uses_is_never_evicted(tmp_path):
    cache = ObjectCache(tmp_path / "objects", max_bytes=1, max_age=0)
    cache.admit(_file(tmp_path, "p", 50), "proxies/p.mp4")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "objects")],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        assert cache.make_room().pinned == 1
        assert cache.path("proxies/p.mp4").exists()
    finally:
        proc.communicate("\n", timeout=30)
    assert cache.make_room().removed_old == 1


@pytest.mark.parametrize("counter", ["same", "other"], ids=["same-cache", "other-instance"])
def test_usage_never_counts_more_than_the_cache_held(tmp_path, counter):
    # A full cache: every addition evicts the oldest copy. Counted meanwhile from another
    # thread (as /healthz and the status page do), by the same ObjectCache or by a second
    # one on the same directory (as the cleanup job makes), the total never exceeds the
    # cap: a count does not see an evicted copy and the copy that replaced it.
    root = tmp_path / "objects"
    cache = ObjectCache(root, max_bytes=39 * 1000, max_age=3600)
    watcher = cache if counter == "same" else ObjectCache(root, max_bytes=1, max_age=3600)
    source = _file(tmp_path, "source", 1000)
    kinds = ("originals", "masters", "proxies", "clips")  # one walk meets them in turn

    def admit(i: int) -> None:
        cache.admit(source, f"{kinds[i % 4]}/{i:03d}.mp4")

    for i in range(39):
        admit(i)
    done, largest, counts = threading.Event(), [0], [0]

    def count() -> None:
        while not done.is_set():
            largest[0] = max(largest[0], watcher.usage().bytes)
            counts[0] += 1

    counter_thread = threading.Thread(target=count)
    counter_thread.start()
    try:
        # Until the counter has counted often enough to overlap additions: back-to-back
        # admissions retake the lock at once, so its turns can come slowly.
        i = 39
        while (counts[0] < 30 or i < 600) and i < 20_000:
            admit(i)
            i += 1
    finally:
        done.set()
        counter_thread.join()
    assert counts[0] >= 30 and cache.usage().files == 39
    assert largest[0] <= cache.max_bytes
