"""The status page: counts per state, failed items with retry, queues, periodic job runs.

Failed items show their kind: ``transient`` ones are retried automatically at
``next_retry_at``; ``permanent`` ones wait for the retry button.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import pandas as pd
import panel as pn
from bokeh.document import without_document_lock

from dashboards.context import session_identity
from dashboards.offloop import change_off_loop, left
from dashboards.pages.deferred import Parts, deferred_body
from dashboards.pages.layout import shell
from mediaml import catalog
from mediaml.errors import MediamlError
from mediaml.jobs.scheduler import PERIODIC_JOBS
from mediaml.pipeline import retry
from mediaml.storage import get_store

REFRESH_MS = 5000

# The tables arrive after the page, so their JavaScript must be in its first answer
# (`shell(..., extensions=...)` below). Loaded once here: `pn.extension` inside a
# session costs ~50 ms a page.
pn.extension("tabulator")

log = logging.getLogger(__name__)


def _utc_seconds(times: pd.Series) -> pd.Series:
    """ISO timestamps as ``YYYY-MM-DD HH:MM:SS`` UTC (empty where there is none)."""
    parsed = pd.to_datetime(times, utc=True, format="ISO8601")
    return parsed.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")


def _update(table: pn.widgets.Tabulator, frame: pd.DataFrame) -> None:
    """Show ``frame`` in ``table`` unless it shows that already: re-sending an unchanged
    table to the browser costs the server's event loop tens of milliseconds a refresh."""
    if not isinstance(table.value, pd.DataFrame) or not table.value.equals(frame):
        table.value = frame


def _counts(counts: dict[str, int], what: str) -> pd.DataFrame:
    return pd.DataFrame([{"state": s, what: n} for s, n in counts.items()], columns=["state", what])


@dataclass
class Frames:
    """What the status page shows, as tables."""

    videos: pd.DataFrame
    clips: pd.DataFrame
    queues: pd.DataFrame
    runs: pd.DataFrame
    failed: pd.DataFrame
    usage: str


class StatusView:
    """One session's status page; refreshes itself every few seconds."""

    def __init__(self) -> None:
        self.identity = session_identity()
        self.doc = pn.state.curdoc
        table = {"show_index": False, "disabled": True, "sizing_mode": "stretch_width"}
        self.videos = pn.widgets.Tabulator(name="Videos", height=330, **table)
        self.clips = pn.widgets.Tabulator(name="Clips", height=470, **table)
        self.queues = pn.widgets.Tabulator(name="Queues", **table)
        self.runs = pn.widgets.Tabulator(name="Periodic jobs", **table)
        self.failed = pn.widgets.Tabulator(
            name="Failed",
            buttons={"retry": "<button class='mm-retry'>retry</button>"},
            **table,
        )
        self.failed.on_click(self._on_failed_click)
        self.retry_all = pn.widgets.Button(name="Retry all failed", button_type="warning")
        self.retry_all.on_click(lambda _e: pn.state.execute(partial(self._retry, None)))
        self.message = pn.pane.Alert("", alert_type="light", visible=False)
        self.cache = pn.pane.Markdown("", css_classes=["mm-object-cache"])
        refresh = pn.widgets.Button(name="Refresh", button_type="default")
        refresh.on_click(lambda _e: pn.state.execute(self.refresh))
        self.view = pn.Column(
            pn.Row(refresh, self.retry_all),
            self.message,
            pn.Row(
                pn.Column("### Videos per state", self.videos, sizing_mode="stretch_width"),
                pn.Column("### Clips per state", self.clips, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            "### Failed items",
            "Transient failures are retried automatically at *next_retry_at*; "
            "permanent ones wait for you to fix the cause and press retry.",
            self.failed,
            pn.Row(
                pn.Column("### Queue depths", self.queues, sizing_mode="stretch_width"),
                pn.Column("### Last periodic runs", self.runs, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            self.cache,
            sizing_mode="stretch_width",
        )

    @staticmethod
    def _read() -> tuple[dict[str, Any], str]:
        """The page's data: counts, queues, runs, failed items, the object cache's usage.

        Runs in a worker thread: counting a million clips must not hold up the server.
        """
        status = catalog.status()
        try:
            usage = get_store().cache.usage().line()
        except (MediamlError, OSError) as exc:
            usage = f"unavailable ({exc})"
        return status, usage

    async def refresh(self) -> None:
        """Read the data and make its tables off the event loop, then show them (the
        changed tables are serialised off the loop too). Nothing while the browser has
        left the page (:func:`dashboards.offloop.left`)."""
        if left(self.doc):
            return
        try:
            frames = await asyncio.to_thread(self._frames)
        except MediamlError as exc:
            self._say(f"Status unavailable: {exc}", "danger")
            return
        await change_off_loop(self.doc, partial(self._show, frames))

    def _frames(self) -> Frames:
        """The page's tables (in a worker thread): see :meth:`_read`."""
        status, usage = self._read()
        runs = status["last_runs"]
        failed = pd.DataFrame(
            status["failed"],
            columns=[
                "kind",
                "id",
                "state",
                "error_kind",
                "retry_count",
                "next_retry_at",
                "last_error",
                "updated_at",
            ],
        )
        for column in ("next_retry_at", "updated_at"):  # to the second, UTC: keeps retry in view
            failed[column] = _utc_seconds(failed[column])
        return Frames(
            videos=_counts(status["videos"], "videos"),
            clips=_counts(status["clips"], "clips"),
            queues=pd.DataFrame(
                [{"queue": q, "waiting": n} for q, n in status["queues"].items()],
                columns=["queue", "waiting"],
            ),
            runs=pd.DataFrame(
                [
                    {
                        "job": job,
                        "finished_at": runs[job]["finished_at"] if job in runs else "never",
                        "node": runs[job]["node"] if job in runs else "",
                        "stats": json.dumps(runs[job]["stats"]) if job in runs else "",
                    }
                    for job in (*PERIODIC_JOBS, *(j for j in runs if j not in PERIODIC_JOBS))
                ],
                columns=["job", "finished_at", "node", "stats"],
            ),
            failed=failed,
            usage=usage,
        )

    def _show(self, frames: Frames) -> None:
        _update(self.videos, frames.videos)
        _update(self.clips, frames.clips)
        _update(self.queues, frames.queues)
        _update(self.runs, frames.runs)
        _update(self.failed, frames.failed)
        self.retry_all.disabled = frames.failed.empty
        self.cache.object = f"**Object cache on this machine:** {frames.usage}"

    def _on_failed_click(self, event: Any) -> None:
        if event.column != "retry":
            return
        row = self.failed.value.iloc[event.row]
        pn.state.execute(partial(self._retry, (str(row["kind"]), int(row["id"]))))

    async def _retry(self, item: tuple[str, int] | None) -> None:
        try:
            actor = self.identity.actor("dashboard")
            if item is None:
                done = await asyncio.to_thread(retry, "all")
            else:
                kind, item_id = item
                done = await asyncio.to_thread(
                    retry, "videos" if kind == "video" else "clips", [item_id]
                )
        except MediamlError as exc:
            self._say(f"Retry failed: {exc}", "danger")
            return
        if done.empty:
            self._say("Nothing to retry: it is no longer failed.", "warning")
        else:
            items = ", ".join(f"{r.kind} {r.id} → {r.to_state}" for r in done.itertuples())
            log.info("retry by %s: %s", actor, items)
            self._say(f"Queued again: {items}", "success")
        await self.refresh()

    def _say(self, text: str, kind: Any) -> None:
        self.message.object = text
        self.message.alert_type = kind
        self.message.visible = True


def page() -> pn.viewable.Viewable:
    """Build the status page for one session.

    Its tables (and their first data) are made off the event loop once the browser has
    the page (:func:`dashboards.pages.deferred.deferred_body`); then they refresh every
    :data:`REFRESH_MS`.
    """
    doc = pn.state.curdoc

    def make() -> Parts:
        view = StatusView()
        try:
            view._show(view._frames())
        except MediamlError as exc:
            view._say(f"Status unavailable: {exc}", "danger")

        def attached() -> None:
            # Without the document lock: the refresh takes it itself, around the part
            # that changes the page (dashboards.offloop.change_off_loop).
            refresh = without_document_lock(cast(Callable[[], None], view.refresh))
            if doc is not None:
                doc.add_periodic_callback(refresh, REFRESH_MS)

        return [view.view], attached

    return shell("status", deferred_body(make, "Status"), extensions=["tabulator"])
