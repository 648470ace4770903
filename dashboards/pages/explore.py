"""The explore page: a main clip and the clips most (or least) like it, text search, and a
2D map of the embeddings with hover thumbnails and lasso/box selection.

The page never works on the event loop: :func:`page` returns the bare layout at once, and
every database read (choices, searches, thumbnails, the stored map) runs in a worker
thread (``asyncio.to_thread``) from a Panel async callback, which applies the result. The
health check and every other session stay responsive while an explore page builds.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import panel as pn
from panel.io.state import set_curdoc

from dashboards.components.grid import ClipGrid
from dashboards.components.reel import ReelMaker
from dashboards.context import get_context
from dashboards.explore_map import ExploreMap
from dashboards.pages.deferred import Parts, deferred_body
from dashboards.pages.layout import shell
from dashboards.query import QueryParam, read_query
from dashboards.urls import playback_url, preview_urls
from mediaml import embed
from mediaml.catalog import clip_details
from mediaml.config import EMBED_STRATEGIES
from mediaml.db import get_db
from mediaml.db.artifacts import middle_keyframes
from mediaml.embed.policy import default_model
from mediaml.errors import MediamlError
from mediaml.projections import MapPoints, methods, read_map, update_maps
from mediaml.storage import get_store

log = logging.getLogger(__name__)

PER_PAGE = 12
# The source-video chooser lists this many videos matching what was typed.
VIDEO_CHOICES = 50
# A variant without a stored map gets one computed by this process (in a worker thread)
# up to this many clips; larger ones wait for the update_maps job, which is queued.
INLINE_MAP_CLIPS = 20_000
NOTES_CSS = ".mm-notes { color: #b00020; font-family: system-ui, sans-serif; }"
ORDERS = {"Most similar": "desc", "Least similar": "asc"}
# Worker threads that read what a new page first shows, concurrently.
_READS = ThreadPoolExecutor(6, thread_name_prefix="mediaml-explore-read")

QUERY = [
    QueryParam("clip", "int"),
    QueryParam("model", max_length=100),
    QueryParam("strategy", "choice", EMBED_STRATEGIES),
    QueryParam("video", "int"),
    QueryParam("p", "int"),
    QueryParam("order", "choice", tuple(ORDERS.values())),
    QueryParam("q", max_length=300),
]


def opening_strategy(available: list[str], configured: str) -> str:
    """The strategy a page shows when its address names none: the configured one
    (``MEDIAML_EMBED_STRATEGY``) when the model has vectors of it, else the first."""
    return configured if configured in available else available[0]


def variants() -> dict[str, list[str]]:
    """Model name -> strategies that have stored vectors."""
    from mediaml.embed import variants as stored_variants

    return stored_variants()


def videos(text: str = "", selected: int = 0) -> tuple[dict[str, int], str]:
    """Source video choices (label -> id, 0: every video) and a line saying how many match.

    Only the first :data:`VIDEO_CHOICES` videos matching ``text`` (part of a title, or
    an id) are offered, plus the one already chosen: a catalogue of ten thousand videos
    never sends ten thousand options to the browser.
    """
    from mediaml.catalog import find_videos

    found, total = find_videos(text, limit=VIDEO_CHOICES, include=selected or None)
    choices = {"All videos": 0, **{f"{v} · {t}": v for v, t in found}}
    matching = f" matching “{text.strip()}”" if text.strip() else ""
    if total > VIDEO_CHOICES:
        note = f"first {VIDEO_CHOICES} videos{matching} listed; type part of a title or an id"
    elif total == 0:
        note = f"no video{matching}"
    else:
        note = f"{total:,} video{'s' if total != 1 else ''}{matching}"
    return choices, note


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


def load_map(model: str, strategy: str, method: str) -> tuple[MapPoints | None, str]:
    """The stored map of a variant, and a note when there is none yet.

    A missing map of a small variant is computed here (this runs in a worker thread);
    a large one is left to the ``update_maps`` job, which is queued.
    """
    points = read_map(model, strategy, method)
    if points is not None:
        return points, ""
    with get_db().transaction() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM (SELECT 1 FROM embeddings WHERE model_name = %s"
            " AND generation_strategy = %s LIMIT %s) s",
            (model, strategy, INLINE_MAP_CLIPS + 1),
        ).fetchone()
    clips = int(row["n"]) if row else 0
    if clips == 0:
        return None, "No clips have vectors of this variant yet, so there is no map."
    if clips <= INLINE_MAP_CLIPS:
        update_maps(model=model, strategy=strategy, method=method)
        return read_map(model, strategy, method), ""
    from mediaml.jobs import tasks

    tasks.update_maps(model, strategy)
    return None, (
        "The map of this variant is being computed by a background job (update_maps on the"
        " background_jobs queue); reload the page in a few minutes."
    )


@dataclass
class Choices:
    """What the page offers, read from the database (in a worker thread)."""

    found: dict[str, list[str]]
    videos: dict[str, int]
    video_note: str = ""
    notes: list[str] = field(default_factory=list)


class ExploreView:
    """One session's explorer."""

    def __init__(self, values: dict[str, Any], notes: list[str]) -> None:
        self.values = values
        self.notes = notes
        self.ctx = get_context()
        self.doc = pn.state.curdoc
        self.found: dict[str, list[str]] = {}
        self._quiet = True  # widgets are being filled in: their watchers do nothing
        self._refreshes = self._maps = 0  # the latest request wins when answers cross
        model = default_model(self.ctx.settings)
        self.model = pn.widgets.Select(name="Model", options=[model], value=model)
        self.strategy = pn.widgets.Select(name="Strategy", options=list(EMBED_STRATEGIES))
        self.video = pn.widgets.Select(name="Source video", options={"All videos": 0}, value=0)
        self.video_find = pn.widgets.TextInput(
            name="Find video", placeholder="part of a title, or an id", width=200
        )
        self.video_note = pn.pane.HTML("", css_classes=["mm-video-note"])
        self._video_searches = 0
        order = {v: k for k, v in ORDERS.items()}.get(values.get("order", "desc"), "Most similar")
        self.order = pn.widgets.RadioButtonGroup(options=list(ORDERS), value=order)
        self.random = pn.widgets.Button(name="Random clip", button_type="primary")
        self.clip_input = pn.widgets.IntInput(name="Clip id", start=1, value=None, width=120)
        self.go = pn.widgets.Button(name="Show", width=70, align="end")
        self.text = pn.widgets.TextInput(name="Search by text", placeholder="e.g. a red car")
        self.search = pn.widgets.Button(name="Search", align="end", width=90)
        # The query's notes, why text search is off and the latest message: one pane.
        self.lines = {
            "notes": "",
            "text_note": "",
            "explore_message": '<p class="mm-muted">Loading…</p>',
        }
        self.lines_pane = pn.pane.HTML(
            "", stylesheets=[NOTES_CSS], sizing_mode="stretch_width", css_classes=["mm-lines"]
        )
        self.main = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["mm-main"])
        self.grid = ClipGrid(
            on_pick=self.set_main,
            on_turn=self._turn,
            turn_labels=["‹ Previous", "Next ›"],
            sizing_mode="stretch_width",
        )
        self.method = pn.widgets.Select(name="Map", options=methods(), width=120)
        self.map = ExploreMap(
            self.set_main,
            thumbnail_urls,
            self._say,
            heading="<h3>Map of embeddings</h3><p>Hover for thumbnails; drag with the box"
            " or lasso tool to list clips.</p>",
            # A choice of one is no choice: no widget for it (nor its model).
            controls=[self.method] if len(self.method.options) > 1 else [],
        )
        self.reel = ReelMaker(self.reel_clips)
        for w in (self.text, self.search):
            w.disabled = True

        self.main_id: int | None = values.get("clip")
        self.page = values.get("p", 1)
        self.query: str | None = values.get("q")
        if self.query:
            self.text.value = self.query

        self.model.param.watch(self._on_variant, "value")
        self.strategy.param.watch(self._on_variant, "value")
        self.video.param.watch(lambda _e: self._first_page(), "value")
        self.order.param.watch(lambda _e: self._first_page(), "value")
        self.video_find.param.watch(lambda _e: self._spawn(self.find_videos), "value_input")
        self.method.param.watch(lambda _e: self._spawn(self.refresh_map), "value")
        self.random.on_click(lambda _e: self._spawn(self.pick_random))
        self.go.on_click(lambda _e: self._show_typed_clip())
        self.search.on_click(lambda _e: self.run_search())
        self.text.param.watch(lambda _e: self.run_search(), "enter_pressed")

        self.view = pn.Column(
            pn.Row(
                self.model,
                self.strategy,
                self.video,
                pn.Column(self.video_find, self.video_note),
                sizing_mode="stretch_width",
            ),
            pn.Row(self.order, self.random, self.clip_input, self.go),
            pn.Row(self.text, self.search),
            self.lines_pane,
            self.main,
            self.reel,
            self.grid,
            self.map.view,
            sizing_mode="stretch_width",
        )
        self._show_notes()

    # -- running work off the event loop ------------------------------------------------

    def _spawn(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``job`` (a coroutine function) as a Panel async callback of this session;
        its blocking parts go to worker threads with ``asyncio.to_thread``."""
        with set_curdoc(self.doc):
            pn.state.execute(job)

    def prepare(self) -> None:
        """Read everything the first view shows and put it into the widgets.

        Runs in a worker thread before the widgets have Bokeh models: setting their values costs no model updates and no
        patches to the browser, and the models are later made with the final values.
        The reads after the choices are independent and run concurrently.
        """
        self._apply_choices(self._choices())
        model, strategy, method = self.model.value, self.strategy.value, self.method.value
        filters, order = self.filters, self.order.value
        main_id, query, page = self.main_id, self.query, self.page
        support = _READS.submit(text_support, model)
        found = _READS.submit(self._gather, filters, order, main_id, query, page)
        stored = _READS.submit(self._read_map, model, strategy, method)
        self._show_text_support(*support.result())
        self._show_found(found.result())
        self.map.show_now(*stored.result())

    def start(self) -> None:
        """The page is in the browser: from now on the widgets' watchers act."""
        self._quiet = False

    def _apply_choices(self, choices: Choices) -> None:
        self.found = choices.found
        self.notes.extend(choices.notes)
        models = list(choices.found) or [default_model(self.ctx.settings)]
        self.model.options = models
        self.model.value = (
            self.values.get("model") if self.values.get("model") in models else models[0]
        )
        self._fit_strategies(self.values.get("strategy"))
        self.video.options = choices.videos
        self.video.value = (
            self.values.get("video", 0)
            if self.values.get("video", 0) in choices.videos.values()
            else 0
        )
        self.video_note.object = self._video_note(choices.video_note)
        self._show_notes()

    def _choices(self) -> Choices:
        found = variants()
        choices = Choices(found, *videos(selected=self.values.get("video", 0)))
        model = self.values.get("model")
        if model is not None and model not in found:
            choices.notes.append(f"ignored ?model={model}: no clips are embedded with it")
        video = self.values.get("video", 0)
        if video not in choices.videos.values():
            choices.notes.append(f"ignored ?video={video}: no such source video")
        return choices

    def _show_lines(self, **lines: str) -> None:
        self.lines.update(lines)
        self.lines_pane.object = "".join(
            f'<div class="mm-{name.replace("_", "-")}">{text}</div>'
            for name, text in self.lines.items()
            if text
        )

    def _show_notes(self) -> None:
        self._show_lines(notes="<br>".join(html.escape(n) for n in self.notes))

    # -- choices ------------------------------------------------------------------

    @staticmethod
    def _video_note(text: str) -> str:
        return f'<span class="mm-muted">{html.escape(text)}</span>'

    async def find_videos(self) -> None:
        """Offer the videos matching what is typed in "Find video" (the chosen one stays)."""
        self._video_searches += 1
        mine = self._video_searches
        text = self.video_find.value_input or ""
        choices, note = await asyncio.to_thread(videos, text, self.video.value or 0)
        if mine != self._video_searches:
            return  # a later keystroke's answer draws
        quiet, self._quiet = self._quiet, True
        try:
            # The chosen video is among the options, so the value (and the grid) stay.
            self.video.options = choices
        finally:
            self._quiet = quiet
        self.video_note.object = self._video_note(note)

    def _fit_strategies(self, wanted: str | None = None) -> None:
        available = self.found.get(self.model.value) or list(EMBED_STRATEGIES)
        self.strategy.options = available
        if wanted is not None and wanted not in available:
            self.notes.append(f"ignored ?strategy={wanted}: {self.model.value} has no such vectors")
            wanted = None
        self.strategy.value = wanted or opening_strategy(
            available, self.ctx.settings.embed_strategy
        )

    def _on_variant(self, event: Any) -> None:
        if self._quiet:
            return
        if event.obj is self.model:
            self._quiet = True
            try:
                self._fit_strategies()
            finally:
                self._quiet = False
        self.page = 1

        async def job() -> None:
            await self.update_text_support()
            await self.refresh()
            await self.refresh_map()

        self._spawn(job)

    async def update_text_support(self) -> None:
        """Enable text search only for models with a text tower, else say why not."""
        self._show_text_support(*await asyncio.to_thread(text_support, self.model.value))

    def _show_text_support(self, ok: bool, why: str) -> None:
        self.text.disabled = self.search.disabled = not ok
        self._show_lines(text_note="" if ok else f'<p class="mm-muted">{html.escape(why)}</p>')

    def _first_page(self) -> None:
        if self._quiet:
            return
        self.page = 1
        self._spawn(self.refresh)

    def _turn(self, step: int) -> None:
        self.page = max(1, self.page + step)
        self._spawn(self.refresh)

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
        self._spawn(self.refresh)

    def _show_typed_clip(self) -> None:
        if self.clip_input.value:
            self.set_main(self.clip_input.value)

    async def pick_random(self) -> None:
        clip_id = await asyncio.to_thread(embed.random_clip, **self.filters)
        if clip_id is None:
            self._say("No embedded clips match these filters yet.", error=True)
            return
        self.main_id, self.query, self.page = clip_id, None, 1
        await self.refresh()

    def run_search(self) -> None:
        text = (self.text.value_input or self.text.value or "").strip()
        if not text:
            self._say("Type a few words to search for.", error=True)
            return
        self.query, self.page = text, 1
        self._spawn(self.refresh)

    def reel_clips(self) -> tuple[list[int], str]:
        """The clips a reel is made of: the map selection's cards if any, else the result
        page."""
        picked = [int(i["clip_id"]) for i in self.map.grid.items]
        if picked:
            return picked, "the map selection"
        return [int(i["clip_id"]) for i in self.grid.items], f"result page {self.page}"

    # -- drawing ----------------------------------------------------------------------

    def _say(self, text: str, *, error: bool = False) -> None:
        kind = "mm-error" if error else "mm-muted"
        self._show_lines(
            explore_message=f'<p class="{kind}">{html.escape(text)}</p>' if text else ""
        )

    async def refresh(self) -> None:
        """Redraw the main clip and the grid for the current state."""
        filters, order = self.filters, self.order.value
        main_id, query, page = self.main_id, self.query, self.page
        self._refreshes += 1
        mine = self._refreshes
        found = await asyncio.to_thread(self._gather, filters, order, main_id, query, page)
        if mine != self._refreshes:
            return  # the reader asked for something else meanwhile; that refresh draws
        self._show_found(found)

    def _show_found(self, found: Found) -> None:
        self.main_id = found.main_id
        self._say(found.error, error=True)
        self._draw_main(found)
        self._draw_grid(found)

    def _gather(
        self,
        filters: dict[str, Any],
        order: str,
        main_id: int | None,
        query: str | None,
        page: int,
    ) -> Found:
        """Everything :meth:`refresh` shows, read from the database (in a worker thread)."""
        found = Found(main_id=main_id)
        if main_id is None and not query:
            found.main_id = main_id = embed.random_clip(**filters)
        try:
            if query:
                found.results = embed.search_text(query, PER_PAGE, page=page, **filters)
                found.heading = f"Clips matching “{query}”"
            elif main_id is not None:
                found.results = embed.similar(
                    main_id, PER_PAGE, ascending=ORDERS[order] == "asc", page=page, **filters
                )
                found.heading = f"{order} to clip {main_id}"
            else:
                found.heading = "No embedded clips yet"
        except MediamlError as exc:
            found.results, found.heading, found.error = pd.DataFrame(), "No results", str(exc)
        ids = [int(i) for i in found.results.get("clip_id", [])]
        if main_id is not None and not query:
            found.main = clip_details([main_id]).get(main_id)
            ids.append(main_id)
        found.thumbs = thumbnail_urls(ids)
        found.previews = preview_urls(ids)
        return found

    def _draw_main(self, found: Found) -> None:
        if self.query or self.main_id is None:
            self.main.object = f"<h3>{html.escape(found.heading)}</h3>"
            return
        self.clip_input.value = self.main_id
        row = found.main
        if row is None:
            self.main.object = f"<h3>Clip {self.main_id} does not exist</h3>"
            return
        thumb = found.thumbs.get(self.main_id, "")
        # Both boxes have their size before the media arrive, so nothing below them (the
        # map) moves when they do.
        media = (
            f'<video class="mm-main-video" src="{playback_url(self.main_id)}" poster="{thumb}"'
            ' controls muted loop autoplay playsinline preload="auto" width="480" height="270">'
            "</video>"
            if row["has_proxy"]
            else (
                f'<img src="{thumb}" width="320" height="180" style="object-fit: contain">'
                if thumb
                else ""
            )
        )
        self.main.object = (
            f'<div class="mm-main-clip" data-clip-id="{row["clip_id"]}">'
            f"<h3>{html.escape(found.heading)}</h3>{media}"
            f"<p><b>#{row['clip_id']}</b> · {html.escape(row['title'])} · frames {row['start_frame']}"
            f"–{row['end_frame'] - 1} · {row['duration_s']:.2f} s · {row['state']}</p></div>"
        )

    def _draw_grid(self, found: Found) -> None:
        results = found.results
        ids = [int(i) for i in results.get("clip_id", [])]
        items = [
            {
                "clip_id": int(r["clip_id"]),
                "title": str(r["title"]),
                "start_frame": int(r["start_frame"]),
                "end_frame": int(r["end_frame"]),
                "similarity": float(r["similarity"]),
                "thumb": found.thumbs.get(int(r["clip_id"])),
                "preview": found.previews.get(int(r["clip_id"])),
            }
            for _, r in results.iterrows()
        ]
        first = (self.page - 1) * PER_PAGE + 1
        shown = f"{first}–{first + len(ids) - 1}" if ids else "none"
        self.grid.param.update(
            items=items,
            empty_text="No clips on this page." if self.page > 1 else "No similar clips.",
            page_label=f"page {self.page} · {shown}",
            can_turn=[self.page > 1, len(ids) == PER_PAGE],
        )

    async def refresh_map(self) -> None:
        """Show the stored map of this variant (computing a small one if missing)."""
        self._maps += 1
        mine = self._maps
        points, note = await asyncio.to_thread(
            self._read_map, self.model.value, self.strategy.value, self.method.value
        )
        if mine == self._maps:
            await self.map.show(points, note)

    @staticmethod
    def _read_map(model: str, strategy: str, method: str) -> tuple[MapPoints | None, str]:
        try:
            return load_map(model, strategy, method)
        except MediamlError as exc:
            return None, f"Map unavailable: {exc}"


@dataclass
class Found:
    """What one refresh of the main clip and its grid shows."""

    main_id: int | None
    results: pd.DataFrame = field(default_factory=pd.DataFrame)
    heading: str = ""
    error: str = ""
    main: dict[str, Any] | None = None
    thumbs: dict[int, str] = field(default_factory=dict)
    previews: dict[int, str] = field(default_factory=dict)


def page() -> pn.viewable.Viewable:
    """Build the explore page for one session.

    The first answer is the navigation bar and a loading line; the page's widgets, what
    they show and their Bokeh models are made off the event loop once the browser has
    the page (:func:`dashboards.pages.deferred.deferred_body`, :meth:`ExploreView.prepare`).
    """
    values, notes = read_query(pn.state.session_args, QUERY)

    def make() -> Parts:
        view = ExploreView(values, notes)
        view.prepare()
        return list(view.view.objects), view.start

    return shell("explore", deferred_body(make, "Explore"))
