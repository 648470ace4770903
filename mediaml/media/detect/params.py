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
        cut_ratio: a hard cut's score must also exceed ``cut_ratio`` times the median
            score of the surrounding ``window`` frames (so steady fast motion does not cut).
        cut_margin: ... plus this absolute margin over that median.
        window: frames on each side used for the local median.
        max_shift: motion compensation search range, in analysis pixels (64x36 frame):
            +-3 covers pans of about 5% of the frame width per frame.
        flash_frames: a change that returns to the previous picture within this many
            frames is a flash or brief occlusion, not a cut.
        flash_ratio: "returns" means the before/after distance is below this fraction of
            the change itself (and below ``cut_threshold``).
        gradual_scales: half-widths, in frames, at which gradual transitions are sought
            (a dissolve of length L is found at scales >= L/2).
        gradual_threshold: minimum distance between the frames either side of a gradual
            transition (the pictures must really differ).
        mix_residual: a frame inside a dissolve must be explained by a linear mix of the
            frames either side to within this fraction of their distance.
        mix_range: the mix weight at the transition centre must lie in this range
            (rules out hard cuts and still shots).
        dark_luma: mean luma (0..255) below which a flat frame counts as black.
        dark_spread: luma standard deviation below which a dark frame counts as flat.
        flat_spread: luma standard deviation below which a frame has no structure.
    """

    cut_threshold: float = 0.30
    cut_min_structure: float = 0.15
    cut_ratio: float = 2.0
    cut_margin: float = 0.10
    window: int = 12
    max_shift: int = 3
    flash_frames: int = 2
    flash_ratio: float = 0.5
    gradual_scales: tuple[int, ...] = (4, 8, 14, 24)
    gradual_threshold: float = 0.30
    mix_residual: float = 0.40
    mix_range: tuple[float, float] = (0.2, 0.8)
    dark_luma: float = 40.0
    dark_spread: float = 10.0
    flat_spread: float = 3.0

    @property
    def context(self) -> int:
        """Frames of context either side a decision needs."""
        return max(self.gradual_scales) + self.window + self.flash_frames + 2
