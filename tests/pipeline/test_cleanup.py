import os
import time
from pathlib import Path

from mediaml.config import load_settings
from mediaml.pipeline.cleanup import CachedFile, cleanup_playback_cache, plan_cleanup

NOW = 1_000_000.0


def f(name, size, age):
    return CachedFile(Path(name), size, NOW - age)


def test_age_rule_removes_only_expired():
    files = [f("old", 10, 901), f("fresh", 10, 899)]
    expired, evicted = plan_cleanup(files, NOW, max_age=900, max_bytes=10**9)
    assert [x.path.name for x in expired] == ["old"] and evicted == []


def test_lru_evicts_least_recently_used_until_under_limit():
    files = [f("a", 400, 50), f("b", 400, 10), f("c", 400, 30), f("d", 400, 20)]
    expired, evicted = plan_cleanup(files, NOW, max_age=900, max_bytes=1000)
    assert expired == []
    assert [x.path.name for x in evicted] == ["a", "c"]


def test_nothing_to_do_when_under_limits():
    files = [f("a", 1, 1)]
    assert plan_cleanup(files, NOW, 900, 10) == ([], [])


def test_cleanup_on_a_real_directory(tmp_path, caplog):
    settings = load_settings(
        {
            "MEDIAML_DATA_DIR": str(tmp_path),
            "MEDIAML_PLAYBACK_CACHE_MAX_AGE": "900",
            "MEDIAML_PLAYBACK_CACHE_MAX_BYTES": "2500",
            "MEDIAML_MIN_FREE_DISK_BYTES": str(10**18),  # any real disk is "low" against this
        }
    )
    cache = settings.playback_cache_dir
    (cache / "v1").mkdir(parents=True)
    now = time.time()
    for name, age in (("old.mp4", 2000), ("lru1.mp4", 300), ("lru2.mp4", 200), ("new.mp4", 10)):
        p = cache / "v1" / name
        p.write_bytes(b"x" * 1000)
        os.utime(p, (now - age, now - age))
    with caplog.at_level("INFO", logger="mediaml.pipeline.cleanup"):
        stats = cleanup_playback_cache(settings, now=now)
    left = sorted(p.name for p in cache.rglob("*.mp4"))
    assert left == ["lru2.mp4", "new.mp4"]
    assert stats.removed_old == 1 and stats.removed_lru == 1 and stats.bytes_after == 2000
    assert stats.low_disk
    assert any("playback cache cleanup" in r.message for r in caplog.records)
    assert any("free disk" in r.message and r.levelname == "WARNING" for r in caplog.records)
