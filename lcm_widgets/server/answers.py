"""How the server answers an exception, from the one error table (:mod:`lcm_widgets.protocol.
errors`): the row (:func:`~lcm_widgets.protocol.errors.code_for`), the reason the client reads,
the REST/queue body and the realtime ``x-fal-error`` frame.

Nothing here picks a code itself: the exception's type does, most specific first, and anything
the table does not name is the catch-all row (``INTERNAL_ERROR``, HTTP 500), logged here with
its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import InvalidImage, InvalidInput
from ..protocol.errors import ErrorCode, code_for
from ..protocol.fal import error_frame

__all__ = ["CATCH_ALL", "answer", "error_frame_for", "http_status", "is_catch_all", "rest_body"]

log = logging.getLogger("lcm_widgets.server")

#: The row of any exception the table does not name.
CATCH_ALL = code_for(Exception())


def is_catch_all(r: ErrorCode) -> bool:
    """Whether ``r`` is the catch-all row (an unexpected error)."""
    return r is CATCH_ALL


def answer(exc: BaseException, *, what: str = "generation") -> tuple[ErrorCode, str]:
    """The row for ``exc`` and the reason to send: the message of an error we raise on
    purpose, ``Class: message`` of an unexpected one (which is logged, with ``what`` failed)."""
    r = code_for(exc)
    if is_catch_all(r):
        log.error("%s failed", what, exc_info=exc)
        return r, f"{exc.__class__.__name__}: {exc}"
    return r, str(exc)


def http_status(r: ErrorCode) -> int:
    """The HTTP status of a row (the catch-all's for a realtime-only row)."""
    return r.http_status or CATCH_ALL.http_status or 500


def rest_body(exc: BaseException, r: ErrorCode, reason: str) -> dict[str, Any]:
    """The JSON body of a REST or queue error answer.

    Invalid input: ``{"detail": [{loc, msg, type}, ...]}`` (FastAPI's 422 shape, which the
    official clients parse). Anything else: ``{"detail": reason, "error_type": ...}``
    (``error_type`` left out when the row has none).
    """
    if isinstance(exc, InvalidInput):
        return {"detail": exc.errors}
    body: dict[str, Any] = {"detail": reason}
    if r.error_type:
        body["error_type"] = r.error_type
    return body


def error_frame_for(exc: BaseException, request_id: str | None = None, *,
                    reason: str | None = None) -> str:
    """The realtime ``x-fal-error`` frame for ``exc`` (``request_id`` echoed when given).

    A field error carries the REST 422 ``detail`` list too, so a client gets the same words
    either way; an image error does not (its reason says it all).
    """
    r, text = answer(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, InvalidInput) and not isinstance(exc, InvalidImage):
        extra["detail"] = exc.errors
    if request_id:
        extra["request_id"] = request_id
    return error_frame(r.code, reason if reason is not None else text, **extra)
