"""The explore page's map of embeddings, drawn so that a million clips cost the browser
no more than a thousand.

The points come from the stored map (:func:`mediaml.projections.read_map`, one query,
shared by every session of the process). The server rasterises them, the way datashader
does, into one RGBA image per view (a fixed-size picture, whatever the number of clips,
sent as a PNG) and draws it again when the reader pans or zooms. The raster is two numpy passes (a
count per pixel, then histogram-equalised shading); datashader itself was measured and
left out, see ``docs/dashboard-scale.md``. Once the view holds at most
:data:`POINTS_SHOWN` clips they are also sent as points, with a thumbnail on hover. A
box or lasso selection is resolved on the server against every point of the map and
listed a page of :data:`SELECTION_PAGE` cards at a time, with the total count.

Nothing here runs on the event loop for long: every database read and every raster is
computed in a worker thread (``asyncio.to_thread``) and only the result is applied to the
page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import io
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import panel as pn
from bokeh.events import MouseMove, RangesUpdate, SelectionGeometry
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.palettes import Category10
from bokeh.plotting import figure
from panel.io.state import set_curdoc
from PIL import Image

from dashboards.components.grid import ClipGrid
from dashboards.offloop import change_off_loop
from dashboards.urls import preview_urls
from mediaml.catalog import clip_details
from mediaml.projections import MapPoints

log = logging.getLogger(__name__)

PALETTE = list(Category10[10])
DENSITY = ("#6baed6", "#08306b")  # few clips -> many clips in a pixel
RASTER = (720, 420)  # pixels of the map image (width, height)
POINTS_SHOWN = 2_000  # clips in view at or below which they are drawn as points
SELECTION_PAGE = 24
PAD = 0.04
# Over the raster, the clip nearest the pointer is shown when it is within this fraction
# of the view's width and height.
PROBE_REACH = 0.02


def colours(video_ids: np.ndarray) -> list[str]:
    """The colour of each clip's point: one per source video, cycling through 10."""
    return [PALETTE[int(v) % 10] for v in video_ids]


# -- rasterising -----------------------------------------------------------------------


def _rgba(hex_colour: str, alpha: int = 255) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)] + [alpha], np.float32)


LIGHT, DARK = _rgba(DENSITY[0], 110), _rgba(DENSITY[1])


def counts_per_pixel(
    points: MapPoints,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    size: tuple[int, int] = RASTER,
) -> np.ndarray:
    """How many clips fall in each pixel (``height x width``, row 0 at the bottom)."""
    width, height = size
    x0, x1 = x_range
    y0, y1 = y_range
    ix = np.floor((points.x - x0) * (width / (x1 - x0))).astype(np.int64)
    iy = np.floor((points.y - y0) * (height / (y1 - y0))).astype(np.int64)
    ok = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    flat = np.bincount(iy[ok] * width + ix[ok], minlength=width * height)
    return flat.reshape(height, width)


def shade(counts: np.ndarray) -> np.ndarray:
    """Counts as RGBA (``uint32``): empty pixels transparent, the rest from light to dark
    blue by histogram equalisation (each shade covers as many pixels as the next), every
    pixel grown by one so lone clips stay visible."""
    padded = np.pad(counts, 1)
    h, w = counts.shape
    grown = np.max([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)
    filled = grown > 0
    levels, rank = np.unique(grown[filled], return_inverse=True)
    cdf = np.cumsum(np.bincount(rank, minlength=len(levels))) / max(1, rank.size)
    t = cdf[rank][:, None].astype(np.float32)
    colours = np.rint(LIGHT + (DARK - LIGHT) * t).astype(np.uint32)
    out = np.zeros(counts.shape, np.uint32)
    out[filled] = colours[:, 0] | colours[:, 1] << 8 | colours[:, 2] << 16 | colours[:, 3] << 24
    return out


def rasterise(
    points: MapPoints,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    size: tuple[int, int] = RASTER,
) -> np.ndarray:
    """The points inside the ranges as one RGBA image (see :func:`shade`), the way
    datashader draws big scatters, in two numpy passes (a million points: 0.12–0.26 s, measured at load average 7 on
    2 cores; it runs in a worker thread, never on the event loop)."""
    return shade(counts_per_pixel(points, x_range, y_range, size))


def png_url(image: np.ndarray) -> str:
    """An RGBA raster (``uint32``, row 0 at the bottom, see :func:`shade`) as a PNG data
    URL: mostly transparent, it compresses to a few dozen kilobytes where the raw pixels
    take 1.2 MB on the websocket."""
    rgba = np.ascontiguousarray(image[::-1]).view(np.uint8).reshape(*image.shape, 4)
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG", compress_level=1)  # (h, w, 4) uint8: RGBA
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def bounds(points: MapPoints) -> tuple[tuple[float, float], tuple[float, float]]:
    """The padded extent of the map (a unit square around a single point)."""
    if not len(points):
        return (0.0, 1.0), (0.0, 1.0)
    out = []
    for axis in (points.x, points.y):
        lo, hi = float(axis.min()), float(axis.max())
        pad = (hi - lo) * PAD or 0.5
        out.append((lo - pad, hi + pad))
    return out[0], out[1]


# -- selecting -------------------------------------------------------------------------


def inside(points: MapPoints, geometry: dict[str, Any]) -> np.ndarray:
    """Indices of the points inside a Bokeh selection geometry (``rect`` or ``poly``)."""
    x, y = points.x, points.y
    kind = geometry.get("type")
    if kind == "rect":
        x0, x1 = sorted((float(geometry["x0"]), float(geometry["x1"])))
        y0, y1 = sorted((float(geometry["y0"]), float(geometry["y1"])))
        return np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    if kind == "poly":
        px = np.asarray(geometry["x"], np.float64)
        py = np.asarray(geometry["y"], np.float64)
        if len(px) < 3:
            return np.zeros(0, np.int64)
        box = np.flatnonzero((x >= px.min()) & (x <= px.max()) & (y >= py.min()) & (y <= py.max()))
        cx, cy = x[box].astype(np.float64), y[box].astype(np.float64)
        odd = np.zeros(len(box), bool)
        for i in range(len(px)):  # even-odd rule, one edge at a time over all candidates
            ax, ay, bx, by = px[i - 1], py[i - 1], px[i], py[i]
            crosses = (ay > cy) != (by > cy)
            with np.errstate(divide="ignore", invalid="ignore"):
                at = ax + (cy - ay) * (bx - ax) / (by - ay)
            odd ^= crosses & (cx < at)
        return box[odd]
    return np.zeros(0, np.int64)


def nearest(
    points: MapPoints,
    x: float,
    y: float,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    reach: float = PROBE_REACH,
) -> int | None:
    """Index of the point nearest to ``(x, y)``, measured in fractions of the view (so a
    wide view does not favour one axis), or None when none is within ``reach``."""
    if not len(points):
        return None
    width = (x_range[1] - x_range[0]) or 1.0
    height = (y_range[1] - y_range[0]) or 1.0
    dx = (points.x - np.float32(x)) / np.float32(width)
    dy = (points.y - np.float32(y)) / np.float32(height)
    distance = dx * dx + dy * dy
    best = int(np.argmin(distance))
    return best if float(distance[best]) <= reach * reach else None


def _selected_ids(points: MapPoints, geometry: dict[str, Any]) -> np.ndarray:
    """The clip ids inside a selection geometry, sorted."""
    return np.sort(points.clip_id[inside(points, geometry)])


@dataclass
class View:
    """What one raster shows: its image and ranges, and the points drawn individually."""

    image: str  # a PNG data URL (png_url)
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    shown: dict[str, list[Any]]
    in_view: int


# The first view of each stored map in use (see ExploreMap._first_view), by map object.
_first_views: dict[int, tuple[weakref.ref[MapPoints], View]] = {}
_first_lock = threading.Lock()
_first_drawing = threading.Lock()


def first_view(
    points: MapPoints,
    render: Callable[[MapPoints, tuple[float, float], tuple[float, float]], View] | None = None,
) -> View:
    """The whole map, as every page first shows it: drawn once per stored map and
    shared by the sessions of this process while too many clips are in it to draw
    them one by one (its raster and extent cost passes over every point). One is drawn
    at a time: a page that asks while the same view is being drawn (by ``mediaml
    serve`` after a start, or another session) waits for it. ``render`` draws a view
    (``ExploreMap._render``); without it, only the raster of a large map is drawn."""
    with _first_lock:
        hit = _first_views.get(id(points))
    if hit is not None and hit[0]() is points:
        return hit[1]
    large = len(points) > POINTS_SHOWN
    with _first_drawing if large else contextlib.nullcontext():
        with _first_lock:
            hit = _first_views.get(id(points))
        if hit is not None and hit[0]() is points:
            return hit[1]
        x_range, y_range = bounds(points)
        view = (render or _raster_view)(points, x_range, y_range)
        if view.in_view > POINTS_SHOWN:
            with _first_lock:
                for key in [k for k, (ref, _) in _first_views.items() if ref() is None]:
                    del _first_views[key]
                _first_views[id(points)] = (weakref.ref(points), view)
    return view


def _raster_view(
    points: MapPoints, x_range: tuple[float, float], y_range: tuple[float, float]
) -> View:
    """A view drawn as a raster only (no points one by one)."""
    in_view = len(in_ranges(points, x_range, y_range))
    return View(
        png_url(rasterise(points, x_range, y_range)), x_range, y_range, empty_points(), in_view
    )


def in_ranges(
    points: MapPoints, x_range: tuple[float, float], y_range: tuple[float, float]
) -> np.ndarray:
    """Indices of the points inside the view ``x_range`` x ``y_range``."""
    rect = {"type": "rect", "x0": x_range[0], "x1": x_range[1], "y0": y_range[0], "y1": y_range[1]}
    return inside(points, rect)


def empty_points() -> dict[str, list[Any]]:
    return {k: [] for k in ("x", "y", "clip_id", "title", "thumb", "color", "video_id")}


class ExploreMap:
    """One session's map: a Bokeh figure, the selection count and a paged card grid.

    Args:
        on_pick: called with a clip id when a card of the selection is clicked.
        thumbnails: clip ids -> thumbnail URLs (the page's own lookup).
        say: shows a message on the page.
        heading: HTML above the map's status line, in the same pane.
        controls: Panel objects between the status line and the map.
    """

    def __init__(
        self,
        on_pick: Callable[[int], None],
        thumbnails: Callable[[list[int]], dict[int, str]],
        say: Callable[[str], None],
        heading: str = "",
        controls: Sequence[Any] = (),
    ) -> None:
        self.heading = heading
        self.thumbnails = thumbnails
        self.say = say
        self.doc = pn.state.curdoc
        self.points: MapPoints | None = None
        self.selection = np.zeros(0, np.int64)
        self.selection_page = 1
        self._rendered: tuple[Any, ...] | None = None
        self._generation = 0
        self._view: tuple[tuple[float, float], tuple[float, float], int] | None = None
        self._pointer: tuple[float, float] | None = None  # the latest one not looked up yet
        self._probing = False
        self.image = ColumnDataSource(
            {"image": [], "x": [], "y": [], "dw": [], "dh": []}, name="mm-map-image"
        )
        self.source = ColumnDataSource(empty_points(), name="mm-map")
        self.mark = ColumnDataSource({"x": [], "y": []}, name="mm-map-probe-mark")
        self.figure = self._figure()
        self.status = pn.pane.HTML(heading, css_classes=["mm-map-status"])
        self.probe = pn.pane.HTML("", css_classes=["mm-map-probe"], min_height=40)
        # The selection's count, pager and cards are one model.
        self.grid = ClipGrid(
            on_pick=on_pick,
            on_turn=self._turn,
            empty_text="",
            css_classes=["mm-selected"],
            sizing_mode="stretch_width",
        )
        self.figure.on_event(RangesUpdate, self._on_ranges)
        self.figure.on_event(SelectionGeometry, self._on_geometry)
        self.figure.on_event(MouseMove, self._on_move)
        self.plot = pn.pane.Bokeh(self.figure, sizing_mode="stretch_width")
        self.view = pn.Column(
            self.status,
            *controls,
            self.plot,
            self.probe,  # below the map, so showing a clip never moves the map under the pointer
            self.grid,
            sizing_mode="stretch_width",
        )

    def _figure(self) -> Any:
        fig = figure(
            x_range=Range1d(start=0, end=1),
            y_range=Range1d(start=0, end=1),
            height=RASTER[1],
            sizing_mode="stretch_width",
            tools="pan,wheel_zoom,box_select,lasso_select,reset",
            active_drag="box_select",
            toolbar_location="above",
            # Map coordinates mean nothing to a reader: no axes, grid or title (and no
            # Bokeh models for them to make, send and draw).
            x_axis_type=None,
            y_axis_type=None,
            title=None,
        )
        image = fig.image_url(
            url="image", x="x", y="y", w="dw", h="dh", anchor="bottom_left", source=self.image
        )
        dots = fig.scatter("x", "y", source=self.source, size=9, color="color", alpha=0.8)
        mark = fig.scatter(
            "x", "y", source=self.mark, size=16, fill_alpha=0, line_color="#d62728", line_width=2
        )
        for renderer in (image, mark):  # never selected or muted: fewer models to send and draw
            renderer.nonselection_glyph = renderer.muted_glyph = None
        dots.muted_glyph = None  # no legend mutes it
        fig.add_tools(
            HoverTool(
                renderers=[dots],
                tooltips='<div><img src="@thumb" width="128" alt=""><div>#@clip_id @title</div></div>',
            )
        )
        return fig

    # -- running work off the event loop ----------------------------------------------

    def _spawn(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``job`` (a coroutine function) as a Panel async callback of this session."""
        with set_curdoc(self.doc):
            pn.state.execute(job)

    def _locked(self, change: Callable[[], None]) -> None:
        """Change Bokeh models under the document lock (Panel's async callbacks run
        without it; Panel's own widgets take care of that themselves, raw models do not).
        Models not in a document yet (a page being prepared) are changed at once."""
        if self.doc is None or self.doc.session_context is None or self.figure.document is None:
            change()
        else:
            self.doc.add_next_tick_callback(change)

    def _clear(self) -> None:
        self.image.data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
        self.source.data = empty_points()
        self.mark.data = {"x": [], "y": []}

    # -- loading -------------------------------------------------------------------

    async def show(self, points: MapPoints | None, note: str = "") -> None:
        """Show a map (``None``: none stored yet, ``note`` says why) from its full extent."""
        if self._reset(points, note) is None:
            return
        assert points is not None
        self._generation += 1
        generation = self._generation
        view = await asyncio.to_thread(self._first_view, points)
        if generation == self._generation and points is self.points:
            self._show_view(points, view, reset_ranges=True)

    def show_now(self, points: MapPoints | None, note: str = "") -> None:
        """:meth:`show` in the calling (worker) thread, for a map whose models are not in
        the page yet: the first view of a page."""
        if self._reset(points, note) is None:
            return
        assert points is not None
        self._generation += 1
        self._show_view(points, self._first_view(points), reset_ranges=True)

    def _first_view(self, points: MapPoints) -> View:
        return first_view(points, self._render)

    def _reset(self, points: MapPoints | None, note: str) -> MapPoints | None:
        self.points = points
        self._view = None
        self.probe.object = ""
        self.selection = np.zeros(0, np.int64)
        self.grid.param.update(header="", items=[], turn_labels=[])
        self._status(html.escape(note))
        if points is None:
            self._locked(self._clear)
        return points

    async def _draw(
        self, x_range: tuple[float, float], y_range: tuple[float, float], *, reset_ranges: bool
    ) -> None:
        points = self.points
        if points is None:
            return
        if (points.version, x_range, y_range) == self._rendered:
            return
        self._generation += 1
        generation = self._generation
        view = await asyncio.to_thread(self._render, points, x_range, y_range)
        if generation != self._generation or points is not self.points:
            return  # a newer view was asked for meanwhile
        self._show_view(points, view, reset_ranges=reset_ranges)

    def _show_view(self, points: MapPoints, view: View, *, reset_ranges: bool) -> None:
        x_range, y_range = view.x_range, view.y_range
        self._rendered = (points.version, x_range, y_range)

        def apply() -> None:
            if reset_ranges:
                self.mark.data = {"x": [], "y": []}
                for rng, (lo, hi) in (
                    (self.figure.x_range, x_range),
                    (self.figure.y_range, y_range),
                ):
                    rng.update(start=lo, end=hi, reset_start=lo, reset_end=hi)
            self.image.data = {
                "image": [view.image],
                "x": [x_range[0]],
                "y": [y_range[0]],
                "dw": [x_range[1] - x_range[0]],
                "dh": [y_range[1] - y_range[0]],
            }
            self.source.data = view.shown

        self._locked(apply)
        self._view = (x_range, y_range, view.in_view)
        hint = f"{len(points):,} clips on the map · {view.in_view:,} in view" + (
            ""
            if view.in_view <= POINTS_SHOWN
            else " · the clip nearest the pointer is shown below the map; zoom in for single clips"
        )
        self._status(hint)

    def _status(self, line: str) -> None:
        """Show ``line`` (HTML) under the heading."""
        self.status.object = self.heading + (f'<p class="mm-muted">{line}</p>' if line else "")

    def _render(
        self, points: MapPoints, x_range: tuple[float, float], y_range: tuple[float, float]
    ) -> View:
        image = png_url(rasterise(points, x_range, y_range))
        in_view = in_ranges(points, x_range, y_range)
        shown = empty_points()
        if len(in_view) <= POINTS_SHOWN:
            ids = [int(c) for c in points.clip_id[in_view]]
            details = clip_details(ids)
            thumbs = self.thumbnails(ids)
            shown = {
                "x": points.x[in_view],
                "y": points.y[in_view],
                "clip_id": ids,
                "title": [str(details.get(c, {}).get("title", "")) for c in ids],
                "thumb": [thumbs.get(c, "") for c in ids],
                "color": colours(points.video_id[in_view]),
                "video_id": [int(v) for v in points.video_id[in_view]],
            }
        return View(image, x_range, y_range, shown, len(in_view))

    # -- events ----------------------------------------------------------------------

    def _on_ranges(self, event: RangesUpdate) -> None:
        x0, x1, y0, y1 = event.x0, event.x1, event.y0, event.y1
        if x0 is None or x1 is None or y0 is None or y1 is None:
            return
        x_range, y_range = (float(x0), float(x1)), (float(y0), float(y1))

        async def job() -> None:
            await self._draw(x_range, y_range, reset_ranges=False)

        self._spawn(job)

    def _on_move(self, event: MouseMove) -> None:
        """Over the raster, show the clip nearest the pointer (points drawn one by one
        have their own hover). Moves that arrive while one is looked up are folded into
        the latest, so a fast pointer costs one lookup at a time."""
        view = self._view
        if self.points is None or view is None or event.x is None or event.y is None:
            return
        if view[2] <= POINTS_SHOWN:
            return
        self._pointer = (float(event.x), float(event.y))
        if self._probing:
            return
        self._probing = True

        async def job() -> None:
            try:
                while self._pointer is not None and self.points is not None:
                    (x, y), self._pointer = self._pointer, None
                    points, ranges = self.points, self._view
                    if ranges is None:
                        return
                    found = await asyncio.to_thread(self._probe, points, x, y, ranges)
                    self._show_probe(found)
            finally:
                self._probing = False

        self._spawn(job)

    def _probe(
        self,
        points: MapPoints,
        x: float,
        y: float,
        view: tuple[tuple[float, float], tuple[float, float], int],
    ) -> dict[str, Any] | None:
        index = nearest(points, x, y, view[0], view[1])
        if index is None:
            return None
        clip = int(points.clip_id[index])
        details = clip_details([clip]).get(clip, {})
        return {
            "clip_id": clip,
            "x": float(points.x[index]),
            "y": float(points.y[index]),
            "title": str(details.get("title", "")),
            "thumb": self.thumbnails([clip]).get(clip, ""),
        }

    def _show_probe(self, found: dict[str, Any] | None) -> None:
        if found is None:
            self.probe.object = ""
            self._locked(lambda: setattr(self.mark, "data", {"x": [], "y": []}))
            return
        thumb = (
            f'<img src="{html.escape(found["thumb"])}" height="36" alt=""> '
            if found["thumb"]
            else ""
        )
        self.probe.object = (
            f'<div class="mm-probe">{thumb}Nearest the pointer: <b>#{found["clip_id"]}</b>'
            f" · {html.escape(found['title'])}</div>"
        )
        mark = {"x": [found["x"]], "y": [found["y"]]}
        self._locked(lambda: setattr(self.mark, "data", mark))

    def _on_geometry(self, event: SelectionGeometry) -> None:
        if not event.final or self.points is None or event.geometry is None:
            return
        geometry: dict[str, Any] = dict(event.geometry)
        points = self.points

        async def job() -> None:
            self.selection = await asyncio.to_thread(_selected_ids, points, geometry)
            self.selection_page = 1
            await self._list()

        self._spawn(job)

    def _turn(self, step: int) -> None:
        self.selection_page = max(1, self.selection_page + step)

        async def job() -> None:
            await self._list()

        self._spawn(job)

    async def _list(self) -> None:
        """Show the current page of the selection as cards, with the count."""
        total = len(self.selection)
        if not total:
            self.grid.param.update(header="", items=[], turn_labels=[])
            return
        pages = -(-total // SELECTION_PAGE)
        self.selection_page = min(self.selection_page, pages)
        first = (self.selection_page - 1) * SELECTION_PAGE
        ids = [int(c) for c in self.selection[first : first + SELECTION_PAGE]]
        items = await asyncio.to_thread(self._cards, ids)
        page = self.selection_page

        def draw() -> None:
            self.grid.param.update(
                header=(
                    f'<div class="mm-selection"><b>{total:,} clip(s) selected</b> · showing'
                    f" {first + 1:,}–{first + len(ids):,} — click one to make it the main"
                    " clip</div>"
                ),
                items=items,
                turn_labels=["‹ Previous clips", "More clips ›"] if pages > 1 else [],
                can_turn=[page > 1, page < pages],
            )

        # 24 cards and their models: 12-20 ms of CPU measured on the event loop; the
        # change and its patch are made in a worker thread instead.
        await change_off_loop(self.doc, draw)

    def _cards(self, ids: list[int]) -> list[dict[str, Any]]:
        details = clip_details(ids)
        thumbs = self.thumbnails(ids)
        previews = preview_urls(ids)
        return [
            {
                "clip_id": c,
                "title": str(details[c]["title"]),
                "start_frame": int(details[c]["start_frame"]),
                "end_frame": int(details[c]["end_frame"]),
                "similarity": None,
                "thumb": thumbs.get(c) or None,
                "preview": previews.get(c),
            }
            for c in ids
            if c in details
        ]
