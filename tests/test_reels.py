"""Reels: frame-exact clips joined with crossfades, captions and a title card; audio kept.

Frame counts are checked by decoding the reel with FFmpeg, independently of mediaml.
"""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

import mediaml
from mediaml.cli import cli
from mediaml.errors import NotFoundError
from mediaml.media.ffmpeg import ffmpeg_exe
from mediaml.reels import plan_reel
from tests.support.media import Shot, make_multishot_video

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"


def decoded(path) -> tuple[int, bool]:
    """(video frames FFmpeg decodes, whether there is an audio stream)."""
    result = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-f",
            "null",
            "-",
            "-progress",
            "pipe:1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    frames = int(re.findall(r"^frame=(\d+)$", result.stdout, re.M)[-1])
    return frames, "Audio:" in result.stderr


def test_plan_counts_frames_and_shortens_long_crossfades():
    plan = plan_reel([30, 40, 25], Fraction(25), (160, 90), crossfade=0.5)
    assert plan.crossfade_frames == 12 and plan.starts == (0, 18, 46)  # 12.5 rounds to even
    assert plan.frames == 30 + 40 + 25 - 2 * 12
    titled = plan_reel([20, 30], Fraction(25), (160, 90), crossfade=0.2, title_seconds=2)
    assert titled.title_frames == 50 and titled.starts == (45, 60)
    assert titled.frames == 50 + 20 + 30 - 2 * 5
    short = plan_reel([6, 30], Fraction(25), (160, 90), crossfade=1.0)
    assert short.crossfade_frames == 3  # half the shortest clip
    assert plan_reel([7], Fraction(25), (160, 90), crossfade=1.0).frames == 7
    with pytest.raises(ValueError, match="at least one clip"):
        plan_reel([], Fraction(25), (160, 90))


@pytest.fixture
def clips(db, store, tmp_path):
    path = tmp_path / "four shots.mp4"
    make_multishot_video(
        path,
        [Shot("testsrc2", 20), Shot("red", 16), Shot("smptebars", 24), Shot("teal", 18)],
    )
    steps = mediaml.run_pipeline([path], until="review", progress=False)
    assert set(steps["result"]) == {"done"}, steps
    frame = mediaml.clips()
    return {int(r.clip_id): int(r.end_frame - r.start_frame) for r in frame.itertuples()}


def test_reel_frames_are_the_clips_minus_crossfades_with_sound(clips, tmp_path):
    ids = list(clips)[::-1][:3]  # any order, any subset
    seen: list[float] = []
    out = mediaml.reel(ids, tmp_path / "reel.mp4", crossfade=0.2, progress=seen.append)
    frames, audio = decoded(out)
    assert frames == sum(clips[i] for i in ids) - 2 * 5  # 0.2 s at 25 fps = 5 frames
    assert audio
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    # Stills for a look: the middle of the first clip (caption) and the first crossfade.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    first = clips[ids[0]]
    for name, frame in (("reel-caption", first // 2), ("reel-crossfade", first - 3)):
        subprocess.run(
            [
                ffmpeg_exe(),
                "-v",
                "error",
                "-y",
                "-i",
                str(out),
                "-vf",
                f"select=eq(n\\,{frame}),scale=iw*3:ih*3:flags=neighbor",
                "-frames:v",
                "1",
                str(SCREENSHOTS / f"{name}.png"),
            ],
            check=True,
        )


def test_reel_with_title_card_and_hard_cuts_from_the_cli(clips, tmp_path):
    ids = list(clips)
    out = tmp_path / "cli reel.mp4"
    result = CliRunner().invoke(
        cli,
        ["reel", *map(str, ids), "-o", str(out), "--crossfade", "0", "--title", "Day one"],
    )
    assert result.exit_code == 0, result.output
    frames, audio = decoded(out)
    assert frames == 50 + sum(clips.values()) and audio  # 2 s title card + every frame


def test_reel_of_clips_with_mixed_frame_rates_and_sizes(db, store, tmp_path):
    # A 25 fps 16:9 video and a 30 fps 4:3 one: the reel takes the first clip's rate and
    # size; the 30 fps clips keep their durations (frames x 25/30), scaled to its height.
    wide, square = tmp_path / "wide 25.mp4", tmp_path / "square 30.mp4"
    make_multishot_video(wide, [Shot("testsrc2", 20), Shot("red", 30)], (160, 90), 25)
    make_multishot_video(square, [Shot("smptebars", 36), Shot("teal", 24)], (120, 90), 30)
    steps = mediaml.run_pipeline([wide, square], until="review", progress=False)
    assert set(steps["result"]) == {"done"}, steps
    frame = mediaml.clips()
    by_title = {
        t: [int(r.end_frame - r.start_frame) for r in g.sort_values("start_frame").itertuples()]
        for t, g in frame.groupby("title")
    }
    assert by_title == {"wide 25": [20, 30], "square 30": [36, 24]}
    ordered = frame.sort_values(["title", "start_frame"], ascending=[False, True])
    ids = [int(i) for i in ordered["clip_id"]]  # the 25 fps clips first
    out = mediaml.reel(ids, tmp_path / "mixed.mp4", crossfade=0.2, progress=False)
    frames, audio = decoded(out)
    # 20 + 30 at 25 fps; 36 and 24 frames at 30 fps are 1.44 s -> 30 and 0.96 s -> 20.
    assert frames == 20 + 30 + 30 + 20 - 3 * 5
    assert audio
    info = mediaml.media.probe(out)
    assert (info.width, info.height) == (160, 90) and info.fps == 25


def test_reel_of_unknown_clips_says_which(clips, tmp_path):
    with pytest.raises(NotFoundError, match="clip\\(s\\) 999 do not exist"):
        mediaml.reel([*clips, 999], tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_reel_to_a_file_that_is_not_an_mp4_says_so(clips, tmp_path):
    """`mediaml reel 1 2 -o best.txt` (or no extension): one line, not FFmpeg's broken pipe
    after the clips were cut."""
    out = tmp_path / "reels"
    out.mkdir()
    for name in ("best.txt", "best"):
        result = CliRunner().invoke(cli, ["reel", *map(str, clips), "-o", str(out / name)])
        assert result.exit_code == 1, result.output
        assert f"Error: {name} does not end in .mp4: a reel is an MP4 file" in result.output
    assert list(out.iterdir()) == []
