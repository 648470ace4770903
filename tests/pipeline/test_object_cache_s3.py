"""With S3 storage the worker's local object cache stays under its cap through a run of
ten videos (S3 is the moto server; the videos are tiny so the run is quick)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from pathlib import Path

import mediaml
from mediaml.config import set_settings
from mediaml.storage import make_store, set_store
from mediaml.storage.cache import ObjectCache
from mediaml.storage.s3 import S3Store

OLD = 1_577_836_800.0  # 2020-01-01


def _cache_bytes(root: Path) -> int:
    total = 0
    for path in root.rglob("*") if root.exists() else ():
        if path.name.startswith("."):
            # A copy being written under its hidden name (mediaml.files.atomic_path): the
            # cache made room for it before writing, and one scan can meet the same inode
            # under both names while it is renamed into place.
            continue
        try:
            if path.is_file():
                total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


class Sampler(threading.Thread):
    """Polls the cache's size while the pipeline runs and keeps the largest.

    It counts with `ObjectCache.usage`, which counts between two additions, not during
    one: a walk of the directory that overlaps an addition can see both the copy it
    evicted and the copy it added, more than the cache ever held at once.
    """

    def __init__(self, cache: ObjectCache) -> None:
        super().__init__(daemon=True)
        self.cache, self.largest, self.samples = cache, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.largest = max(self.largest, self.cache.usage().bytes)
            self.samples += 1


def test_object_cache_stays_under_its_cap_through_ten_videos(
    db, settings, three_shot_video, s3_endpoint, s3_bucket, tmp_path
):
    s3 = dataclasses.replace(
        settings,
        s3_bucket=s3_bucket,
        s3_endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_region="us-east-1",
    )
    set_settings(s3)
    store = make_store(s3)
    assert isinstance(store, S3Store)
    set_store(store)
    objects = s3.cache_dir / "objects"
    source, _cuts = three_shot_video
    videos = []
    for i in range(10):
        videos.append(tmp_path / f"video {i}.mp4")
        shutil.copyfile(source, videos[-1])
        os.utime(videos[-1], (OLD, OLD))  # a user's file, last changed long ago

    # One video with room to spare shows what a video leaves in the cache ...
    first = mediaml.run_pipeline(videos[0], until="keyframed", auto_approve=True, progress=False)
    assert set(first["result"]) == {"done"}, first
    one_video = _cache_bytes(objects)
    assert one_video > 0
    # ... then the cap holds about two videos' worth while ten go through.
    store.cache.max_bytes = cap = int(2.5 * one_video)
    sampler = Sampler(store.cache)
    sampler.start()
    try:
        rest = mediaml.run_pipeline(
            videos[1:], until="keyframed", auto_approve=True, progress=False
        )
    finally:
        sampler.done.set()
        sampler.join()
    assert set(rest["result"]) == {"done"}, rest
    assert set(mediaml.clips()["state"]) == {"keyframed"} and len(mediaml.videos()) == 10
    assert sampler.samples > 10
    assert sampler.largest <= cap, f"cache reached {sampler.largest} bytes, cap {cap}"
    assert _cache_bytes(objects) <= cap
    # The cap made the cache evict: most originals and many other copies are gone.
    cached = [p for p in objects.rglob("*") if p.is_file()]
    stored = [
        k
        for prefix in ("originals/", "masters/", "proxies/", "clips/", "artifacts/")
        for k in store.list(prefix)
    ]
    assert len(cached) < len(stored)
    assert len(list((objects / "originals").iterdir())) <= 3
    # The users' files were copied, never linked into the cache: using the cached copy
    # did not touch them (and the oldest-looking copy was not the first to go).
    for video in videos:
        assert video.stat().st_nlink == 1 and video.stat().st_mtime == OLD, video
    # Evicted copies come back from S3 when needed again.
    assert store.local_path(store.list("proxies/")[0]).stat().st_size > 0
