"""Fixtures for the embeddings tests: tiny CLIP models and clips to attach vectors to."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from mediaml.config import Settings, set_settings
from mediaml.db import Database
from mediaml.db.clips import DetectedCut, create_initial_clips
from mediaml.db.videos import create_video
from mediaml.embed import Embedder, get_embedder
from tests.support.embed import write_tiny_clip_model

DIM = 32


@pytest.fixture(scope="session")
def tiny_model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MEDIAML_MODEL_DIR holding a tiny fp32 + int8 CLIP in the Xenova layout."""
    root = tmp_path_factory.mktemp("models")
    write_tiny_clip_model(root, dim=DIM, quantized=True)
    return root


@pytest.fixture
def embed_settings(settings: Settings, tiny_model_root: Path) -> Settings:
    """Settings whose model folder holds the tiny CLIP (found there first, so the Hub is
    never contacted)."""
    s = dataclasses.replace(settings, model_dir=tiny_model_root)
    set_settings(s)
    return s


@pytest.fixture
def clip_model(embed_settings: Settings) -> Embedder:
    return get_embedder("clip-vit-base-patch32")


MakeClips = Callable[..., list[list[int]]]


@pytest.fixture
def make_clips(db: Database) -> MakeClips:
    """``make_clips(videos, clips_per_video)`` -> clip ids per video, in frame order."""
    counter = iter(range(1_000_000))

    def make(videos: int, clips_per_video: int) -> list[list[int]]:
        out = []
        with db.transaction() as conn:
            for _ in range(videos):
                n = next(counter)
                video, _ = create_video(
                    conn,
                    f"video {n}",
                    f"file:///videos/{n}.mp4",
                    fps_num=25,
                    fps_den=1,
                    frame_count=clips_per_video * 10,
                    duration_s=clips_per_video * 10 / 25,
                    width=320,
                    height=240,
                )
                cuts = [DetectedCut(10 * i) for i in range(1, clips_per_video)]
                clips = create_initial_clips(conn, video["id"], cuts)
                out.append([c["id"] for c in sorted(clips, key=lambda c: c["start_frame"])])
        return out

    return make
