"""The app factory and the sync REST, token, file and health routes.

URL layout (``{app}`` is the endpoint id, ``fal-ai/fast-lcm-diffusion`` by default):

=========================================  ==================================================
``POST /{app}[/image-to-image|/inpainting]``  sync run (fal.run); JSON in, JSON out
``/queue/{app}/...``                        the queue surface (queue.fal.run), see routes_queue
``WS /{app}[/image-to-image|/inpainting]/realtime``  the realtime WebSocket, see realtime
``POST /tokens/`` (and ``/tokens``)         mint a realtime token (rest.fal.ai)
``GET /files/{id}``                         images of ``sync_mode: false`` answers
``GET /health``, ``GET /openapi.json``      model, sessions, queue, batching; the schemas
=========================================  ==================================================
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..apps import app_schema
from ..backends.base import Backend
from ..errors import InvalidInput
from ..protocol.errors import NOT_FOUND, UNAUTHORIZED
from . import redact
from .answers import http_status
from .auth import MAX_TOKEN_EXPIRATION, Authenticator, Principal
from .config import ServerConfig
from .files import FileStore
from .guard import TOKEN_BODY_LIMIT, GuardMiddleware, cors_kwargs
from .http_common import (
    RequestIdMiddleware,
    done_or_disconnected,
    error_response,
    get_state,
    parse_body,
    read_json,
    require_auth,
    submit_job,
    validation_response,
)
from .inputs import SUBPATHS
from .jobs import JobQueue
from .openapi import finish_openapi
from .realtime import realtime_endpoint, reject_unknown
from .routes_queue import add_queue_routes
from .routes_storage import add_storage_routes
from .routes_stream import add_stream_routes
from .scheduler import Scheduler
from .state import ServerState, SharedParts
from .store import JobStore
from .webhooks import WebhookSender

__all__ = ["create_app"]

_IO_SCHEMA: dict[str, Any] = {
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Input"}}}},
    "responses": {"200": {"description": "The generated images", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Output"}}}},
        "422": {"description": "Validation error: detail is a list of {loc, msg, type}"}},
}


def create_app(backend: Backend, config: ServerConfig | None = None, *,
               shared: SharedParts | None = None, scheduler: Any = None,
               health_extra: Callable[[], Awaitable[dict[str, Any]]] | None = None,
               make_jobs: Callable[..., JobQueue] = JobQueue) -> FastAPI:
    """A fal-compatible FastAPI app serving ``backend`` as ``config`` says.

    ``config`` holds every knob (:class:`ServerConfig`, validated when it is built; default:
    ``ServerConfig()``); derive a variant with ``dataclasses.replace(config, auth=False)``.
    The app's schema is its endpoint id's (:func:`lcm_widgets.apps.app_schema`). ``shared``
    is for :func:`~.multi.create_multi_app`: the parts several apps on one server share.
    ``scheduler`` replaces the local model worker with another one of the same surface, and
    ``health_extra`` adds its answer to ``/health`` (the Ray Serve ingress,
    :mod:`.ray_serve`, uses both: docs/scale.md). ``make_jobs`` builds the job queue (called
    as :class:`~.jobs.JobQueue` is; the Ray ingress's queue lives on a shared board,
    :mod:`.ray_board`).
    """
    if config is not None and not isinstance(config, ServerConfig):
        raise TypeError(f"config: expected a ServerConfig, got {type(config).__name__}")
    config = ServerConfig() if config is None else config
    schema = app_schema(config.app_id)
    authenticator = shared.auth if shared is not None else Authenticator(
        config.keys, enabled=config.auth, secret=config.token_secret)
    if scheduler is None:
        scheduler = Scheduler(backend, batch=config.batch,
                              generation_timeout=config.generation_timeout)
    files = shared.files if shared is not None else FileStore(max_files=config.max_files)
    store = (JobStore(config.state_dir, retention=config.job_retention)
             if config.state_dir else None)  # accepted queue jobs survive a restart
    webhooks = WebhookSender(attempts=config.webhook_attempts, backoff=config.webhook_backoff,
                             allow=config.webhook_allow,
                             secret_for=authenticator.secret_of if config.auth else None)
    state = ServerState(config=config, backend=backend, auth=authenticator, scheduler=scheduler,
                        files=files, webhooks=webhooks,
                        schema=schema,
                        jobs=make_jobs(scheduler, files, max_queue=config.max_queue,
                                       webhooks=webhooks, store=store,
                                       output_drop=schema.output_drop),
                        health_extra=health_extra)

    log_filter = redact.RedactSecrets(config.keys)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        redact.install(log_filter)  # secrets out of every log line while serving
        state.jobs.restore()  # the durable store's jobs: answered, or queued again
        scheduler.start()
        try:
            yield
        finally:
            await state.jobs.aclose()
            await scheduler.stop()
            if store is not None:
                store.close()
            redact.uninstall(log_filter)
            await webhooks.aclose()
            if config.own_backend:
                await backend.aclose()

    app = FastAPI(title="lcm-widgets server", version=__version__, lifespan=lifespan,
                  description=f"fal-compatible endpoint {config.app_id} served by "
                              f"{backend.info.name} ({backend.info.model})")
    app.state.lcm = state
    # outermost last: CORS, then the request id (on the guard's refusals too), then the guard
    app.add_middleware(GuardMiddleware, allowed_origins=config.allowed_origins,
                       max_message_bytes=config.max_message_bytes)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(CORSMiddleware, **cors_kwargs(config.allowed_origins))
    _add_error_handlers(app, config.app_id)
    add_queue_routes(app, config.app_id, io_schema=_IO_SCHEMA)
    _add_sync_routes(app, config.app_id)
    _add_realtime_routes(app, config.app_id)
    _add_service_routes(app)
    add_storage_routes(app, config)
    if shared is not None:
        state.uploads = shared.uploads  # a file uploaded once is an input of every app
        shared.states.append(state)
    state.peers = shared.states if shared is not None else [state]
    add_stream_routes(app, config.app_id)
    # this app's own document; a multi-app server's first app answers a merged one (.multi)
    app.state.lcm_openapi = lambda: _openapi(app, config)
    app.openapi = app.state.lcm_openapi  # type: ignore[method-assign]
    return app


def _add_sync_routes(app: FastAPI, app_id: str) -> None:
    for subpath in SUBPATHS:
        path = f"/{app_id}" + (f"/{subpath}" if subpath else "")
        app.add_api_route(path, sync_route(subpath), methods=["POST"],
                          dependencies=[Depends(require_auth)],
                          name=f"run{'_' + subpath if subpath else ''}", tags=["run"],
                          summary=f"Run and wait ({SUBPATHS[subpath]})",
                          openapi_extra=_IO_SCHEMA)


def sync_route(subpath: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The sync-run handler of one sub-path. A client that hangs up before the answer gets
    its job cancelled (taken off the lane, or its generation stopped), not left running."""

    async def run(request: Request) -> JSONResponse:
        parsed = await parse_body(request, subpath)
        if isinstance(parsed, JSONResponse):
            return parsed
        job = submit_job(request, parsed, remember=False)
        if isinstance(job, JSONResponse):
            return job
        if not await done_or_disconnected(request, job):
            return JSONResponse({"detail": "client disconnected"}, status_code=499)
        if job.error is not None:
            return JSONResponse(job.error_body, status_code=job.error_status)
        return JSONResponse(job.result)

    return run


def _add_realtime_routes(app: FastAPI, app_id: str) -> None:
    for subpath in SUBPATHS:
        path = f"/{app_id}" + (f"/{subpath}" if subpath else "") + "/realtime"

        async def realtime(ws: WebSocket, _sub: str = subpath) -> None:
            await realtime_endpoint(ws, ws.app.state.lcm, _sub)

        app.add_api_websocket_route(path, realtime, name=f"realtime_{subpath or 'root'}")

    @app.websocket("/{path:path}")
    async def unknown(ws: WebSocket, path: str) -> None:
        served = _served(ws, app_id)  # every app of a multi-app server is named
        also = ", ".join(f"/{a}/realtime" for a in served) if len(served) > 1 else ""
        await reject_unknown(ws, path, app_id, also=also)


def _served(conn: Request | WebSocket, app_id: str) -> list[str]:
    """The endpoint ids this server serves (all apps of a multi-app server)."""
    peers = getattr(conn.app.state.lcm, "peers", None) or []
    return [p.config.app_id for p in peers] or [app_id]


def _add_service_routes(app: FastAPI) -> None:
    for path in ("/tokens/", "/tokens"):
        app.add_api_route(path, _mint_token, methods=["POST"], status_code=201,
                          tags=["auth"], include_in_schema=path == "/tokens/",
                          summary="Mint a short-lived realtime token (a JSON string)")

    @app.get("/files/{file_id}", tags=["files"], summary="An image of a sync_mode=false answer")
    async def get_file(file_id: str, request: Request) -> Response:
        st = get_state(request)
        item = st.files.get(file_id) or st.jobs.stored_file(file_id)
        if item is None:
            return JSONResponse({"detail": f"file {file_id!r} not found (unknown, or evicted "
                                           "from the server's bounded store)"},
                                http_status(NOT_FOUND))
        data, ctype = item
        return Response(data, media_type=ctype, headers={"Cache-Control": "max-age=3600"})

    @app.get("/health", tags=["service"], summary="Model, sessions, queue and batching")
    async def health(request: Request) -> dict[str, Any]:
        st = get_state(request)
        info = st.backend.info
        return {
            "status": "ok", "version": __version__, "app_id": st.config.app_id,
            "model": {"name": info.name, "model": info.model, "device": info.device,
                      "dtype": info.dtype, "can_batch": info.can_batch},
            "auth": st.auth.enabled, "batch": st.scheduler.batch,
            "batching": st.scheduler.batching(),
            "sessions": st.sessions, "sessions_total": st.sessions_total,
            "queue": {"length": st.jobs.length, "max": st.config.max_queue},
            "pending": st.scheduler.pending, "busy": st.scheduler.busy,
            "generations": st.scheduler.generations, "frames_dropped": st.frames_dropped,
            "generation_timeout_s": st.scheduler.generation_timeout,
            "generation_timeouts": st.scheduler.timeouts,
            "webhooks": {"delivered": st.webhooks.delivered, "failed": st.webhooks.failed,
                         "refused": st.webhooks.refused},
            "cancelled_while_running": st.scheduler.aborts,
            "kept": kept(st),
            "files": len(st.files), "uptime_s": round(time.time() - st.started, 3),
            "apps": {peer.config.app_id: app_health(peer) for peer in st.peers},
            **(await st.health_extra() if st.health_extra is not None else {}),
        }


def app_health(st: ServerState) -> dict[str, Any]:
    """One app's line in ``/health`` ``apps``: its schema, model and load."""
    info = st.backend.info
    return {"schema": st.schema.name, "model": info.model, "backend": info.name,
            "device": info.device, "sessions": st.sessions,
            "queue": {"length": st.jobs.length, "max": st.config.max_queue},
            "pending": st.scheduler.pending, "busy": st.scheduler.busy,
            "generations": st.scheduler.generations}


def kept(st: ServerState) -> dict[str, Any]:
    """What ``/health`` says is kept and for how long (docs/server.md, "What is kept")."""
    store = st.jobs.store
    return {
        "queue_jobs": {"durable": store is not None,
                       "state_dir": str(store.dir) if store is not None else None,
                       "stored": store.count() if store is not None else 0,
                       "retention_s": store.retention if store is not None else None,
                       "in_memory": st.jobs.remembered, "in_memory_max": st.jobs.keep,
                       "restored": st.jobs.restored},
        "files": {"in_memory": len(st.files), "max": st.files.max_files,
                  "max_bytes": st.files.max_bytes},
        "uploads": st.uploads.kept(),
        "sync_and_realtime": "not kept: answered to the connected client only",
    }


async def _mint_token(request: Request,
                      principal: Annotated[Principal, Depends(require_auth)]) -> JSONResponse:
    """``{"allowed_apps": [alias], "token_expiration": 120}`` → the token, a JSON string."""
    st = get_state(request)
    if principal.via == "token":  # a short-lived token must not mint longer-lived ones
        return JSONResponse({"detail": "minting a token needs an API key "
                                       "('Authorization: Key <id:secret>'), not a token"},
                            http_status(UNAUTHORIZED))
    try:
        body = await read_json(request, TOKEN_BODY_LIMIT)
    except InvalidInput as exc:
        return error_response(exc)
    errors: list[dict[str, Any]] = []
    if not isinstance(body, dict):
        return validation_response([{"loc": ["body"], "type": "model_attributes_type",
                                     "msg": "body: must be a JSON object like "
                                            '{"allowed_apps": ["fast-lcm-diffusion"], '
                                            '"token_expiration": 120}'}])
    apps = body.get("allowed_apps")
    if not (isinstance(apps, list) and 0 < len(apps) <= 32
            and all(isinstance(a, str) and 0 < len(a) <= 200 for a in apps)):
        errors.append({"loc": ["body", "allowed_apps"], "type": "value_error",
                       "msg": "allowed_apps: must be a list of 1 to 32 app aliases, got "
                              f"{apps!r}"[:300]})
    exp = body.get("token_expiration", 120)
    if isinstance(exp, float) and exp.is_integer():  # JSON's 120.0 is the integer 120
        exp = int(exp)
    if isinstance(exp, bool) or not isinstance(exp, int) or not 1 <= exp <= MAX_TOKEN_EXPIRATION:
        errors.append({"loc": ["body", "token_expiration"], "type": "value_error",
                       "msg": f"token_expiration: must be a whole number of seconds between 1 "
                              f"and {MAX_TOKEN_EXPIRATION}, got {exp!r}"})
    if errors:
        return validation_response(errors)
    token = st.auth.mint(principal, apps, exp)  # type: ignore[arg-type]
    return JSONResponse(token, status_code=201)


def _add_error_handlers(app: FastAPI, app_id: str) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            served = "; ".join(f"/{a} (sync), /queue/{a} (queue), /{a}/realtime (WebSocket)"
                               for a in _served(request, app_id))
            detail = (f"no route {request.method} {request.url.path}; this server serves "
                      f"{served} and /tokens/; see /openapi.json")
        elif exc.status_code == 405:
            detail = f"method {request.method} not allowed on {request.url.path}"
        body: dict[str, Any] = {"detail": detail}
        if getattr(exc, "error_type", None):  # guard's 413 and 415
            body["error_type"] = exc.error_type  # type: ignore[attr-defined]
        return JSONResponse(body, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response([{"loc": list(e.get("loc", ["body"])), "type": e["type"],
                                     "msg": str(e.get("msg"))} for e in exc.errors()])


def _openapi(app: FastAPI, config: ServerConfig) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    for subpath in SUBPATHS:
        path = f"/{config.app_id}" + (f"/{subpath}" if subpath else "") + "/realtime"
        schema["paths"][path] = {
            "x-fal-protocol": {
                "type": "realtime", "operationId": f"realtime_{subpath or 'root'}",
                "config": {"buffering": config.default_buffering,
                           "sessionTimeout": config.session_timeout, "maxBatchSize": 1},
                "contentType": "application/msgpack", "realtimeMode": "unary"},
            "get": {"summary": "Realtime WebSocket: msgpack Input frames in, Output frames out",
                    "description": "Upgrade to a WebSocket. Query: fal_jwt_token, "
                                   "max_buffering (1..60). Errors arrive as text frames "
                                   '{"type":"x-fal-error","error":CODE,"reason":...}.',
                    "tags": ["realtime"], "responses": {"101": {
                        "description": "Switching protocols"}}},
        }
    app_schema_ = app.state.lcm.schema
    models = (app_schema_.input_model, app_schema_.output_model)
    # true to what the routes answer
    finish_openapi(schema, config.app_id, auth=config.auth, models=models,
                   inpainting=app_schema_.inpainting_model)
    app.openapi_schema = schema
    return schema
