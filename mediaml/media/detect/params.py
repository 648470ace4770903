"""The shot detector's parameters, with documented defaults.

The defaults were set on varied synthetic videos (test cards, fractals, cellular automata,
film grain, fast pans and zooms, flashes, dissolves and fades of 4-50 frames) and are
meant to hold for any video: every threshold is either relative to the video's own local
activity or a distance on a normalised 0..1 scale, so nothing needs per-video tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

ANALYSIS_SIZE = (64, 36)
"""Width x height FFmpeg scales every frame to before the detector sees it (YUV 4:4:4)."""


@dataclass(frozen=True)
class DetectorParams:
    """Thresholds and windows of the shot detector.

    Distances are on a 0..1 scale (0: same picture, ~1: unrelated pictures).

    Attributes:
        cut_threshold: minimum change score between two adjacent frames for a hard cut.
        cut_min_structure: a hard cut also needs at least this much motion-compensated
            structural change (brightness or colour shifts alone are not cuts).
        structure_cut: a step whose motion-compensated structure change alone is at least
            this, dominates its neighbours' structure changes (``cut_dominance``) and
            clears the structure's own local level (``cut_ratio``, ``cut_margin``) is a
            cut even when its colours barely change (two framings of one set); found so,
            it must still tower (``sharp_dominance``) over its neighbours searched twice
            as wide, or it is a pan just faster than the motion search.
        flat_cut_colour: between two featureless (flat) frames, the colour histogram
            distance a cut needs (a flat frame only brightening or darkening is not a cut).
        cut_ratio: a hard cut's score must also exceed ``cut_ratio`` times the local
            level: the median score of the ``window`` frames on the busier side (so
            steady fast motion, grain or animation does not cut).
        cut_margin: ... plus this absolute margin.
        cut_dominance: a hard cut's step must be this many times larger than the steps
            right before and after it (by the combined score, or by colour alone): a
            dissolve or a camera move spreads its change over several steps.
        sharp_dominance: a step at least this many times larger than its neighbours is a
            cut with less margin over the local level (``sharp_ratio`` times it plus
            ``sharp_margin``): a cut into a shot that opens with fast motion.
        sharp_ratio: see ``sharp_dominance``.
        sharp_margin: see ``sharp_dominance``.
        tower_dominance: a step at least this many times larger than both neighbours
            (a lone one-frame change) is a cut from ``tower_threshold`` up, below
            ``cut_threshold``, when it clears the local level as a usual cut does: a
            cut between two framings of one set can change little, but only a cut, a
            flash or a change of motion blur is so lone (the latter two are checked).
        tower_threshold: see ``tower_dominance``.
        edge_dominance: the first (or last) big step of a burst of motion is a cut
            candidate, though no peak, when it is at least this many times the step
            on its calm side and clears the local level as a usual cut does: a cut
            into a shot that opens on a sweep or a whip already under way, or out of
            one that closes on it (see `decide.burst_edges`). 0 turns it off.
        window: frames on each side used for the local level.
        max_shift: motion compensation search range, in pixels of the half-size (32x18)
            structure picture: +-2 covers pans of about 6% of the frame width per frame.
        wide_shift: the motion search range used to re-check candidate cuts (a pan
            faster than ``max_shift`` must not look like a cut) and for sweeps.
        sweep_frames: a candidate cut inside a run of up to this many big changes, after
            which the picture from before the run is back, is part of something passing
            the lens or a whip away and back, not a cut.
        flash_frames: a change that returns to the previous picture within this many
            frames is a flash or brief occlusion, not a cut; two cuts this close are
            one (no shot is that short).
        flash_ratio: "returns" means the structural distance between the frames before
            and after is below this fraction of the change itself.
        flash_colour: a step whose colours change by at least this (colour histogram
            distance) is a possible flash: whether its picture comes back within the
            shot's usual change is judged with the motion search widened by the frame
            gap (a flash in a moving shot lines up only so); any other step is judged
            with the ``max_shift`` search the local level uses (see `decide._returns`).
            0 judges every step with the wider search.
        short_shot: two cuts with no calm step between them, at most ``sweep_frames``
            apart, are one disturbance (the more dominant is kept) unless both tower
            (``sharp_dominance``); or unless the later one towers, the earlier one does
            not, and they are at least this many frames apart: a shot this short full of
            motion (fast action, something sweeping past the lens all through it; see
            `decide._short_shot`). Above ``sweep_frames``: never.
        blur_sharpness: a candidate cut where one picture is at most this sharp (mean
            absolute gradient along x or y) relative to the other is checked for being
            the other blurred along that axis (motion blur starting or stopping): the
            sharper, blurred until it is as soft, must not come within ``flash_ratio``
            of the change across (see `decide._blurred`).
        gradual_scales: half-widths ``h``, in frames, at which gradual transitions are
            sought: the change from ``c - h`` to ``c + h`` is contrasted with the changes
            from ``c - 3h`` to ``c - h`` and from ``c + h`` to ``c + 3h`` (a dissolve of
            length L is found at scales of about L/2 and up; 24 covers 2 s at 25 fps).
        gradual_threshold: minimum contrast for a gradual transition (also the minimum
            change across a black run for it to be a fade).
        gradual_confirm: a dissolve is reported only when its contrast peaks at least
            this high somewhere (runs that only just pass ``gradual_threshold`` were,
            on real footage, fast subject or camera motion).
        blend_max: a dissolve's middle frames must be explained as mixes of the pictures
            before and after it (see `decide.blend_residual`) to within this fraction of
            the difference between those two pictures; fast camera or subject motion
            (whip pans, push-ins, something sweeping past the lens) is not a mix.
        whip_shift: the largest whole-frame shift, in pixels of the analysis picture (in
            x; in y at most a quarter of its height), tried when asking whether one
            picture is another moved (`decide.shift_match`): a dissolve candidate whose
            end pictures are one view shifted is a whip pan or fast camera move, and a
            candidate cut whose step is such a shift, repeated by an adjacent step
            (within ``max_shift``), is a steady move.
        whip_match: ... "one view" meaning the overlapping parts correlate at least this
            well (whips' ends: 0.92-0.99; true dissolves' ends: at most 0.54).
        still_blocks: a candidate cut that does not tower over its neighbours (dominance
            under ``tower_dominance``: a step in a burst of motion, not a lone change as
            a jump cut is) is no cut when at least this many of its 12 blocks are
            unchanged across it (see
            `blocks.unchanged_blocks`): a cut changes the whole picture, something
            sweeping past the lens (or a cyclist crossing close at 3x zoom) only the
            part it covers or uncovers; a third of the picture unchanged is no cut.
        still_match: ... "unchanged" meaning the block's normalised luma correlates at
            least this well with the previous picture's, moved by up to ``2 * max_shift``
            pixels.
        still_texture: ... and the block shows some texture in both pictures (standard
            deviation of normalised luma at least this; flat blocks match anything).
        burst_weights: a candidate cut that does not tower over its neighbours and
            passes every other check is weighed by a logistic scorer over its evidence
            (`burst.FEATURES`, computed by `burst.burst_evidence`, with the dense
            optical flow's `burst.flow_residual`): it is the burst of motion itself,
            not a cut, when ``burst_bias`` plus these weights times that evidence is
            above 0. Fitted by ``bench/fit_burst.py`` on labelled cut-only edits of
            real camera footage; the bias puts the line so that 1 in 100 of those
            edits' true cuts in bursts would be taken for motion (each family left out
            in turn: 74 of 97 false cuts removed, 13 of 1,088 cuts lost; with the line
            at the most motion-like cut, 19 removed and 1 lost). Empty: no scorer.
        burst_bias: see ``burst_weights``.
        match_block: `burst.block_match`, the blocks (pixels of the analysis picture,
            square) searched for in the previous picture by normalised correlation ...
        match_reach: ... up to this many pixels away in x and y ...
        match_texture: ... only blocks whose normalised luma's standard deviation is
            at least this (flat blocks match anything).
        reframe_floor: a step that is no candidate cut but changes at least this much
            (score) and ``reframe_dominance`` times its neighbours is checked for a
            sudden change of framing (`framing.framing_jumps`): a cut between two
            framings of one set (close-up <-> wider) can change little, but no camera
            rescales its picture by a quarter or more from one frame to the next.
        reframe_dominance: see ``reframe_floor``.
        reframe_scales: the scales tried (each picture shrunk by one and found in the
            other) ...
        reframe_match: ... the rescaled picture must correlate at least this well ...
        reframe_gain: ... and its gain over the unscaled match (``b``'s middle searched
            ``reframe_reach`` pixels in x, proportionally in y) must be at least this
            much above the gain of the steps either side (a zoom rescales every step),
            and those steps must match better unscaled (no pan past the search). Such a
            step found by structure alone needs no towering at the doubled search.
        reframe_reach: see ``reframe_gain``.
        dark_luma: mean luma (0..255) below which a flat frame counts as black.
        dark_spread: luma standard deviation below which a dark frame counts as flat.
        flat_spread: luma standard deviation below which a frame has no structure.
    """

    cut_threshold: float = 0.30
    cut_min_structure: float = 0.15
    structure_cut: float = 0.35
    flat_cut_colour: float = 0.9
    cut_ratio: float = 1.5
    cut_margin: float = 0.10
    cut_dominance: float = 1.3
    sharp_dominance: float = 1.8
    sharp_ratio: float = 1.1
    sharp_margin: float = 0.05
    tower_dominance: float = 3.0
    tower_threshold: float = 0.2
    edge_dominance: float = 3.0
    window: int = 12
    max_shift: int = 2
    wide_shift: int = 6
    sweep_frames: int = 7
    flash_frames: int = 2
    flash_ratio: float = 0.5
    flash_colour: float = 0.9
    short_shot: int = 6
    blur_sharpness: float = 0.7
    gradual_scales: tuple[int, ...] = (4, 8, 14, 24)
    gradual_threshold: float = 0.30
    gradual_confirm: float = 0.37
    blend_max: float = 0.45
    whip_shift: int = 24
    whip_match: float = 0.8
    still_blocks: int = 4
    still_match: float = 0.9
    still_texture: float = 0.2
    # fitted by bench/fit_burst.py (order: burst.FEATURES)
    burst_weights: tuple[float, ...] = (
        -1.2272,  # dominance
        -0.7637,  # score
        -1.02984,  # colour
        0.178104,  # structure
        0.406597,  # still
        0.419185,  # still_near
        -2.91631,  # return_near
        1.67172,  # colour_near
        -14.2557,  # flow_residual
        9.98914,  # block_match
    )
    burst_bias: float = 17.8345
    match_block: int = 8
    match_reach: int = 4
    match_texture: float = 0.1
    reframe_floor: float = 0.12
    reframe_dominance: float = 1.5
    reframe_scales: tuple[float, ...] = (1.25, 1.4, 1.6, 1.8, 2.0, 2.25)
    reframe_match: float = 0.85
    reframe_gain: float = 0.2
    reframe_reach: int = 7
    dark_luma: float = 40.0
    dark_spread: float = 10.0
    flat_spread: float = 3.0

    @property
    def context(self) -> int:
        """Frames of context either side a decision needs.

        The largest gradual scale looks ``3h`` frames either way, and a run of candidate
        centres can extend ``h`` further; the hard-cut level looks ``window + 2`` frames.
        """
        h = max(self.gradual_scales)
        return 4 * h + self.window + self.flash_frames + 2
