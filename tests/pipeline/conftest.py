"""Fixtures for pipeline tests: generated videos and real worker processes."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mediaml.config import Settings, set_settings
from tests.support.embed import write_tiny_clip_model
from tests.support.media import Shot, make_multishot_video

CLIP_MODEL = "clip-vit-base-patch32"
"""The default model's name, served by the tiny CLIP in :func:`clip_settings`."""

ROOT = Path(__file__).resolve().parents[2]
ALL_QUEUES = "default,media_processing,background_jobs,temp_clips,maintenance"


@pytest.fixture(scope="session")
def three_shot_video(tmp_path_factory) -> tuple[Path, list[int]]:
    """160x90, 25 fps, 85 frames with sound; hard cuts at frames 30 and 55."""
    path = tmp_path_factory.mktemp("media") / "three shots.mp4"
    transitions = make_multishot_video(
        path, [Shot("testsrc2", 30), Shot("mandelbrot", 25), Shot("smptebars", 30)]
    )
    return path, [t.frame for t in transitions]


@pytest.fixture(scope="session")
def long_video(tmp_path_factory) -> Path:
    """640x360, 12 s: an encode long enough to interrupt."""
    path = tmp_path_factory.mktemp("media") / "long.mp4"
    make_multishot_video(
        path,
        [Shot("testsrc2", 100), Shot("mandelbrot", 100), Shot("life", 100)],
        size=(640, 360),
    )
    return path


class WorkerProcess:
    """A real ``python -m runners.worker`` process with its log captured."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runners.worker"],
            cwd=ROOT,
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._file.close()


@pytest.fixture
def start_worker(db_url, settings, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes on this test's database and data dir."""
    started: list[WorkerProcess] = []

    def start(**env_extra: str | None) -> WorkerProcess:
        """``NAME=None`` leaves that variable unset (to test the defaults)."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MEDIAML_", "DATABASE_URL"))
        }
        env.update(
            {
                "DATABASE_URL": db_url,
                "MEDIAML_DATA_DIR": str(settings.data_dir),
                "MEDIAML_QUEUES": ALL_QUEUES,
                "MEDIAML_DISPATCH_INTERVAL": "1",
                "MEDIAML_LOG_LEVEL": "INFO",
                **env_extra,
            }
        )
        env = {k: v for k, v in env.items() if v is not None}
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(
    predicate: Callable[[], object],
    timeout: float = 90,
    what: str = "condition",
    interval: float = 0.1,
    worker: WorkerProcess | None = None,
) -> object:
    """Poll until ``predicate()`` is truthy; fail with the worker's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    log = worker.output()[-4000:] if worker else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def write_slow_clip_model(root: Path, dim: int = 32, convs: int = 3) -> Path:
    """The tiny CLIP with a deliberately expensive vision tower (full-resolution 64-channel
    convolutions whose result is multiplied by zero), so an embedding takes long enough
    to kill a worker in the middle of it. Same names, dtypes and outputs as the real model.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from tests.support.embed import write_tiny_clip_model

    model_dir = write_tiny_clip_model(root, dim=dim)
    path = model_dir / "onnx" / "vision_model.onnx"
    model = onnx.load(str(path))
    graph = model.graph
    rng = np.random.default_rng(5)
    for node in graph.node:
        if "image_embeds" in node.output:
            node.output[0] = "fast_embeds"
    inits = [numpy_helper.from_array(rng.standard_normal((64, 3, 3, 3)).astype(np.float32), "k0")]
    nodes = [helper.make_node("Conv", ["pixel_values", "k0"], ["c0"], pads=[1, 1, 1, 1])]
    for i in range(1, convs + 1):
        inits.append(
            numpy_helper.from_array(
                (rng.standard_normal((64, 64, 3, 3)) * 0.01).astype(np.float32), f"k{i}"
            )
        )
        nodes.append(helper.make_node("Conv", [f"c{i - 1}", f"k{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
    inits.append(numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "zero"))
    nodes += [
        helper.make_node("ReduceMean", [f"c{convs}"], ["busy"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["busy", "axis_one_slow"], ["busy2"]),
        helper.make_node("Mul", ["busy2", "zero"], ["nothing"]),
        helper.make_node("Add", ["fast_embeds", "nothing"], ["image_embeds"]),
    ]
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_one_slow"))
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return model_dir


@pytest.fixture
def clip_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The tiny CLIP (real ONNX Runtime) as the default model."""
    write_tiny_clip_model(tmp_path / "models", dim=32)
    s = dataclasses.replace(settings, model_dir=tmp_path / "models", embed_model=CLIP_MODEL)
    set_settings(s)
    return s
