"""``POST /{app}[/image-to-image]/stream``: one generation as server-sent events
(docs/server.md, "Streaming"), what ``fal.stream`` (``@fal-ai/client``) and
``fal_client.stream`` read.

* The body is the same ``Input`` as the sync run; a bad one is a 422 (and a full queue a 429)
  before any event, as for the sync run. The request waits on the job lane like a sync run.
* Then one ``data: <JSON>`` event per LCM step, a preview shaped like an output: ``{"images":
  [{url: data URI, width, height, content_type}], "partial": true, "step", "num_inference_steps",
  "request_id"}`` (from the backend's :meth:`~..backends.base.PreviewingBackend.
  generate_with_previews`; a backend without it sends none), and last the output itself, the
  same body as the sync run's with ``"partial": false``. The clients take the last event as
  the result (``FalStream.done()``).
* A generation that fails before the first event answers with its HTTP error, as the sync run
  does; one that fails after it ends the stream with ``event: error`` and ``{"detail",
  "error_type", "status"}``.
* **A slow reader never stalls the model**: the backend's previews go into a bounded buffer
  (:data:`PREVIEW_BUFFER`) that drops the oldest preview when full; the final event is never
  dropped. A client that hangs up has its job cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..backends.base import StepPreview
from ..images import to_data_uri
from .http_common import get_state, parse_body, require_auth, submit_job
from .inputs import SUBPATHS
from .jobs import Job

__all__ = ["PREVIEW_BUFFER", "PreviewBuffer", "add_stream_routes"]

#: Previews a stream holds for a reader that is behind; older ones are dropped.
PREVIEW_BUFFER = 4

_STREAM_SCHEMA: dict[str, Any] = {
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Input"}}}},
    "responses": {"200": {"description": "Server-sent events: one preview per step "
                                         '("partial": true), then the output',
                          "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                  "422": {"description": "Validation error: detail is a list of "
                                         "{loc, msg, type}"},
                  **{code: {"description": what, "content": {"application/json": {
                      "schema": {"$ref": "#/components/schemas/Error"}}}}
                     for code, what in (("500", "The model failed before the first event"),
                                        ("504", "The generation took longer than "
                                                "generation_timeout"))}},
}


class PreviewBuffer:
    """Previews on their way from the model to one reader, bounded.

    :meth:`push` may be called from any thread (LocalLCM calls it on its model thread) and
    returns at once; the previews are handed to ``loop``, where at most ``maxlen`` wait (the
    oldest is dropped for a newer one: :attr:`dropped` counts them).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxlen: int = PREVIEW_BUFFER) -> None:
        self._loop = loop
        self._items: deque[StepPreview] = deque()
        self.maxlen = maxlen
        self.dropped = 0
        self.changed = asyncio.Event()

    def push(self, preview: StepPreview) -> None:
        """Hand a preview over (thread-safe, never blocks)."""
        with contextlib.suppress(RuntimeError):  # a closed loop: the server is going away
            self._loop.call_soon_threadsafe(self._put, preview)

    def _put(self, preview: StepPreview) -> None:
        if len(self._items) >= self.maxlen:
            self._items.popleft()
            self.dropped += 1
        self._items.append(preview)
        self.changed.set()

    def take(self) -> list[StepPreview]:
        """The waiting previews, oldest first."""
        items = list(self._items)
        self._items.clear()
        self.changed.clear()
        return items


def add_stream_routes(app: FastAPI, app_id: str) -> None:
    """Register ``POST /{app}[/image-to-image]/stream``."""
    for subpath in SUBPATHS:
        path = f"/{app_id}" + (f"/{subpath}" if subpath else "") + "/stream"
        app.add_api_route(path, _stream_route(subpath), methods=["POST"],
                          dependencies=[Depends(require_auth)], tags=["run"],
                          name=f"stream{'_' + subpath if subpath else ''}",
                          summary=f"Run, streaming a preview per step ({SUBPATHS[subpath]})",
                          openapi_extra=_STREAM_SCHEMA)


def _stream_route(subpath: str) -> Any:
    async def stream(request: Request) -> Response:
        parsed = await parse_body(request, subpath)
        if isinstance(parsed, JSONResponse):
            return parsed
        job = submit_job(request, parsed, remember=False)
        if isinstance(job, JSONResponse):
            return job
        buffer = PreviewBuffer(asyncio.get_running_loop())
        if job.item is not None:  # set before the worker can take it (same loop turn)
            job.item.on_preview = buffer.push
        first = await _first_event(request, job, buffer)
        if first is None:  # the client hung up while it waited
            return JSONResponse({"detail": "client disconnected"}, status_code=499)
        if job.error is not None and not first:  # failed before any event: a plain error
            return JSONResponse(job.error_body, status_code=job.error_status)
        return StreamingResponse(_events(request, job, buffer, first),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    return stream


async def _first_event(request: Request, job: Job, buffer: PreviewBuffer
                       ) -> list[StepPreview] | None:
    """Wait for the first preview or the end of the job; None when the client left first
    (its job is then cancelled)."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(gone())
    preview = asyncio.ensure_future(buffer.changed.wait())
    try:
        waits: set[asyncio.Future[Any]] = {job.done, watcher, preview}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        preview.cancel()
    if not job.done.done() and not buffer.changed.is_set():
        get_state(request).jobs.cancel(job)
        return None
    return buffer.take()


async def _events(request: Request, job: Job, buffer: PreviewBuffer,
                  first: list[StepPreview]) -> AsyncIterator[str]:
    rid = job.inp.request_id or job.id
    pending = first
    try:
        while True:
            for p in pending:
                yield _sse(_preview_body(p, rid))
            if job.done.done():
                for p in buffer.take():  # what arrived just before the end
                    yield _sse(_preview_body(p, rid))
                break
            changed = asyncio.ensure_future(buffer.changed.wait())
            try:
                waits: set[asyncio.Future[Any]] = {job.done, changed}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
            pending = buffer.take()
        if job.error is not None:
            body = {**(job.error_body or {}), "status": job.error_status}
            yield _sse(body, event="error")
        else:
            yield _sse({**(job.result or {}), "partial": False})
    finally:
        if not job.done.done():  # the client went away mid-stream
            get_state(request).jobs.cancel(job)


def _preview_body(p: StepPreview, request_id: str) -> dict[str, Any]:
    return {"images": [{"url": to_data_uri(p.data, p.content_type), "width": p.width,
                        "height": p.height, "content_type": p.content_type}],
            "partial": True, "step": p.step, "num_inference_steps": p.steps,
            "request_id": request_id}


def _sse(body: dict[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(body, separators=(',', ':'))}\n\n"
