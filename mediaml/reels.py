"""Reels: any set of clips as one MP4, with optional crossfades, captions and a title card.

Each clip is first cut frame-exactly from its video's all-intra proxy by FFmpeg stream
copy (the same cut as review playback), so a reel holds exactly the clips' frames. moviepy
then lays the cuts out on one timeline — clip ``i`` starts where clip ``i - 1`` ends
minus the crossfade, all in whole frames — fades each clip in over the one before it
(picture and sound), draws captions and the title card, and encodes the result (H.264 +
AAC, faststart). The reel therefore has ``title frames + sum(clip frames) - crossfade
frames x (joins)`` frames, and an audio track whenever any clip has sound.

Text is drawn with Pillow's built-in scalable font, so no font file has to be installed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from mediaml.config import Settings, get_settings
from mediaml.db import Database, get_db
from mediaml.errors import MediaError, NotFoundError
from mediaml.media import cut_clip
from mediaml.media.ffmpeg import atomic_output, ffmpeg_exe
from mediaml.review.playback import PlaybackSource, playback_source
from mediaml.storage import ObjectStore, get_store

log = logging.getLogger(__name__)

MAX_CLIPS = 500
"""More clips than this in one reel is almost certainly a mistake (and hours of encode)."""
TITLE_SECONDS = 2.0
CRF = "20"

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class ReelPlan:
    """Where every clip sits on the reel's timeline, in frames at the reel's rate."""

    fps: Fraction
    size: tuple[int, int]
    title_frames: int
    crossfade_frames: int
    starts: tuple[int, ...]
    lengths: tuple[int, ...]

    @property
    def frames(self) -> int:
        """Frames in the reel."""
        if not self.lengths:
            return self.title_frames
        return self.starts[-1] + self.lengths[-1]

    @property
    def duration(self) -> float:
        """Seconds in the reel."""
        return float(Fraction(self.frames) / self.fps)


def plan_reel(
    lengths: Sequence[int],
    fps: Fraction,
    size: tuple[int, int],
    *,
    crossfade: float = 0.5,
    title_seconds: float = 0.0,
) -> ReelPlan:
    """Lay clips of ``lengths`` frames out on one timeline (pure; no media touched).

    The crossfade is rounded to whole frames and shortened, with a log line, when it would
    exceed half of the shortest clip (a clip never overlaps two neighbours at once). The
    title card, when there is one, crossfades into the first clip like any other join.

    Raises:
        ValueError: no clips, an empty clip, or a negative crossfade.
    """
    if not lengths:
        raise ValueError("a reel needs at least one clip")
    if any(n <= 0 for n in lengths):
        raise ValueError("every clip needs at least one frame")
    if crossfade < 0:
        raise ValueError(f"crossfade must be 0 or more seconds, not {crossfade}")
    title_frames = round(Fraction(title_seconds) * fps) if title_seconds > 0 else 0
    pieces = ([title_frames] if title_frames else []) + list(lengths)
    wanted = round(Fraction(crossfade).limit_denominator(1000) * fps)
    limit = min(pieces) // 2 if len(pieces) > 1 else 0
    fade = min(wanted, limit)
    if fade < wanted:
        log.info(
            "crossfade shortened from %d to %d frames: the shortest clip has %d",
            wanted,
            fade,
            min(pieces),
        )
    starts, at = [], title_frames - (fade if title_frames else 0)
    for n in lengths:
        starts.append(at)
        at += n - fade
    return ReelPlan(fps, size, title_frames, fade, tuple(starts), tuple(lengths))


def reel_frames(source: PlaybackSource, fps: Fraction) -> int:
    """How many frames of a reel at ``fps`` the clip of ``source`` takes: its own frame
    count at its own rate, or its duration at the reel's rate (rounded, at least one)
    when its video has another rate."""
    frames = source.end_frame - source.start_frame
    if source.fps == fps:
        return frames
    return max(1, round(Fraction(frames) * fps / source.fps))


def _sources(db: Database, clip_ids: Sequence[int]) -> list[PlaybackSource]:
    missing, found = [], []
    with db.transaction() as conn:
        for clip_id in clip_ids:
            try:
                found.append(playback_source(conn, int(clip_id)))
            except NotFoundError:
                missing.append(int(clip_id))
    if missing:
        raise NotFoundError(f"clip(s) {', '.join(map(str, missing))} do not exist")
    no_proxy = [s.clip_id for s in found if not s.proxy_key]
    if no_proxy:
        raise MediaError(
            f"clip(s) {', '.join(map(str, no_proxy))} have no proxy yet; wait for their "
            "videos to finish encoding"
        )
    return found


def _progress_logger(callback: ProgressCallback) -> Any:
    """A proglog logger (what moviepy reports to) forwarding frame progress to ``callback``."""
    import proglog

    class Logger(proglog.ProgressBarLogger):
        def bars_callback(self, bar: str, attr: str, value: Any, old_value: Any = None) -> None:
            if bar == "frame_index" and attr == "index":
                total = self.bars[bar].get("total") or 0
                if total:
                    callback(min(1.0, (value + 1) / total))

    return Logger()


def _caption_text(source: PlaybackSource) -> str:
    start = float(Fraction(source.start_frame) / source.fps)
    return f"{source.title} · clip {source.clip_id} · {start:.1f} s"


def _text(text: str, size: tuple[int, int], font_size: int, *, box: bool) -> Any:
    from moviepy import TextClip

    return TextClip(
        text=text,
        font=None,  # Pillow's built-in scalable font: nothing to install
        font_size=font_size,
        color="white",
        bg_color=(0, 0, 0) if box else None,
        margin=(font_size // 2, font_size // 4),
        method="caption" if not box else "label",
        size=(size[0] * 9 // 10, None) if not box else (None, None),
        text_align="center",
    )


def reel(
    clip_ids: Sequence[int],
    path: str | os.PathLike[str],
    *,
    crossfade: float = 0.5,
    captions: bool = True,
    title: str | None = None,
    progress: bool | ProgressCallback = True,
    db: Database | None = None,
    store: ObjectStore | None = None,
    settings: Settings | None = None,
) -> Path:
    """Join clips into one MP4 (H.264 + AAC).

    Args:
        clip_ids: the clips, in reel order (e.g. a search page's ``clip_id`` column).
        path: the MP4 to write (replaced atomically).
        crossfade: seconds each clip fades in over the previous one (picture and sound),
            rounded to whole frames; 0 for hard cuts.
        captions: draw each clip's video title, id and start time at its bottom.
        title: a title card shown for two seconds before the first clip.
        progress: a progress bar (True), none (False), or a callback given the fraction
            of frames encoded.

    Returns:
        ``path``. The reel has the first clip's frame rate and size; other clips are
        scaled to its height (and centred, cropped if wider). Its frame count is the title
        card's frames plus every clip's frames minus one crossfade per join; a clip of
        another frame rate keeps its duration (:func:`reel_frames`).

    Raises:
        NotFoundError: a clip does not exist. MediaError: ``path`` does not end in
        ``.mp4``, a clip's video has no proxy, or FFmpeg failed. ValueError: no clips, too many, or a negative crossfade.

    Example:
        >>> mediaml.reel(mediaml.similar(clip_id=3, k=8)["clip_id"], "similar.mp4")
    """
    ids = [int(c) for c in clip_ids]
    if len(ids) > MAX_CLIPS:
        raise ValueError(f"a reel takes at most {MAX_CLIPS} clips, not {len(ids)}")
    if not ids:
        raise ValueError("a reel needs at least one clip")
    out = Path(path)
    if out.suffix.lower() != ".mp4":
        raise MediaError(
            f"{out.name} does not end in .mp4: a reel is an MP4 file (e.g. "
            f"{out.with_suffix('.mp4').name})"
        )
    settings = settings or get_settings()
    store = store or get_store()
    sources = _sources(db or get_db(), ids)
    work = Path(tempfile.mkdtemp(prefix="reel-", dir=_scratch(settings)))
    try:
        files: list[Path] = []
        for source in sources:
            proxy = store.local_path(source.proxy_key or "")
            files.append(
                cut_clip(
                    proxy,
                    source.start_frame,
                    source.end_frame,
                    work / f"{len(files):04d}-{source.clip_id}.mp4",
                    fps=source.fps,
                )
            )
        with atomic_output(out) as tmp:
            _compose(sources, files, tmp, work, crossfade, captions, title, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _scratch(settings: Settings) -> Path:
    folder = settings.cache_dir / "work"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _compose(
    sources: list[PlaybackSource],
    files: list[Path],
    out: Path,
    work: Path,
    crossfade: float,
    captions: bool,
    title: str | None,
    progress: bool | ProgressCallback,
) -> ReelPlan:
    os.environ.setdefault("IMAGEIO_FFMPEG_EXE", ffmpeg_exe())
    from moviepy import ColorClip, CompositeAudioClip, CompositeVideoClip, VideoFileClip, afx, vfx

    videos = [VideoFileClip(str(f)) for f in files]
    try:
        fps = sources[0].fps
        width, height = videos[0].size
        plan = plan_reel(
            [reel_frames(s, fps) for s in sources],
            fps,
            (width, height),
            crossfade=crossfade,
            title_seconds=TITLE_SECONDS if title else 0.0,
        )
        seconds = lambda frames: float(Fraction(frames) / fps)  # noqa: E731
        fade = seconds(plan.crossfade_frames)
        font_size = max(12, height // 16)
        layers: list[Any] = []
        audio: list[Any] = []
        if title:
            card = seconds(plan.title_frames)
            layers.append(ColorClip((width, height), color=(0, 0, 0), duration=card))
            text = _text(title, (width, height), max(14, height // 9), box=False)
            layers.append(text.with_duration(card).with_position("center"))
        for i, (source, video, start, n) in enumerate(
            zip(sources, videos, plan.starts, plan.lengths, strict=True)
        ):
            length = seconds(n)
            clip = video.with_duration(length).without_audio()
            if clip.size[1] != height:
                clip = clip.resized(height=height)
            if fade and (i > 0 or title):
                clip = clip.with_effects([vfx.CrossFadeIn(fade)])
            layers.append(clip.with_start(seconds(start)).with_position("center"))
            if video.audio is not None:
                sound = video.audio.with_duration(min(length, video.audio.duration))
                effects = []
                if fade and (i > 0 or title):
                    effects.append(afx.AudioFadeIn(fade))
                if fade and i < len(sources) - 1:
                    effects.append(afx.AudioFadeOut(fade))
                audio.append(sound.with_effects(effects).with_start(seconds(start)))
            if captions:
                caption = _text(_caption_text(source), (width, height), font_size, box=True)
                layers.append(
                    caption.with_start(seconds(start))
                    .with_duration(length)
                    .with_position(("center", height - caption.size[1] - height // 20))
                )
        # Half a frame of slack: moviepy writes int(duration * fps) frames, and float
        # rounding must never drop the last one.
        composite = CompositeVideoClip(layers, size=(width, height), bg_color=(0, 0, 0))
        composite = composite.with_duration(seconds(plan.frames) + 0.5 / float(fps))
        if audio:
            composite = composite.with_audio(
                CompositeAudioClip(audio).with_duration(seconds(plan.frames))
            )
        logger: Any = "bar" if progress is True else None
        if callable(progress):
            logger = _progress_logger(progress)
        composite.write_videofile(
            str(out),
            fps=float(fps),
            codec="libx264",
            audio_codec="aac" if audio else None,
            audio=bool(audio),
            preset="veryfast",
            ffmpeg_params=["-crf", CRF, "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
            temp_audiofile_path=str(work),
            logger=logger,
        )
        return plan
    finally:
        for video in videos:
            video.close()
