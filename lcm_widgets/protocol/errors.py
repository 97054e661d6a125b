"""The one table of wire error codes: which exception each code stands for, on both ends.

The server picks a code from the exception it caught (:func:`code_for`, most specific type
first) and sends it as a realtime ``x-fal-error`` frame or uses the row's HTTP status and
``error_type`` for REST and queue answers; the clients turn a code, an HTTP status or an
``error_type`` back into an exception (:func:`exception_for`, :func:`http_error`). A code that
is not in the table (fal's own, say) becomes a :class:`~lcm_widgets.errors.RemoteError`
carrying it. docs/architecture.md shows the table; ``tests/protocol/test_errors_table.py``
checks that every row round-trips.

Errors that come from the remote end are :class:`~lcm_widgets.errors.RemoteError` subclasses
(``code`` and ``reason`` kept), except those that mean *your input* was wrong, which are the
same :class:`~lcm_widgets.errors.InvalidInput` / :class:`~lcm_widgets.errors.InvalidImage` that
local validation raises, a refused frame (:class:`~lcm_widgets.errors.ProtocolError`) and
``TIMEOUT``, fal's "idle session closed", which is a
:class:`~lcm_widgets.errors.ConnectionClosed`: a client reconnects on its next request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import (
    BackendError,
    ConnectionClosed,
    GenerationTimeout,
    InvalidImage,
    InvalidInput,
    LCMWidgetsError,
    ProtocolError,
    RemoteError,
    RemoteTimeout,
    ServerBusy,
    Unauthorized,
)

__all__ = [
    "ERRORS",
    "INVALID_PARAMETER",
    "NOT_FOUND",
    "REQUEST_CANCELLED",
    "SERVER_BUSY",
    "TIMEOUT",
    "UNAUTHORIZED",
    "VALIDATION_ERROR",
    "ErrorCode",
    "code_for",
    "exception_for",
    "http_error",
    "row",
]


@dataclass(frozen=True)
class ErrorCode:
    """One row of the table.

    ``code``: the realtime ``x-fal-error`` ``error`` value. ``error``: the exception a client
    raises for it. ``raised_by``: the local exception types the server answers with this code
    (empty: the server sends it explicitly). ``http_status`` and ``error_type``: the REST and
    queue answer (``{"detail": ..., "error_type": ...}``). ``meaning``: one line for the docs.
    """

    code: str
    error: type[LCMWidgetsError]
    raised_by: tuple[type[BaseException], ...]
    http_status: int | None
    error_type: str | None
    meaning: str


#: Most specific first: :func:`code_for` takes the first row whose ``raised_by`` matches.
ERRORS: tuple[ErrorCode, ...] = (
    ErrorCode("INVALID_IMAGE", InvalidImage, (InvalidImage,), 422, "validation_error",
              "the image could not be decoded, has a refused format, or breaks a limit"),
    ErrorCode("VALIDATION_ERROR", InvalidInput, (InvalidInput,), 422, "validation_error",
              "a field is out of range or malformed (a `detail` list rides along)"),
    ErrorCode("INVALID_MESSAGE", ProtocolError, (ProtocolError,), 400, None,
              "the frame is not one msgpack map or JSON object of input fields"),
    ErrorCode("INVALID_PARAMETER", InvalidInput, (), 422, None,
              "a connection parameter is wrong (`max_buffering`); the socket closes"),
    ErrorCode("UNAUTHORIZED", Unauthorized, (Unauthorized,), 401, None,
              "the key or token was refused"),
    ErrorCode("SERVER_BUSY", ServerBusy, (ServerBusy,), 429, "queue_full",
              "the server refused for capacity (its queue is full); retry later"),
    ErrorCode("GENERATION_TIMEOUT", RemoteTimeout, (GenerationTimeout,), 504,
              "generation_timeout", "the model took longer than the server's limit"),
    ErrorCode("GENERATION_FAILED", RemoteError, (BackendError,), 500, "generation_failed",
              "the model raised while generating"),
    ErrorCode("REQUEST_CANCELLED", RemoteError, (), 400, "request_cancelled",
              "a queued request was cancelled"),
    ErrorCode("NOT_FOUND", RemoteError, (), 404, None, "no endpoint or request by that name"),
    ErrorCode("TIMEOUT", ConnectionClosed, (), None, None,
              "fal's idle-session close: no input for `session_timeout` seconds"),
    ErrorCode("INTERNAL_ERROR", RemoteError, (Exception,), 500, "internal_error",
              "anything else (fal's catch-all code)"),
)

_BY_CODE = {r.code: r for r in ERRORS}
_BY_ERROR_TYPE = {r.error_type: r for r in ERRORS if r.error_type}
#: Codes fal or older servers use for a row of ours.
_ALIASES = {"FORBIDDEN": "UNAUTHORIZED"}

#: Rows by name, for the places that answer with a code no exception maps to (or that need a
#: row's HTTP status without an exception at hand).
INVALID_PARAMETER = _BY_CODE["INVALID_PARAMETER"]
NOT_FOUND = _BY_CODE["NOT_FOUND"]
REQUEST_CANCELLED = _BY_CODE["REQUEST_CANCELLED"]
SERVER_BUSY = _BY_CODE["SERVER_BUSY"]
TIMEOUT = _BY_CODE["TIMEOUT"]
UNAUTHORIZED = _BY_CODE["UNAUTHORIZED"]
VALIDATION_ERROR = _BY_CODE["VALIDATION_ERROR"]


def row(code: str) -> ErrorCode | None:
    """The table row of ``code`` (case-insensitive), or None for a code we do not know."""
    up = code.upper()
    return _BY_CODE.get(_ALIASES.get(up, up))


def code_for(exc: BaseException) -> ErrorCode:
    """The row the server answers ``exc`` with (``INTERNAL_ERROR`` for anything unknown)."""
    for r in ERRORS:
        if r.raised_by and isinstance(exc, r.raised_by):
            return r
    raise AssertionError("unreachable: INTERNAL_ERROR matches every Exception")  # pragma: no cover


def _detail_errors(payload: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    detail = payload.get("detail")
    errors = [e for e in detail if isinstance(e, dict)] if isinstance(detail, list) else []
    return errors or None


def exception_for(code: str, reason: str, payload: Mapping[str, Any] | None = None
                  ) -> LCMWidgetsError:
    """The exception a client raises for an error ``code`` with the server's ``reason``."""
    payload = dict(payload or {})
    r = row(code)
    cls: type[LCMWidgetsError] = r.error if r is not None else RemoteError
    if issubclass(cls, InvalidInput):
        errors = _detail_errors(payload)
        first = [str(p) for p in (errors[0].get("loc") or [])[1:]] if errors else []
        return cls(f"the server rejected the input: {reason}", errors=errors,
                   field=".".join(first) or None)
    if cls is ConnectionClosed:
        return ConnectionClosed(1000, f"the server ended the session ({code}: {reason})")
    if cls is ProtocolError:
        return ProtocolError(f"the server refused the message ({code}): {reason}")
    assert issubclass(cls, RemoteError)
    return cls(code, reason, payload=payload)


def http_error(status: int, body: Any, *, what: str = "request") -> LCMWidgetsError:
    """The exception for a non-2xx HTTP answer (REST, queue, token mint, WebSocket handshake).

    ``body`` is the decoded JSON (or text). 422 → :class:`InvalidInput` carrying the server's
    ``detail`` list as ``errors``; otherwise the row of the body's ``error_type`` or of the
    status (401/403 → :class:`Unauthorized`, 429 → :class:`ServerBusy`, 504
    ``generation_timeout`` → :class:`RemoteTimeout`), else :class:`RemoteError` with the status
    as ``code``.
    """
    detail = body.get("detail", body.get("message", body)) if isinstance(body, dict) else body
    if status == 422:
        errors = detail if isinstance(detail, list) else [
            {"loc": ["body"], "msg": str(detail), "type": "value_error"}]
        errors = [e if isinstance(e, dict) else {"loc": ["body"], "msg": str(e),
                                                 "type": "value_error"} for e in errors]
        msg = "; ".join(str(e.get("msg", e)) for e in errors) or "invalid input"
        first = list(errors[0].get("loc", [])[1:]) if errors else []
        return InvalidInput(f"{what} rejected by the server (422): {msg}", errors=errors,
                            field=".".join(map(str, first)) or None)
    reason = detail if isinstance(detail, str) else json.dumps(detail, default=str)[:500]
    reason = reason or "(no detail)"
    error_type = body.get("error_type") if isinstance(body, dict) else None
    r = _BY_ERROR_TYPE.get(error_type) if isinstance(error_type, str) else None
    if r is None:
        r = {401: _BY_CODE["UNAUTHORIZED"], 403: _BY_CODE["UNAUTHORIZED"],
             429: _BY_CODE["SERVER_BUSY"]}.get(status)
    cls = r.error if r is not None and issubclass(r.error, RemoteError) else RemoteError
    text = {"UNAUTHORIZED": "refused", "SERVER_BUSY": "refused for capacity"}.get(
        r.code if r is not None else "", "failed")
    return cls(status, f"{what} {text}: {reason}", payload=body)
