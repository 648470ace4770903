"""The demo: generated sample videos through the whole pipeline on the embedded default.

``mediaml demo`` (and ``make demo``) calls :func:`run_demo`: it makes a few multi-shot
videos with sound using FFmpeg's test sources, ingests them (marked as demo data), runs
every stage, approves the demo clips, embeds them with the model the one model policy
picks (:mod:`mediaml.embed.policy`: CLIP when available, otherwise the offline
descriptor, saying which and why), prints a summary, and returns what the dashboard needs to show them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mediaml.config import Settings, get_settings, set_settings
from mediaml.embed.policy import require_model

# Each sample: (name, [(lavfi video source, seconds), ...], audio frequency).
SAMPLES: tuple[tuple[str, tuple[tuple[str, float], ...], int], ...] = (
    (
        "demo-city-lights",
        (("testsrc2", 3.0), ("mandelbrot", 2.5), ("smptebars", 2.0), ("cellauto=rule=110", 3.0)),
        440,
    ),
    (
        "demo-patterns",
        (
            ("rgbtestsrc", 2.0),
            ("life=mold=10:ratio=0.5:death_color=#202020", 3.0),
            ("testsrc", 2.5),
        ),
        523,
    ),
    (
        "demo-colours",
        (
            ("color=c=orange", 2.0),
            ("zoneplate=kx2=80:ky2=80:kt=3", 3.0),
            ("mandelbrot=start_scale=2", 2.5),
            ("smptehdbars", 2.0),
        ),
        659,
    ),
)
SIZE = (640, 360)
FPS = 25


@dataclass(frozen=True)
class DemoResult:
    """What the demo did."""

    data_dir: Path
    model: str
    model_reason: str
    videos: pd.DataFrame
    clips: pd.DataFrame
    steps: pd.DataFrame
    seconds: float


def _lavfi(source: str) -> str:
    w, h = SIZE
    name, _, options = source.partition("=")
    extra = f"{options}:" if options else ""
    return f"{name}={extra}s={w}x{h}:r={FPS}"


def sample_videos(directory: str | Path) -> list[Path]:
    """Render the demo's multi-shot sample videos (with sound) into ``directory`` once.

    Example:
        >>> paths = mediaml.demo.sample_videos("samples/")
    """
    directory = Path(directory)
    paths = []
    for name, shots, tone in SAMPLES:
        path = directory / f"{name}.mp4"
        if not path.exists():
            _render(path, shots, tone)
        paths.append(path)
    return paths


def run_demo(
    settings: Settings | None = None, *, echo: Callable[[str], None] = print
) -> DemoResult:
    """Generate, ingest and process the sample videos; print and return a summary."""
    import mediaml

    started = time.monotonic()
    settings = settings or get_settings()
    set_settings(settings)
    choice = require_model(settings)  # the one model policy, as every entry point uses
    model, reason = choice.name, choice.reason
    # A fallback was already announced once by the policy's warning; do not repeat it.
    echo(f"embedding model: {model if choice.fallback else reason}")
    echo(f"data dir: {settings.data_dir}")
    media_dir = settings.data_dir / "demo-media"
    paths = sample_videos(media_dir)
    echo(f"sample videos: {len(paths)} in {media_dir}")
    mediaml.connect(settings=settings)
    ingested = mediaml.ingest(paths, metadata={"demo": True})
    steps = mediaml.run_pipeline(
        [str(p) for p in paths], until="embedded", auto_approve=True, reviewer="demo"
    )
    ids = [int(v) for v in ingested["video_id"].dropna()]
    videos = mediaml.videos()
    videos = videos[videos["video_id"].isin(ids)]
    clips = mediaml.clips(include_archived=False)
    clips = clips[clips["video_id"].isin(ids)]
    seconds = time.monotonic() - started
    echo("")
    echo(
        videos[["video_id", "title", "state", "frame_count", "fps", "clips"]].to_string(index=False)
    )
    echo("")
    summary = clips.groupby("state").size().rename("clips").reset_index()
    echo(summary.to_string(index=False))
    failed = steps[steps["result"] == "failed"]
    for r in failed.itertuples():
        echo(f"failed: {r.stage} {r.item_id}: {r.error}")
    echo(
        f"\ndemo finished in {seconds:.1f} s: {len(videos)} videos, {len(clips)} clips "
        f"(labelled demo), embedded with {model}"
    )
    return DemoResult(settings.data_dir, model, reason, videos, pd.DataFrame(clips), steps, seconds)


def _render(path: Path, shots: tuple[tuple[str, float], ...], tone: int) -> None:
    from mediaml.media import atomic_output, run_ffmpeg

    w, h = SIZE
    args = ["-y", "-v", "error"]
    for source, seconds in shots:  # -t bounds the (endless) test sources
        args += ["-t", f"{seconds}", "-f", "lavfi", "-i", _lavfi(source)]
    total = sum(s for _, s in shots)
    args += ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:duration={total}"]
    scaled = "".join(
        f"[{i}:v]scale={w}:{h},setsar=1,format=yuv420p[v{i}];" for i in range(len(shots))
    )
    joined = "".join(f"[v{i}]" for i in range(len(shots)))
    args += [
        "-filter_complex",
        f"{scaled}{joined}concat=n={len(shots)}:v=1:a=0[v]",
        "-map",
        "[v]",
        "-map",
        f"{len(shots)}:a",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-movflags",
        "+faststart",
    ]
    with atomic_output(path) as part:
        run_ffmpeg([*args, str(part)], timeout=300)
