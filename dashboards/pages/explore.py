"""The explore page: a main clip and the clips most (or least) like it, text search, and a
2D map of the embeddings with hover thumbnails and lasso/box selection."""

from __future__ import annotations

import html
import logging
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.palettes import Category10
from bokeh.plotting import figure

from dashboards.components.grid import ClipGrid
from dashboards.components.reel import ReelMaker
from dashboards.context import get_context
from dashboards.pages.layout import shell
from dashboards.projection import methods, project
from dashboards.query import QueryParam, read_query
from dashboards.urls import playback_url, preview_urls
from mediaml import embed
from mediaml.catalog import clip_details
from mediaml.config import EMBED_STRATEGIES
from mediaml.db import get_db
from mediaml.db.artifacts import middle_keyframes
from mediaml.embed.policy import default_model
from mediaml.errors import MediamlError
from mediaml.storage import get_store

log = logging.getLogger(__name__)

PER_PAGE = 12
ORDERS = {"Most similar": "desc", "Least similar": "asc"}

QUERY = [
    QueryParam("clip", "int"),
    QueryParam("model", max_length=100),
    QueryParam("strategy", "choice", EMBED_STRATEGIES),
    QueryParam("video", "int"),
    QueryParam("p", "int"),
    QueryParam("order", "choice", tuple(ORDERS.values())),
    QueryParam("q", max_length=300),
]


def variants() -> dict[str, list[str]]:
    """Model name -> strategies that have stored vectors."""
    from mediaml.embed import variants as stored_variants

    return stored_variants()


def videos() -> dict[str, int]:
    """Source video choices: label -> id (0: every video)."""
    from mediaml.catalog import videos as list_videos

    frame = list_videos()
    return {
        "All videos": 0,
        **{f"{v} · {t}": int(v) for v, t in zip(frame["video_id"], frame["title"], strict=True)},
    }


def thumbnail_urls(clip_ids: list[int]) -> dict[int, str]:
    """Clip id -> a URL of its middle keyframe (signed in production)."""
    if not clip_ids:
        return {}
    with get_db().transaction() as conn:
        keys = middle_keyframes(conn, clip_ids)
    store = get_store()
    urls = {}
    for clip_id, key in keys.items():
        try:
            urls[clip_id] = store.url(key)
        except MediamlError as exc:
            log.warning("no thumbnail URL for clip %s: %s", clip_id, exc)
    return urls


def text_support(model: str) -> tuple[bool, str]:
    """Whether ``model`` can search by text, and why not."""
    try:
        embedder = embed.get_embedder(model)
    except MediamlError as exc:
        return False, f"Text search is unavailable: {exc}"
    if not embedder.has_text:
        return False, (
            f"Text search needs a model with a text tower (CLIP); {model} embeds images only. "
            "Pick a CLIP model above, or explore by similarity."
        )
    return True, ""


class ExploreView:
    """One session's explorer."""

    def __init__(self, values: dict[str, Any], notes: list[str]) -> None:
        self.notes = notes
        self.ctx = get_context()
        found = variants()
        models = list(found) or [default_model(self.ctx.settings)]
        model = values.get("model")
        if model is not None and model not in models:
            notes.append(f"ignored ?model={model}: no clips are embedded with it")
            model = None
        self.found = found
        self.model = pn.widgets.Select(name="Model", options=models, value=model or models[0])
        self.strategy = pn.widgets.Select(name="Strategy", options=list(EMBED_STRATEGIES))
        self._fit_strategies(values.get("strategy"))
        choices = videos()
        video = values.get("video", 0)
        if video not in choices.values():
            notes.append(f"ignored ?video={video}: no such source video")
            video = 0
        self.video = pn.widgets.Select(name="Source video", options=choices, value=video)
        order = {v: k for k, v in ORDERS.items()}.get(values.get("order", "desc"), "Most similar")
        self.order = pn.widgets.RadioButtonGroup(options=list(ORDERS), value=order)
        self.random = pn.widgets.Button(name="Random clip", button_type="primary")
        self.clip_input = pn.widgets.IntInput(name="Clip id", start=1, value=None, width=120)
        self.go = pn.widgets.Button(name="Show", width=70, align="end")
        self.prev = pn.widgets.Button(name="‹ Previous", width=110)
        self.next = pn.widgets.Button(name="Next ›", width=110)
        self.page_label = pn.pane.HTML("", css_classes=["mm-page"])
        self.text = pn.widgets.TextInput(name="Search by text", placeholder="e.g. a red car")
        self.search = pn.widgets.Button(name="Search", align="end", width=90)
        self.text_note = pn.pane.HTML("", css_classes=["mm-text-note"])
        self.message = pn.pane.HTML("", css_classes=["mm-explore-message"])
        self.main = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["mm-main"])
        self.grid = ClipGrid(on_pick=self.set_main, sizing_mode="stretch_width")
        self.method = pn.widgets.Select(name="Map", options=methods(), width=120)
        self.source = ColumnDataSource(
            {k: [] for k in ("x", "y", "clip_id", "title", "thumb", "color", "video_id")},
            name="mm-map",
        )
        self.selected = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["mm-selected"])
        self.selected_grid = ClipGrid(
            on_pick=self.set_main, empty_text="", sizing_mode="stretch_width"
        )
        self.plot = pn.pane.Bokeh(self._figure(), sizing_mode="stretch_width")
        self.reel = ReelMaker(self.reel_clips)

        self.main_id: int | None = values.get("clip")
        self.page = values.get("p", 1)
        self.query: str | None = values.get("q")
        if self.query:
            self.text.value = self.query

        self.model.param.watch(self._on_variant, "value")
        self.strategy.param.watch(self._on_variant, "value")
        self.video.param.watch(lambda _e: self._first_page(), "value")
        self.order.param.watch(lambda _e: self._first_page(), "value")
        self.method.param.watch(lambda _e: self.refresh_map(), "value")
        self.random.on_click(lambda _e: self.pick_random())
        self.go.on_click(lambda _e: self._show_typed_clip())
        self.prev.on_click(lambda _e: self._turn(-1))
        self.next.on_click(lambda _e: self._turn(1))
        self.search.on_click(lambda _e: self.run_search())
        self.text.param.watch(lambda _e: self.run_search(), "enter_pressed")
        self.source.selected.on_change("indices", self._on_select)

        self.view = pn.Column(
            pn.Row(self.model, self.strategy, self.video, sizing_mode="stretch_width"),
            pn.Row(self.order, self.random, self.clip_input, self.go),
            pn.Row(self.text, self.search),
            self.text_note,
            self.message,
            self.main,
            pn.Row(self.prev, self.page_label, self.next),
            self.reel.view,
            self.grid,
            pn.pane.HTML(
                "<h3>Map of embeddings</h3><p>Hover for thumbnails; drag with the box"
                " or lasso tool to list clips.</p>"
            ),
            self.method,
            self.plot,
            self.selected,
            self.selected_grid,
            sizing_mode="stretch_width",
        )

    # -- choices ------------------------------------------------------------------

    def _fit_strategies(self, wanted: str | None = None) -> None:
        available = self.found.get(self.model.value) or list(EMBED_STRATEGIES)
        self.strategy.options = available
        if wanted is not None and wanted not in available:
            self.notes.append(f"ignored ?strategy={wanted}: {self.model.value} has no such vectors")
            wanted = None
        default = self.ctx.settings.embed_strategy
        self.strategy.value = wanted or (default if default in available else available[0])

    def _on_variant(self, event: Any) -> None:
        if event.obj is self.model:
            self._fit_strategies()
        self.update_text_support()
        self.page = 1
        self.refresh()
        self.refresh_map()

    def update_text_support(self) -> None:
        """Enable text search only for models with a text tower, else say why not."""
        ok, why = text_support(self.model.value)
        self.text.disabled = self.search.disabled = not ok
        self.text_note.object = "" if ok else f'<p class="mm-muted">{html.escape(why)}</p>'

    def _first_page(self) -> None:
        self.page = 1
        self.refresh()

    def _turn(self, step: int) -> None:
        self.page = max(1, self.page + step)
        self.refresh()

    @property
    def filters(self) -> dict[str, Any]:
        return {
            "model": self.model.value,
            "strategy": self.strategy.value,
            "source_video": self.video.value or None,
        }

    # -- actions --------------------------------------------------------------------

    def set_main(self, clip_id: int) -> None:
        self.main_id, self.query, self.page = int(clip_id), None, 1
        self.refresh()

    def _show_typed_clip(self) -> None:
        if self.clip_input.value:
            self.set_main(self.clip_input.value)

    def pick_random(self) -> None:
        clip_id = embed.random_clip(**self.filters)
        if clip_id is None:
            self._say("No embedded clips match these filters yet.", error=True)
            return
        self.set_main(clip_id)

    def run_search(self) -> None:
        text = (self.text.value_input or self.text.value or "").strip()
        if not text:
            self._say("Type a few words to search for.", error=True)
            return
        self.query, self.page = text, 1
        self.refresh()

    def reel_clips(self) -> tuple[list[int], str]:
        """The clips a reel is made of: the map selection if any, else the result page."""
        picked = [int(i["clip_id"]) for i in self.selected_grid.items]
        if picked:
            return picked, "the map selection"
        return [int(i["clip_id"]) for i in self.grid.items], f"result page {self.page}"

    # -- drawing ----------------------------------------------------------------------

    def _say(self, text: str, *, error: bool = False) -> None:
        kind = "mm-error" if error else "mm-muted"
        self.message.object = f'<p class="{kind}">{html.escape(text)}</p>' if text else ""

    def refresh(self) -> None:
        """Redraw the main clip and the grid for the current state."""
        self._say("")
        if self.main_id is None and not self.query:
            self.main_id = embed.random_clip(**self.filters)
        try:
            if self.query:
                results = embed.search_text(self.query, PER_PAGE, page=self.page, **self.filters)
                heading = f"Clips matching “{self.query}”"
            elif self.main_id is not None:
                results = embed.similar(
                    self.main_id,
                    PER_PAGE,
                    ascending=ORDERS[self.order.value] == "asc",
                    page=self.page,
                    **self.filters,
                )
                heading = f"{self.order.value} to clip {self.main_id}"
            else:
                results, heading = pd.DataFrame(), "No embedded clips yet"
        except MediamlError as exc:
            results, heading = pd.DataFrame(), "No results"
            self._say(str(exc), error=True)
        self._draw_main(heading)
        self._draw_grid(results)

    def _draw_main(self, heading: str) -> None:
        if self.query or self.main_id is None:
            self.main.object = f"<h3>{html.escape(heading)}</h3>"
            return
        self.clip_input.value = self.main_id
        row = clip_details([self.main_id]).get(self.main_id)
        if row is None:
            self.main.object = f"<h3>Clip {self.main_id} does not exist</h3>"
            return
        thumb = thumbnail_urls([self.main_id]).get(self.main_id, "")
        media = (
            f'<video class="mm-main-video" src="{playback_url(self.main_id)}" poster="{thumb}"'
            ' controls muted loop autoplay playsinline preload="auto" width="480"></video>'
            if row["has_proxy"]
            else (f'<img src="{thumb}" width="320">' if thumb else "")
        )
        self.main.object = (
            f'<div class="mm-main-clip" data-clip-id="{row["clip_id"]}">'
            f"<h3>{html.escape(heading)}</h3>{media}"
            f"<p><b>#{row['clip_id']}</b> · {html.escape(row['title'])} · frames {row['start_frame']}"
            f"–{row['end_frame'] - 1} · {row['duration_s']:.2f} s · {row['state']}</p></div>"
        )

    def _draw_grid(self, results: pd.DataFrame) -> None:
        ids = [int(i) for i in results.get("clip_id", [])]
        thumbs = thumbnail_urls(ids)
        previews = preview_urls(ids)
        self.grid.items = [
            {
                "clip_id": int(r["clip_id"]),
                "title": str(r["title"]),
                "start_frame": int(r["start_frame"]),
                "end_frame": int(r["end_frame"]),
                "similarity": float(r["similarity"]),
                "thumb": thumbs.get(int(r["clip_id"])),
                "preview": previews.get(int(r["clip_id"])),
            }
            for _, r in results.iterrows()
        ]
        self.grid.empty_text = "No clips on this page." if self.page > 1 else "No similar clips."
        first = (self.page - 1) * PER_PAGE + 1
        shown = f"{first}–{first + len(ids) - 1}" if ids else "none"
        self.page_label.object = f'<span class="mm-page-label">page {self.page} · {shown}</span>'
        self.prev.disabled = self.page <= 1
        self.next.disabled = len(ids) < PER_PAGE

    def _figure(self) -> Any:
        fig = figure(
            height=420,
            sizing_mode="stretch_width",
            tools="pan,wheel_zoom,box_select,lasso_select,reset",
            active_drag="box_select",
            toolbar_location="above",
        )
        fig.add_tools(
            HoverTool(
                tooltips='<div><img src="@thumb" width="128" alt=""><div>#@clip_id @title</div></div>'
            )
        )
        fig.scatter("x", "y", source=self.source, size=9, color="color", alpha=0.8)
        fig.axis.visible = False
        fig.grid.visible = False
        return fig

    def refresh_map(self) -> None:
        """Project this variant's vectors to 2D and redraw the map."""
        try:
            vectors = embed.embeddings(self.model.value, self.strategy.value)
        except MediamlError as exc:
            self._say(f"Map unavailable: {exc}", error=True)
            vectors = pd.DataFrame(columns=["clip_id", "video_id", "vector"])
        if len(vectors):
            # keyframe_multi stores several vectors per clip: map each clip once, at its mean.
            grouped = vectors.groupby("clip_id", sort=True)
            clip_ids = [int(c) for c in grouped.groups]
            stacked = np.stack(
                [np.mean(np.stack(g["vector"].tolist()), axis=0) for _, g in grouped]
            )
            video_ids = [int(v) for v in grouped["video_id"].first()]
            try:
                xy = project(stacked, self.method.value)
            except MediamlError as exc:
                self._say(str(exc), error=True)
                xy = project(stacked, "PCA")
        else:
            clip_ids, video_ids, xy = [], [], np.zeros((0, 2))
        titles = self._titles(clip_ids)
        thumbs = thumbnail_urls(clip_ids)
        palette = Category10[10]
        self.source.selected.indices = []
        self.selected_grid.items = []
        self.source.data = {
            "x": xy[:, 0].tolist(),
            "y": xy[:, 1].tolist(),
            "clip_id": clip_ids,
            "title": [titles.get(c, "") for c in clip_ids],
            "thumb": [thumbs.get(c, "") for c in clip_ids],
            "color": [palette[v % 10] for v in video_ids],
            "video_id": video_ids,
        }
        self.selected.object = ""

    @staticmethod
    def _titles(clip_ids: list[int]) -> dict[int, str]:
        if not clip_ids:
            return {}
        return {c: r["title"] for c, r in clip_details(clip_ids).items()}

    def _on_select(self, _attr: str, _old: Any, new: list[int]) -> None:
        ids = [int(self.source.data["clip_id"][i]) for i in new]
        if not ids:
            self.selected.object = ""
            self.selected_grid.items = []
            return
        self.selected.object = (
            f'<div class="mm-selection"><b>{len(ids)} clip(s) selected</b> — click one to '
            "make it the main clip</div>"
        )
        titles = dict(zip(self.source.data["clip_id"], self.source.data["title"], strict=True))
        thumbs = dict(zip(self.source.data["clip_id"], self.source.data["thumb"], strict=True))
        frames = {
            c: (int(r["start_frame"]), int(r["end_frame"])) for c, r in clip_details(ids).items()
        }
        self.selected_grid.items = [
            {
                "clip_id": c,
                "title": str(titles.get(c, "")),
                "start_frame": frames.get(c, (0, 1))[0],
                "end_frame": frames.get(c, (0, 1))[1],
                "similarity": None,
                "thumb": thumbs.get(c) or None,
            }
            for c in ids
        ]


def page() -> pn.viewable.Viewable:
    """Build the explore page for one session."""
    values, notes = read_query(pn.state.session_args, QUERY)
    view = ExploreView(values, notes)
    view.update_text_support()
    view.refresh()
    view.refresh_map()
    return shell("explore", view.view, notes=view.notes)
