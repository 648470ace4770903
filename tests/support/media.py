"""Test-video builders: FFmpeg lavfi sources joined by known cuts, dissolves and fades.

Every builder returns what a detector or clip cutter should find (cut frames), so tests
compare against numbers the video was built from. Sources are lavfi expressions with
``{w}``, ``{h}``, ``{r}`` (size and rate), ``{w2}``, ``{h2}``, ``{w3}`` (multiples)
and ``{n}`` (frames) placeholders; the named ones
in `SOURCES` cover flat colour, test cards, fractals, cellular automata, a fast pan and
a zoom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from mediaml.media import run_ffmpeg

_STILL = "trim=end_frame=1,loop=loop={n}:size=1,setpts=N/({r})/TB"
SOURCES: dict[str, str] = {
    "testsrc2": "testsrc2=s={w}x{h}:r={r}",
    "smptebars": "smptebars=s={w}x{h}:r={r}",
    "rgbtestsrc": "rgbtestsrc=s={w}x{h}:r={r}",
    "mandelbrot": "mandelbrot=s={w}x{h}:r={r}",
    "life": "life=s={w}x{h}:r={r}:mold=10:ratio=0.3:seed=7:life_color=#50d050:death_color=#101030",
    "cellauto": "cellauto=s={w}x{h}:r={r}:rule=30:seed=3,format=yuv420p",
    "gradients": "gradients=s={w}x{h}:r={r}:speed=0.02:seed=11",
    "zoneplate": "zoneplate=s={w}x{h}:r={r}:kt2=2:kx2=120:ky2=120",
    "red": "color=c=#c03020:s={w}x{h}:r={r}",
    "teal": "color=c=#208080:s={w}x{h}:r={r}",
    # A fast pan (5% of the frame width per frame) over a still fractal three frames wide.
    "pan": "mandelbrot=s={w3}x{h}:r={r}:start_scale=0.4," + _STILL + ",crop={w}:{h}:"
    "x='min(n*{w}*0.05,{w}*2)':y=0",
    # A fast zoom into a still test card (about 4% per frame).
    "zoom": "smptehdbars=s={w2}x{h2}:r={r}," + _STILL + ",zoompan=z='pow(1.04,on)':"
    "x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s={w}x{h}:fps={r}",
    # Film grain over a moving test card: every frame differs a little everywhere.
    "grain": "testsrc2=s={w}x{h}:r={r},hue=h=200,noise=alls=25:allf=t",
}


@dataclass(frozen=True)
class Shot:
    """One shot of a generated video.

    Args:
        source: a key of `SOURCES` or a lavfi expression with the placeholders.
        frames: length in frames.
        filters: extra filters applied to the shot (e.g. ``"hue=h=90"``).
        enter: how this shot starts: ``"cut"``, ``"dissolve"`` (cross-fade from the previous
            shot) or ``"fade"`` (previous shot fades to black, this one fades in).
        enter_frames: length of the dissolve, or of each half of the fade.
        flash_at: frame within the shot turned fully white (a camera flash), or None.
    """

    source: str
    frames: int
    filters: str = ""
    enter: str = "cut"
    enter_frames: int = 0
    flash_at: int | None = None


@dataclass(frozen=True)
class Transition:
    """A transition a built video contains, in output frame numbers."""

    frame: int
    kind: str
    start: int
    end: int


def _shot_graph(shot: Shot, idx: int, size: tuple[int, int], fps: Fraction, frames: int) -> str:
    w, h = size
    rate = f"{fps.numerator}/{fps.denominator}"
    expr = SOURCES.get(shot.source, shot.source).format(
        w=w, h=h, w2=2 * w, h2=2 * h, w3=3 * w, r=rate, n=frames + 1
    )
    chain = [expr, f"scale={w}:{h}", "setsar=1", "format=yuv420p"]
    if shot.filters:
        chain.append(shot.filters)
    if shot.flash_at is not None:
        chain.append(f"lutyuv=y=235:u=128:v=128:enable='eq(n,{shot.flash_at})'")
    chain += [f"trim=end_frame={frames}", f"fps={rate}", f"settb=1/({rate})", "setpts=N"]
    return ",".join(chain) + f"[s{idx}]"


def build_graph(
    shots: Sequence[Shot], size: tuple[int, int], fps: Fraction
) -> tuple[str, int, list[Transition]]:
    """The filter graph joining ``shots``, its length in frames and its transitions."""
    parts: list[str] = []
    transitions: list[Transition] = []
    fades_out = {i - 1: s.enter_frames for i, s in enumerate(shots) if s.enter == "fade"}
    for i, shot in enumerate(shots):
        fade: list[str] = []
        if shot.enter == "fade":
            fade.append(f"fade=t=in:s=0:n={shot.enter_frames}")
        if i in fades_out:
            fade.append(f"fade=t=out:s={shot.frames - fades_out[i]}:n={fades_out[i]}")
        graph = _shot_graph(shot, i, size, fps, shot.frames)
        if fade:
            graph = graph.replace(f"[s{i}]", "," + ",".join(fade) + f"[s{i}]")
        parts.append(graph)
    tb = f"settb=1/({fps.numerator}/{fps.denominator}),setpts=N"
    current, length = "s0", shots[0].frames
    for i, shot in enumerate(shots[1:], start=1):
        out = f"j{i}"
        if shot.enter == "dissolve":
            d = shot.enter_frames
            offset = Fraction(length - d) / fps
            parts.append(
                f"[{current}][s{i}]xfade=transition=fade:duration={float(d / fps):.6f}:"
                f"offset={float(offset):.6f},{tb}[{out}]"
            )
            start = length - d
            transitions.append(Transition(start + d // 2, "dissolve", start, length))
            length += shot.frames - d
        else:
            parts.append(f"[{current}][s{i}]concat=n=2:v=1:a=0,{tb}[{out}]")
            if shot.enter == "fade":
                d = shot.enter_frames
                transitions.append(Transition(length, "fade", length - d, length + d))
            else:
                transitions.append(Transition(length, "cut", length, length))
            length += shot.frames
        current = out
    parts.append(f"[{current}]null[vout]")
    return ";".join(parts), length, transitions


def make_multishot_video(
    path: str | Path,
    shots: Sequence[Shot],
    size: tuple[int, int] = (160, 90),
    fps: int | Fraction = 25,
    audio: bool = True,
    *,
    codec_args: Sequence[str] = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"),
) -> list[Transition]:
    """Write a video made of ``shots`` and return its transitions (cut frames and kinds).

    The cut frame of a hard cut is the first frame of the new shot; of a dissolve the
    middle of the cross-fade (``start + length // 2``); of a fade the first frame of the
    fade-in, which is the middle of the dark stretch.
    """
    fps = Fraction(fps)
    graph, length, transitions = build_graph(shots, size, fps)
    args = ["-filter_complex", graph, "-map", "[vout]", *codec_args, "-pix_fmt", "yuv420p"]
    if audio:
        seconds = float(Fraction(length) / fps)
        args = [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={seconds:.6f}",
            *args,
            "-map",
            "0:a",
            "-c:a",
            "aac",
        ]
    run_ffmpeg([*args, "-frames:v", str(length), str(path)], timeout=300)
    return transitions


# --------------------------------------------------------------- numbered frames

_LEVEL = 16  # colour step per digit: survives H.264 and JPEG rounding by a wide margin


def numbered_source(frames: int) -> str:
    """A lavfi expression whose frame ``n`` is a flat colour that encodes ``n``."""
    if frames > _LEVEL**3:
        raise ValueError(f"at most {_LEVEL**3} numbered frames")
    digit = "(8+16*mod(floor(N/{d}),16))"
    return (
        "color=c=black:s={w}x{h}:r={r},format=rgb24,"
        f"geq=r='{digit.format(d=1)}':g='{digit.format(d=16)}':b='{digit.format(d=256)}'"
    )


def make_numbered_video(
    path: str | Path,
    frames: int,
    size: tuple[int, int] = (160, 90),
    fps: int | Fraction = 25,
    audio: bool = True,
    *,
    codec_args: Sequence[str] = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"),
) -> None:
    """Write a video whose every frame shows its own number as a colour (see `frame_number`)."""
    make_multishot_video(
        path, [Shot(numbered_source(frames), frames)], size, fps, audio, codec_args=codec_args
    )


def frame_number(rgb: np.ndarray) -> int:
    """The frame number an RGB image of a `make_numbered_video` frame shows."""
    h, w = rgb.shape[:2]
    centre = rgb[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3)
    r, g, b = (int(round((float(np.median(centre[:, c])) - 8) / _LEVEL)) for c in range(3))
    return r + 16 * g + 256 * b
