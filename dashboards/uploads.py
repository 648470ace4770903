"""``PUT /upload?name=<file name>``: a video file streamed into the object store.

The request body is the file itself (no multipart, no base64): Tornado hands it over in
chunks as they arrive, each chunk is written to a temporary file off the event loop, and
the running total is held to ``MEDIAML_MAX_DOWNLOAD_BYTES`` — the same limit as
downloads — so nothing is ever held whole in memory. When the body is complete the file
is probed (a file that is not a video is refused with FFmpeg's reason), stored under
``uploads/`` and registered as a video whose download stage adopts it without a copy;
the workers are told at once. The answer is JSON: ``{"video_id", "title"}`` or
``{"error"}``.

Behind the same login as every other route. Only ``PUT`` is accepted: a cross-site page
cannot send one without a CORS preflight, which this server never grants.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import IO, Any

from tornado.ioloop import IOLoop
from tornado.web import stream_request_body

from dashboards.context import get_context
from dashboards.routes import _Guarded
from mediaml.errors import MediamlError
from mediaml.pipeline.ingest import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

UPLOAD_ROUTE = "/upload"


def _register(part: Path, name: str) -> dict[str, Any]:
    """Probe, store and register an uploaded file (runs in a worker thread)."""
    from mediaml.jobs.tasks import queue_downloads
    from mediaml.media import probe
    from mediaml.pipeline.fetch import upload_uri
    from mediaml.pipeline.ingest import ingest
    from mediaml.storage import get_store
    from mediaml.storage.keys import upload_key

    probe(part, name=name)  # refuses empty, corrupt and non-video files with FFmpeg's reason
    key = upload_key(uuid.uuid4().hex, name)
    get_store().put(part, key)
    title = Path(name).stem.replace("_", " ").strip() or "upload"
    frame = ingest([upload_uri(key)], title=title, check=False)
    row = frame.iloc[0]
    if row["error"]:
        raise MediamlError(str(row["error"]))
    video_id = int(row["video_id"])
    queue_downloads([video_id])
    return {"video_id": video_id, "title": str(row["title"])}


@stream_request_body
class UploadHandler(_Guarded):
    """Streams one uploaded file to disk, then stores and registers it."""

    _file: IO[bytes] | None = None
    _part: Path | None = None
    _received = 0
    _limit = 0
    _failed = False

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def _reject(self, status: int, error: str) -> None:
        self._failed = True
        self._cleanup()
        self._answer(status, {"error": error})

    async def prepare(self) -> None:
        if self.request.method != "PUT":
            return  # Tornado answers 405 for the missing method
        if not self.allowed():
            self._failed = True
            return self.refuse()
        name = self.get_query_argument("name", "").strip()
        if not name or Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
            return self._reject(
                415,
                f"{name or 'the file'} does not look like a video; upload one of "
                + ", ".join(sorted(VIDEO_EXTENSIONS)),
            )
        settings = get_context().settings
        self._limit = settings.max_download_bytes
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self._limit:
            return self._reject(
                413,
                f"{name} is {int(length)} bytes, over the {self._limit}-byte limit "
                "(MEDIAML_MAX_DOWNLOAD_BYTES)",
            )
        # Tornado's own cap (100 MB by default) would cut bigger videos off.
        # A little over the limit, so that our own check (with its clear message) fires first.
        self.request.connection.set_max_body_size(self._limit + (1 << 20))  # type: ignore[union-attr]
        folder = settings.cache_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        self._part = folder / f".{uuid.uuid4().hex}{Path(name).suffix.lower()}"
        self._file = self._part.open("wb")

    async def data_received(self, chunk: bytes) -> None:
        if self._failed or self._file is None:
            return
        self._received += len(chunk)
        if self._received > self._limit:
            return self._reject(
                413, f"the upload is over the {self._limit}-byte limit (MEDIAML_MAX_DOWNLOAD_BYTES)"
            )
        # Disk writes happen off the event loop; awaiting them also slows the sender down
        # to the disk's pace instead of buffering in memory.
        await IOLoop.current().run_in_executor(None, self._file.write, chunk)

    async def put(self) -> None:
        if self._failed or self._file is None or self._part is None:
            return
        self._file.close()
        if self._received == 0:
            return self._reject(400, "the upload is empty (0 bytes)")
        name = self.get_query_argument("name")
        try:
            result = await IOLoop.current().run_in_executor(None, _register, self._part, name)
        except MediamlError as exc:
            message = str(exc)
            return self._reject(400, message if name in message else f"{name}: {message}")
        finally:
            self._cleanup()
        log.info("upload %s stored as video %s", name, result["video_id"])
        self._answer(200, result)

    def _cleanup(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self._part is not None:
            self._part.unlink(missing_ok=True)

    def on_connection_close(self) -> None:
        # The browser went away mid-upload: drop the partial file.
        self._cleanup()

    def on_finish(self) -> None:
        self._cleanup()


def upload_routes() -> list[tuple[str, Any, dict[str, Any]]]:
    """The upload route, for :func:`dashboards.routes.routes`."""
    return [(UPLOAD_ROUTE, UploadHandler, {})]
