"""The storage routes the official clients upload through (docs/server.md, "Storage uploads").

They stand in for fal's REST host (``rest.fal.ai``, point it at ``http://HOST:PORT``) and its
v3 CDN (``v3.fal.media``, the same ``http://HOST:PORT``); files are kept by
:class:`~.storage.UploadStore`, per key:

* ``POST /storage/upload/initiate?storage_type=fal-cdn-v3|gcs`` ``{"content_type",
  "file_name"}`` → ``{"upload_url", "file_url"}`` (``@fal-ai/client`` ``fal.storage.upload``
  and its automatic upload of a Blob in an input; ``fal_client``'s ``"fal"`` repository);
* ``PUT {upload_url}`` with the bytes (no credentials: the URL is a one-time slot);
* ``POST /storage/auth/token?storage_type=fal-cdn-v3`` → ``{"token", "token_type",
  "base_url", "expires_at"}``, then ``POST /files/upload`` with ``Authorization: Bearer
  <token>`` and the bytes → ``{"access_url"}`` (``fal_client.upload*``, its default ``fal_v3``
  repository);
* ``GET /storage/files/{id}`` → the file, for the key that uploaded it (anyone else: 404).

The ``file_url`` / ``access_url`` is what the client puts in ``image_url``; the server reads
such a URL from the store (:meth:`~.storage.UploadStore.resolve`), never over the network.
Multipart uploads (the clients use them above 90 MB) are refused with 413: a file is at most
``ServerConfig.uploads.max_bytes``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..errors import InvalidInput
from ..protocol.errors import NOT_FOUND
from .answers import http_status
from .auth import Principal
from .config import ServerConfig
from .http_common import error_response, get_state, require_auth, validation_response
from .storage import FILES_PATH, UploadStore

__all__ = ["add_storage_routes"]

_JSON_TYPES = ("application/json",)


def _obj(**props: str) -> dict[str, Any]:
    return {"type": "object", "required": list(props),
            "properties": {k: {"type": "string", "description": v} for k, v in props.items()}}


def _answers(ok: dict[str, Any], description: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {
        "schema": ok}}}}


_BYTES: dict[str, Any] = {"required": True, "content": {
    t: {"schema": {"type": "string", "format": "binary"}}
    for t in ("image/jpeg", "image/png", "image/webp", "application/octet-stream")}}
_IMAGE_ANSWER: dict[str, Any] = {"200": {"description": "The file", "content": {
    t: {"schema": {"type": "string", "format": "binary"}}
    for t in ("image/jpeg", "image/png", "image/webp", "image/bmp", "image/gif")}}}
_TOKEN_DOC = {"requestBody": {"required": False, "content": {"application/json": {
    "schema": {"type": "object", "description": "ignored (fal_client sends {})"}}}},
    "responses": _answers(_obj(token="a storage token", token_type="'Bearer'",
                               base_url="this server's base URL",
                               expires_at="ISO 8601 time, UTC"), "A storage token")}
_INITIATE_DOC = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "properties": {
        "content_type": {"type": "string", "maxLength": 200, "default":
                         "application/octet-stream"},
        "file_name": {"type": "string", "maxLength": 200, "default": "upload.bin"}}}}}},
    "responses": _answers(_obj(upload_url="PUT the bytes here (no credentials, once)",
                               file_url="the file's URL once uploaded"), "An upload slot")}
_PUT_DOC = {"requestBody": _BYTES,
            "responses": _answers(_obj(file_url="the uploaded file's URL"), "Stored")}
_DIRECT_DOC = {"requestBody": _BYTES,
               "responses": _answers(_obj(access_url="the uploaded file's URL",
                                          file_url="the same URL"), "Stored")}


def add_storage_routes(app: FastAPI, config: ServerConfig) -> None:
    """Register the storage routes and give the app its :class:`~.storage.UploadStore`."""
    get_store: Callable[[Request], UploadStore] = lambda r: get_state(r).uploads  # noqa: E731
    app.state.lcm.uploads = UploadStore(config.uploads)
    tags: list[str | Enum] = ["storage"]

    @app.post("/storage/auth/token", tags=tags, openapi_extra=_TOKEN_DOC,
              summary="A short-lived storage token for direct uploads (fal's v3 CDN path)")
    async def storage_token(request: Request,
                            principal: Annotated[Principal, Depends(require_auth)]
                            ) -> JSONResponse:
        body = await _json_body(request, allow_empty=True)  # fal_client sends {}
        if isinstance(body, JSONResponse):
            return body
        token, expires = get_store(request).mint_token(principal.key_id)
        return JSONResponse({
            "token": token, "token_type": "Bearer", "base_url": _base(request),
            "expires_at": dt.datetime.fromtimestamp(expires, dt.timezone.utc).isoformat()})

    @app.post("/storage/upload/initiate", tags=tags, openapi_extra=_INITIATE_DOC,
              summary="Reserve an upload: answers upload_url (PUT the bytes) and file_url")
    async def initiate(request: Request,
                       principal: Annotated[Principal, Depends(require_auth)]) -> JSONResponse:
        body = await _json_body(request)
        if isinstance(body, JSONResponse):
            return body
        ctype = body.get("content_type", "application/octet-stream")
        name = body.get("file_name", "upload.bin")
        errors = [{"loc": ["body", k], "type": "string_type",
                   "msg": f"{k}: must be a string of at most 200 characters, got {v!r}"[:300]}
                  for k, v in (("content_type", ctype), ("file_name", name))
                  if not isinstance(v, str) or len(v) > 200]
        if errors:
            return validation_response(errors)
        try:
            upload_id, file_id = get_store(request).initiate(principal.key_id,
                                                             content_type=ctype, file_name=name)
        except InvalidInput as exc:
            return error_response(exc)
        base = _base(request)
        return JSONResponse({"upload_url": f"{base}/storage/upload/{upload_id}",
                             "file_url": f"{base}{FILES_PATH}{file_id}"})

    @app.put("/storage/upload/{upload_id}", tags=tags, openapi_extra=_PUT_DOC,
             summary="The bytes of a reserved upload (the upload_url is the credential)")
    async def put_upload(request: Request, upload_id: str) -> JSONResponse:
        store = get_store(request)
        data = await _read_capped(request, store.limits.max_bytes)
        if isinstance(data, JSONResponse):
            return data
        try:
            file_id = store.complete(upload_id, data, request.headers.get("content-type"))
        except InvalidInput as exc:
            return error_response(exc)
        if file_id is None:
            return JSONResponse({"detail": f"upload {upload_id[:40]!r} not found (unknown, "
                                           "already used, or older than "
                                           f"{store.limits.token_ttl:g} s); initiate a new "
                                           "one"}, status_code=http_status(NOT_FOUND))
        return JSONResponse({"file_url": f"{_base(request)}{FILES_PATH}{file_id}"})

    @app.post("/files/upload", tags=tags, openapi_extra=_DIRECT_DOC,
              summary="Upload the bytes directly (Authorization: Bearer <storage token>)")
    async def direct_upload(request: Request) -> JSONResponse:
        store = get_store(request)
        owner = _upload_owner(request, store)
        data = await _read_capped(request, store.limits.max_bytes)
        if isinstance(data, JSONResponse):
            return data
        ctype = request.headers.get("content-type", "application/octet-stream")
        name = request.headers.get("x-fal-file-name", "upload.bin")
        try:
            file_id = store.put(owner, data, content_type=ctype, file_name=name)
        except InvalidInput as exc:
            return error_response(exc)
        url = f"{_base(request)}{FILES_PATH}{file_id}"
        return JSONResponse({"access_url": url, "file_url": url})

    for path in ("/storage/upload/initiate-multipart", "/files/upload/multipart"):
        app.add_api_route(path, _no_multipart, methods=["POST"], tags=tags, status_code=413,
                          response_description="Multipart uploads are not served",
                          summary="Multipart uploads are not served (413)")

    @app.get(FILES_PATH + "{file_id}", tags=tags, openapi_extra={"responses": _IMAGE_ANSWER},
             response_class=Response,
             summary="An uploaded file, for the key that uploaded it")
    async def get_upload(request: Request, file_id: str,
                         principal: Annotated[Principal, Depends(require_auth)]) -> Response:
        item = get_store(request).get(file_id, principal.key_id)
        if item is None:
            return JSONResponse({"detail": f"file {file_id[:40]!r} not found (unknown, "
                                           "expired, or uploaded with another key)"},
                                status_code=http_status(NOT_FOUND))
        return Response(item.data, media_type=item.content_type,
                        headers={"Cache-Control": "private, no-store"})


async def _no_multipart(request: Request) -> JSONResponse:
    limit = get_state(request).uploads.limits.max_bytes
    return JSONResponse({"detail": f"file: uploads are at most {limit} bytes on this server; "
                                   "multipart uploads (for files over 90 MB) are not served",
                         "error_type": "payload_too_large"}, status_code=413)


def _base(request: Request) -> str:
    return get_state(request).base_url(str(request.base_url)).rstrip("/")


def _upload_owner(request: Request, store: UploadStore) -> str:
    """The owner of a direct upload: a storage token (``Bearer``), or any credential the
    other routes take (``Key``, a realtime token)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        owner = store.token_owner(value.strip())
        if owner is not None:
            return owner
    return require_auth(request).key_id  # or HTTP 401


async def _read_capped(request: Request, limit: int, what: str = "file"
                       ) -> bytes | JSONResponse:
    declared = request.headers.get("content-length", "")
    got = declared if declared.isdigit() and int(declared) > limit else None
    buf = bytearray()
    if got is None:
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                got = f"more than {limit}"
                break
    if got is not None:
        return JSONResponse({"detail": f"{what}: must be at most {limit} bytes, got {got}",
                             "error_type": "payload_too_large"}, status_code=413)
    return bytes(buf)


async def _json_body(request: Request, *, allow_empty: bool = False
                     ) -> dict[str, Any] | JSONResponse:
    """A small JSON object body (at most 16 KiB), or the 4xx to answer; ``allow_empty``: no
    body at all counts as ``{}``."""
    raw = await _read_capped(request, 16 * 1024, "body")
    if isinstance(raw, JSONResponse):
        return raw
    if allow_empty and not raw:
        return {}
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in _JSON_TYPES:
        return JSONResponse({"detail": f"Content-Type: must be application/json, got "
                                       f"{ctype or 'none'!r}",
                             "error_type": "unsupported_media_type"}, status_code=415)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as exc:
        return validation_response([{"loc": ["body"], "type": "json_invalid",
                                     "msg": f"body: must be valid JSON ({exc})"}])
    if not isinstance(body, dict):
        return validation_response([{"loc": ["body"], "type": "model_attributes_type",
                                     "msg": f"body: must be a JSON object, got "
                                            f"{type(body).__name__}"}])
    return body
