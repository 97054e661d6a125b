"""Pieces shared by the REST and queue routes: request ids, auth, body parsing, submitting,
error answers (from the error table, :mod:`.answers`)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidInput, ServerBusy
from ..protocol.errors import VALIDATION_ERROR
from ..schema import Input
from .answers import answer, http_status, rest_body
from .auth import AuthError, Principal, owner_of
from .guard import BodyTooLarge, parse_json
from .inputs import validate_request
from .jobs import Job
from .state import ServerState
from .storage import input_resolver

__all__ = ["RequestIdMiddleware", "error_response", "parse_body", "read_json", "require_auth",
           "set_request_id", "submit_job", "submit_queue_job", "validation_response"]

REQUEST_ID_HEADER = "x-fal-request-id"


class RequestIdMiddleware:
    """Puts ``x-fal-request-id`` on every HTTP response (as fal's gateway does).

    A fresh id is made per request; a route may replace it (``set_request_id``) with the id
    of the job it answers for. With the header present, ``fal_client`` never mistakes our 5xx
    answers for an ingress error to retry.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state.setdefault("fal_request_id", str(uuid.uuid4()))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != REQUEST_ID_HEADER.encode()]
                headers.append((REQUEST_ID_HEADER.encode(), state["fal_request_id"].encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def set_request_id(request: Request, request_id: str) -> None:
    """Answer with ``request_id`` in ``x-fal-request-id``."""
    request.scope.setdefault("state", {})["fal_request_id"] = request_id


def get_state(request: Request) -> ServerState:
    """The app's shared :class:`ServerState`."""
    state: ServerState = request.app.state.lcm
    return state


def require_auth(request: Request) -> Principal:
    """The caller, or HTTP 401 ``{"detail": ...}``; also kept as ``request.state.principal``
    (what :func:`~.auth.owner_of` reads)."""
    st = get_state(request)
    try:
        principal = st.auth.check_header(request.headers.get("authorization"),
                                         app_id=st.config.app_id)
        request.state.principal = principal
        return principal
    except AuthError as exc:
        r, reason = answer(exc)
        raise HTTPException(http_status(r), detail=reason,
                            headers={"WWW-Authenticate": 'Key realm="lcm-widgets"'}) from None


def validation_response(errors: list[dict[str, Any]]) -> JSONResponse:
    """FastAPI's 422 shape, ``{"detail": [{loc, msg, type}]}``, with our messages."""
    return JSONResponse({"detail": errors}, status_code=http_status(VALIDATION_ERROR))


def error_response(exc: BaseException) -> JSONResponse:
    """The REST answer for ``exc``: the status and body of its row of the error table; a
    capacity refusal (:class:`~lcm_widgets.errors.ServerBusy`) also says ``Retry-After: 1``."""
    r, reason = answer(exc, what="request")
    headers = {"Retry-After": "1"} if isinstance(exc, ServerBusy) else None
    return JSONResponse(rest_body(exc, r, reason), status_code=http_status(r), headers=headers)


def submit_job(request: Request, inp: Input, *, webhook: str | None = None,
               remember: bool = True) -> Job | JSONResponse:
    """Queue ``inp`` as a job answering under its id, or the 429 to send when the queue is
    full (sync runs and queue submits alike)."""
    st = get_state(request)
    try:
        job = st.jobs.submit(inp, app_id=st.config.app_id, webhook=webhook, remember=remember,
                             base_url=st.base_url(str(request.base_url)),
                             owner=owner_of(request))
    except ServerBusy as exc:
        return error_response(exc)
    set_request_id(request, job.id)
    return job


async def submit_queue_job(request: Request, inp: Input, *,
                           webhook: str | None = None) -> Job | JSONResponse:
    """:func:`submit_job` for a queue job, awaiting the queue (:meth:`~.jobs.JobQueue.asubmit`:
    a queue shared by several ingresses writes it to its board without holding the loop)."""
    st = get_state(request)
    try:
        job = await st.jobs.asubmit(inp, app_id=st.config.app_id, webhook=webhook,
                                    base_url=st.base_url(str(request.base_url)),
                                    owner=owner_of(request))
    except ServerBusy as exc:
        return error_response(exc)
    set_request_id(request, job.id)
    return job


async def done_or_disconnected(request: Request, job: Job) -> bool:
    """Wait for ``job``; True when it finished, False when the client hung up first (the job
    is then cancelled: off the lane if it waited, its generation stopped if it ran)."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({job.done, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if job.done.done():
        return True
    get_state(request).jobs.cancel(job)
    return False


async def parse_body(request: Request, subpath: str) -> Input | JSONResponse:
    """The validated input of a POST, or the 422 response to send instead."""
    st = get_state(request)
    try:
        data = await read_json(request, st.config.max_message_bytes)
    except InvalidInput as exc:
        return error_response(exc)
    if not isinstance(data, dict):
        return validation_response([{
            "loc": ["body"], "type": "model_attributes_type",
            "msg": f"body: must be a JSON object of input fields, got {type(data).__name__}"}])
    try:
        return validate_request(data, subpath=subpath, limits=st.config.image_limits,
                                files=st.files, schema=st.schema,
                                resolve_url=input_resolver(request, owner_of(request)))
    except InvalidInput as exc:  # InvalidImage too
        return error_response(exc)


async def read_json(request: Request, limit: int) -> Any:
    """A JSON route's decoded body (:func:`~.guard.parse_json`: media type, depth), read
    with at most ``limit`` bytes held. Raises :class:`~.guard.BodyTooLarge` (413),
    :class:`~.guard.UnsupportedMediaType` (415) or :class:`InvalidInput` (422)."""
    raw, size = await _read_capped(request, limit)
    if raw is None:
        raise BodyTooLarge(limit, size)
    return parse_json(raw, request.headers.get("content-type"))


async def _read_capped(request: Request, limit: int) -> tuple[bytes | None, str]:
    """The body, or ``(None, size)`` once it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading anything; a body
    without one is read chunk by chunk and abandoned as soon as it passes the limit, so one
    request never holds more than ``limit`` bytes in memory.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None, declared
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            return None, f"more than {limit}"
    return bytes(buf), str(len(buf))
