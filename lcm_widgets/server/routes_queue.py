"""The queue surface, served under ``/queue/`` (fal's ``queue.fal.run`` host).

Point the official clients' queue host at ``http://HOST:PORT/queue/``:

* ``POST /queue/{app}[/image-to-image][?fal_webhook=URL]`` → ``{request_id, response_url,
  status_url, cancel_url, status: "IN_QUEUE", queue_position}``; 429 when the queue is full
* ``GET /queue/{app}/requests/{id}/status?logs=1|true`` → status JSON
* ``GET /queue/{app}/requests/{id}/status/stream?logs=1`` → SSE, one status per change
* ``GET /queue/{app}/requests/{id}`` → the output (or the job's error, with its HTTP status)
* ``PUT /queue/{app}/requests/{id}/cancel`` → 202 ``CANCELLATION_REQUESTED``,
  400 ``ALREADY_COMPLETED`` or 404 ``NOT_FOUND``
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ..protocol.errors import NOT_FOUND
from .answers import http_status
from .auth import owner_of
from .http_common import (
    get_state,
    parse_body,
    require_auth,
    set_request_id,
    submit_queue_job,
    validation_response,
)
from .inputs import SUBPATHS
from .jobs import Job
from .webhooks import check_webhook_url

__all__ = ["add_queue_routes"]

_TRUE = {"1", "true", "yes", "on"}
_SSE_KEEPALIVE_S = 15.0


def _wants_logs(request: Request) -> bool:
    return request.query_params.get("logs", "0").lower() in _TRUE


async def _job_or_404(request: Request, request_id: str) -> Job:
    # another key's job is "not found" too: ids must not reveal whose work exists
    job = await get_state(request).jobs.aget(request_id, owner=owner_of(request))
    if job is None:
        raise HTTPException(http_status(NOT_FOUND), detail=f"request {request_id!r} not found (unknown, or "
                                        "forgotten after it finished)")
    set_request_id(request, request_id)
    return job


def _submit_route(subpath: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The submit handler of one sub-path (bound here, not as a parameter, so it is no query
    parameter of the route)."""

    async def submit(request: Request) -> JSONResponse:
        st = get_state(request)
        webhook = request.query_params.get("fal_webhook")
        if webhook is not None and (problem := check_webhook_url(
                webhook, allow=st.config.webhook_allow)):
            return validation_response([{"loc": ["query", "fal_webhook"], "msg": problem,
                                         "type": "value_error"}])
        parsed = await parse_body(request, subpath)
        if isinstance(parsed, JSONResponse):
            return parsed
        job = await submit_queue_job(request, parsed, webhook=webhook)
        if isinstance(job, JSONResponse):
            return job
        body = {"request_id": job.id, **job.urls(), "status": "IN_QUEUE",
                "queue_position": st.jobs.position(job)}
        return JSONResponse(body, status_code=200)

    return submit


def add_queue_routes(app: FastAPI, app_id: str, *, io_schema: dict[str, Any]) -> None:
    """Register the queue routes for ``app_id``."""
    base = f"/queue/{app_id}"
    auth = [Depends(require_auth)]

    for subpath in SUBPATHS:
        path = base + (f"/{subpath}" if subpath else "")
        app.add_api_route(path, _submit_route(subpath), methods=["POST"], dependencies=auth,
                          name=f"queue_submit{'_' + subpath if subpath else ''}",
                          summary=f"Queue a request ({SUBPATHS[subpath]})",
                          tags=["queue"], openapi_extra=io_schema)

    @app.get(base + "/requests/{request_id}/status", dependencies=auth, tags=["queue"],
             summary="Status of a queued request")
    async def status(request: Request, request_id: str) -> JSONResponse:
        job = await _job_or_404(request, request_id)
        return JSONResponse(get_state(request).jobs.status(job, logs=_wants_logs(request)))

    @app.get(base + "/requests/{request_id}/status/stream", dependencies=auth, tags=["queue"],
             summary="Status updates as server-sent events, until COMPLETED")
    async def status_stream(request: Request, request_id: str) -> StreamingResponse:
        job = await _job_or_404(request, request_id)
        jobs = get_state(request).jobs
        logs = _wants_logs(request)

        async def events() -> AsyncIterator[str]:
            current = job
            while True:
                wait = jobs.watch(current)  # taken before the status is read
                yield f"data: {json.dumps(jobs.status(current, logs=logs))}\n\n"
                if current.status == "COMPLETED":
                    return
                later = await wait(_SSE_KEEPALIVE_S)
                if later is None:
                    yield ": keep-alive\n\n"
                else:
                    current = later

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.get(base + "/requests/{request_id}", dependencies=auth, tags=["queue"],
             summary="Result of a queued request")
    async def result(request: Request, request_id: str) -> JSONResponse:
        job = await _job_or_404(request, request_id)
        if job.status != "COMPLETED":
            return JSONResponse({"detail": f"request {request_id} is {job.status}; poll its "
                                           "status until COMPLETED", "status": job.status},
                                status_code=400)
        if job.error is not None:
            return JSONResponse(job.error_body, status_code=job.error_status)
        return JSONResponse(job.result)

    @app.put(base + "/requests/{request_id}/cancel", dependencies=auth, tags=["queue"],
             summary="Cancel a queued request")
    async def cancel(request: Request, request_id: str) -> JSONResponse:
        jobs = get_state(request).jobs
        job = await jobs.aget(request_id, owner=owner_of(request))
        if job is None:
            return JSONResponse({"status": NOT_FOUND.code}, status_code=http_status(NOT_FOUND))
        set_request_id(request, request_id)
        code, text = await jobs.acancel(job)
        return JSONResponse({"status": text}, status_code=code)
