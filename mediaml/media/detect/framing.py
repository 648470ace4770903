"""Did the framing jump from one frame to the next? (a cut between two framings of one set)

Editors cut between two framings of one set: a medium shot to a close-up of the same
face, a wide street to a detail of it, often on nearly the same instant (a continuity
cut). The colours are the same and the shapes nearly so, and at the analysis size a
smooth picture rescaled by 1.4x still lines up well under the motion search, so such a
cut can change the picture less than a person turning does, and was missed. But no
camera changes its framing by a quarter or more from one frame to the next: a zoom or a
push-in spreads that over many frames. So a step whose new picture is the old one at
another scale (or the old one the new one's), matching much better so than unscaled,
while the steps either side show no such jump, is a cut.

Each picture is shrunk by the scale and searched for, by normalised correlation over
every position, in the other picture (`cv2.matchTemplate`): a close-up is a part of the
wider picture enlarged, so the close-up shrunk is found inside the wider one.
"""

from __future__ import annotations

import numpy as np

from mediaml.media.detect.features import Features
from mediaml.media.detect.params import DetectorParams


def _best(image: np.ndarray, template: np.ndarray) -> float:
    import cv2  # loaded on first use: see `burst.flow_residual`

    return float(cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED).max())


def rescaled(a: np.ndarray, b: np.ndarray, p: DetectorParams) -> tuple[float, float]:
    """How well picture ``b`` is picture ``a`` at another scale, and unscaled.

    ``a``, ``b``: normalised luma (H, W). Returns (the best correlation of either
    picture shrunk by one of ``reframe_scales`` and found anywhere in the other, the
    best correlation of ``b``'s middle found in ``a`` within ``reframe_reach`` of where
    it was).
    """
    import cv2

    a, b = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)
    h, w = a.shape
    best = -1.0
    for s in p.reframe_scales:
        size = (round(w / s), round(h / s))
        for big, small in ((a, b), (b, a)):
            shrunk = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
            best = max(best, _best(big, shrunk))
    r = p.reframe_reach
    ry = max(1, round(r * h / w))
    return best, _best(a, b[ry : h - ry, r : w - r])


def _gain(f: Features, t: int, p: DetectorParams) -> tuple[float, float]:
    """Step ``t``'s (rescaled match, its gain over the unscaled match)."""
    scaled, unscaled = rescaled(f.z[t - 1], f.z[t], p)
    return scaled, scaled - unscaled


def framing_jumps(f: Features, t: int, p: DetectorParams) -> bool:
    """True when step ``t`` (frame t-1 to t) changes the framing at once.

    The picture after is the one before at another scale (or the reverse): matching so
    at ``reframe_match`` or better, and better than unscaled; that gain is at least
    ``reframe_gain`` above the same gain at the steps either side (a zoom rescales
    step after step; a cut only once). And the steps either side match better unscaled
    than rescaled: the camera moves within the search there. A pan faster than the
    search defeats the unscaled match at every step, and some rescaled crop of a smooth
    picture then lines up better, step after step alike.
    """
    if not 2 <= t < len(f) - 1:
        return False
    scaled, gain = _gain(f, t, p)
    if scaled < p.reframe_match or gain < 0:
        return False  # (the steps either side are measured only for a rescaled match)
    around = max(_gain(f, i, p)[1] for i in (t - 1, t + 1))
    return around <= 0 and gain - around >= p.reframe_gain
