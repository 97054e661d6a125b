"""What the server refuses before a route runs: foreign browser origins, oversized bodies,
bodies of the wrong media type, JSON nested too deep (docs/server.md, "Browsers, origins and
bodies").

* **Origins.** A browser says where a page came from in ``Origin``. A WebSocket upgrade, and an
  HTTP request that can change something (``POST``, ``PUT``, ``DELETE``, ``PATCH``), carrying an
  ``Origin`` that is not allowed is refused (WebSocket: the upgrade is answered 403; HTTP: 403
  ``{"detail", "error_type": "origin_not_allowed"}``), so a page on ``http://evil.example``
  cannot drive the model through a visitor's browser even with auth off. Loopback origins
  (``http(s)://localhost``, ``127.0.0.1``, ``[::1]``, any port) and those in
  ``ServerConfig.allowed_origins`` are allowed (``"*"`` allows every origin); a request without
  ``Origin`` (curl, the official clients in Node or Python) is not a browser's and passes.
  CORS headers are sent for allowed origins only (:func:`cors_kwargs`).
* **Body caps.** Every route's body is capped: ``/tokens`` at :data:`TOKEN_BODY_LIMIT` bytes,
  every other route at ``ServerConfig.max_message_bytes``. A declared ``Content-Length`` over
  the cap is answered 413 before anything is read; a chunked body is cut off as soon as it
  passes the cap. The answer names the limit and the size: ``{"detail": "body: must be at most
  16384 bytes, got 100000000", "error_type": "payload_too_large"}``.
* **Media type and depth** (:func:`parse_json`, used by every JSON route): the body must be
  ``application/json`` (or ``application/msgpack``), else 415; JSON nested deeper than
  :data:`MAX_JSON_DEPTH` is a 422 naming the limit, never a ``RecursionError``.

Only the WebSocket handshake is looked at here: the frames of a realtime session pass through
untouched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidInput

__all__ = ["JSON_TYPES", "MAX_JSON_DEPTH", "TOKEN_BODY_LIMIT", "BodyTooLarge",
           "GuardMiddleware", "UnsupportedMediaType", "cors_kwargs", "origin_allowed",
           "parse_json"]

#: Nesting levels a JSON (or msgpack) body may have; the Input schema needs three.
MAX_JSON_DEPTH = 32
#: Bytes a ``POST /tokens/`` body may have (it holds a few app ids and a number).
TOKEN_BODY_LIMIT = 16 * 1024
#: Media types the JSON routes accept.
JSON_TYPES = ("application/json", "application/msgpack", "application/x-msgpack")

_LOOPBACK_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$",
                              re.IGNORECASE)
_UNSAFE = {"POST", "PUT", "DELETE", "PATCH"}


def origin_allowed(origin: str, allowed: Sequence[str]) -> bool:
    """Whether a browser page from ``origin`` may use the server: loopback, or listed in
    ``allowed`` (exact ``scheme://host[:port]``, or ``"*"`` for every origin)."""
    origin = origin.strip().rstrip("/")
    if "*" in allowed or _LOOPBACK_ORIGIN.match(origin):
        return True
    return origin.lower() in {a.strip().rstrip("/").lower() for a in allowed}


def cors_kwargs(allowed: Sequence[str]) -> dict[str, Any]:
    """Arguments for Starlette's ``CORSMiddleware``: answer allowed origins only."""
    return {"allow_origins": ["*"] if "*" in allowed else [a.rstrip("/") for a in allowed],
            "allow_origin_regex": _LOOPBACK_ORIGIN.pattern[1:-1],
            "allow_methods": ["GET", "POST", "PUT", "OPTIONS"],
            "allow_headers": ["*"],  # whatever the clients add (x-fal-*), for these origins
            "expose_headers": ["x-fal-request-id"], "max_age": 600}


class BodyTooLarge(HTTPException):
    """A request body over its route's cap (HTTP 413)."""

    error_type = "payload_too_large"

    def __init__(self, limit: int, got: str) -> None:
        super().__init__(413, detail=f"body: must be at most {limit} bytes, got {got}")
        self.limit = limit


class UnsupportedMediaType(HTTPException):
    """A JSON route got a body of another media type (HTTP 415)."""

    error_type = "unsupported_media_type"

    def __init__(self, got: str) -> None:
        super().__init__(415, detail=f"Content-Type: must be application/json (or "
                                     f"application/msgpack), got {got or 'none'!r}")


def body_limit(path: str, max_message_bytes: int) -> int:
    """The body cap of a route."""
    return TOKEN_BODY_LIMIT if path.rstrip("/") == "/tokens" else max_message_bytes


class GuardMiddleware:
    """Refuses foreign origins and oversized bodies before the app sees them."""

    def __init__(self, app: ASGIApp, *, allowed_origins: Sequence[str] = (),
                 max_message_bytes: int = 12 * 1024 * 1024) -> None:
        self.app = app
        self.allowed = tuple(allowed_origins)
        self.max_message_bytes = max_message_bytes
        self.refused_origins = 0

    def _origin(self, scope: Scope) -> str | None:
        for k, v in scope.get("headers", ()):
            if k == b"origin":
                text: str = v.decode("latin-1")
                return text
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            origin = self._origin(scope)
            if origin is not None and not origin_allowed(origin, self.allowed):
                self.refused_origins += 1
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008,
                            "reason": "origin not allowed"})  # before accept: HTTP 403
                return
            await self.app(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in _UNSAFE:
            origin = self._origin(scope)
            if origin is not None and not origin_allowed(origin, self.allowed):
                self.refused_origins += 1
                await _json(send, 403, {
                    "detail": f"Origin {origin[:100]!r} is not allowed; allowed are loopback "
                              "origins and the server's allowed_origins (--allow-origin)",
                    "error_type": "origin_not_allowed"})
                return
        limit = body_limit(scope["path"], self.max_message_bytes)
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > limit:
            await _json(send, 413, {"detail": f"body: must be at most {limit} bytes, got "
                                              f"{int(declared)}",
                                    "error_type": "payload_too_large"},
                        close=True)  # the body is left unread, so the connection ends
            return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, f"more than {limit}")
            return message

        await self.app(scope, capped, send)


async def _json(send: Send, status: int, body: dict[str, Any], *, close: bool = False) -> None:
    import json

    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(data)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def check_media_type(content_type: str | None) -> str:
    """The media type of a JSON route's body; raises :class:`UnsupportedMediaType`."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedMediaType(content_type or "")
    return media


def parse_json(raw: bytes, content_type: str | None, *, what: str = "body",
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode a JSON route's body: checks the media type (415) and the nesting depth.

    Raises :class:`UnsupportedMediaType`, or :class:`~lcm_widgets.errors.InvalidInput` (422)
    for bytes that are not JSON/msgpack or nest deeper than ``max_depth``.
    """
    media = check_media_type(content_type)
    deep = InvalidInput(f"{what}: must nest at most {max_depth} levels deep, got more",
                        field=what, errors=[{
                            "loc": [what], "type": "value_error",
                            "msg": f"{what}: must nest at most {max_depth} levels deep, "
                                   "got more"}])
    try:
        if media == "application/json":
            import json

            data = json.loads(raw) if raw else None
        else:
            import msgpack

            data = msgpack.unpackb(raw, raw=False, max_bin_len=len(raw)) if raw else None
    except RecursionError:
        raise deep from None
    except Exception as exc:  # json's and msgpack's errors for bytes that are not theirs
        name = "JSON" if media == "application/json" else "msgpack"
        msg = f"{what}: must be valid {name} ({exc.__class__.__name__}: {exc})"[:300]
        raise InvalidInput(msg, field=what, errors=[
            {"loc": [what], "type": "json_invalid", "msg": msg}]) from None
    if _depth_over(data, max_depth):
        raise deep
    return data


def _depth_over(data: Any, limit: int) -> bool:
    """Whether ``data`` nests more than ``limit`` containers deep (no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False
