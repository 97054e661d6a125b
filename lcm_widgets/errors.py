"""The one exception tree of lcm_widgets.

Every error the library raises on purpose is an :class:`LCMWidgetsError`::

    LCMWidgetsError
    ├── InvalidInput  (also ValueError)     a request field is out of range or malformed
    │   └── InvalidImage                    an image could not be decoded, or breaks a limit
    ├── BackendError                        the model side failed
    │   ├── BackendUnavailable (also ImportError)  an optional extra or a device is missing
    │   ├── ModelLoadError                  weights/configs could not be loaded
    │   └── GenerationFailed                the model raised while generating
    │       └── GenerationTimeout           the model did not answer within the time allowed
    ├── RemoteError                         a remote endpoint answered with an error
    │   ├── Unauthorized                    bad or expired credentials
    │   ├── ServerBusy                      the server refused for capacity (queue full, 429)
    │   └── RemoteTimeout                   no answer came in the time allowed (client or server limit)
    ├── ProtocolError                       a peer sent something the protocol does not allow
    ├── ConnectionClosed                    a WebSocket closed; ``code`` and ``reason`` say how
    └── Superseded                          a newer request of the same caller replaced this one

Foreign errors (PIL, torch, diffusers, httpx, websockets) are wrapped where they cross into
this package, with the original chained as ``__cause__`` (``raise ... from exc``).

Message style: one sentence that starts with the thing that is wrong, names the limit and the
value received, and where useful says what to do, e.g.
``num_inference_steps: must be between 1 and 50, got 80``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ConnectionClosed",
    "GenerationFailed",
    "GenerationTimeout",
    "InvalidImage",
    "InvalidInput",
    "LCMWidgetsError",
    "ModelLoadError",
    "ProtocolError",
    "RemoteError",
    "RemoteTimeout",
    "ServerBusy",
    "Superseded",
    "Unauthorized",
]


class LCMWidgetsError(Exception):
    """Base class of every error lcm_widgets raises on purpose.

    Every subclass pickles with its message and attributes (``code``, ``errors``...), so
    errors survive a trip through ``multiprocessing`` or a process pool.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own __reduce__ calls cls(*self.args), which breaks for subclasses whose
        # __init__ takes other arguments than the message (RemoteError, ConnectionClosed).
        return _restore, (type(self), self.args), self.__dict__


def _restore(cls: type[LCMWidgetsError], args: tuple[Any, ...]) -> LCMWidgetsError:
    """Unpickle an error without calling its ``__init__`` (the state is set afterwards)."""
    exc = cls.__new__(cls)
    exc.args = args
    return exc


class InvalidInput(LCMWidgetsError, ValueError):
    """A request field is out of range or malformed.

    ``errors`` holds one dict per problem in FastAPI's 422 shape, ``{"loc", "msg", "type"}``,
    so the server can answer with it unchanged and the official fal clients can parse it.
    ``field`` is the dotted location of the first problem.
    """

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        if errors is None:
            loc: list[str | int] = ["body", *(field.split(".") if field else [])]
            errors = [{"loc": loc, "msg": message, "type": "value_error"}]
        self.errors = errors
        self.field = field


class InvalidImage(InvalidInput):
    """An image could not be decoded, has an unknown format, or breaks a size/pixel limit."""


class BackendError(LCMWidgetsError):
    """The model side failed."""


class BackendUnavailable(BackendError, ImportError):
    """An optional dependency (``pip install lcm-widgets[EXTRA]``) or a device is missing."""


class ModelLoadError(BackendError):
    """Model weights or configs could not be loaded."""


class GenerationFailed(BackendError):
    """The model raised while generating; ``__cause__`` holds the original error."""


class GenerationTimeout(GenerationFailed):
    """The backend did not answer within the time allowed (the server's
    ``generation_timeout``); ``timeout`` is that limit in seconds."""

    def __init__(self, message: str, *, timeout: float | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout


class RemoteError(LCMWidgetsError):
    """A remote endpoint answered with an error.

    ``code`` is the server's error code (``INTERNAL_ERROR``, ``TIMEOUT``, an HTTP status…),
    ``reason`` its explanation, ``payload`` the whole message when there was one.
    """

    def __init__(self, code: str | int, reason: str, *, payload: Any = None) -> None:
        super().__init__(f"{code}: {reason}" if reason else str(code))
        self.code = code
        self.reason = reason
        self.payload = payload


class Unauthorized(RemoteError):
    """The server rejected the credentials (API key or realtime token)."""


class ServerBusy(RemoteError):
    """The server refused the request for capacity (for example a full queue, HTTP 429)."""


class RemoteTimeout(RemoteError):
    """No answer came within the time allowed: the client's own limit (``code``
    ``REQUEST_TIMEOUT`` for a realtime request, ``HTTP_TIMEOUT`` for REST) or the server's
    limit on a generation (``GENERATION_TIMEOUT``, REST 504 ``generation_timeout``). fal's
    idle-session ``TIMEOUT`` is not one: the session ends and the client reconnects."""


class ProtocolError(LCMWidgetsError):
    """A peer sent something the protocol does not allow (bad frame type, bad msgpack...)."""


class ConnectionClosed(LCMWidgetsError):
    """A WebSocket connection closed. ``code`` and ``reason`` are the close frame's."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        how = "without a close code" if code is None else f"with code {code}"
        super().__init__(f"connection closed {how}{detail}")
        self.code = code
        self.reason = reason


class Superseded(LCMWidgetsError):
    """A newer request of the same caller replaced this one before it was answered.

    ``RealtimeBackend.generate(..., lane=...)`` keeps one request of a lane in flight and one
    waiting; a newer call on the lane replaces the waiting one, which raises this (also when a
    reconnect resends only a lane's newest request). Calls without a lane are never replaced.
    It is expected flow, not a failure: ignore it and use the newer call's result.
    ``request_id`` names the superseded request, ``by`` the one that replaced it.
    """

    def __init__(self, request_id: str, by: str | None = None) -> None:
        newer = f" by request {by}" if by else ""
        super().__init__(f"request {request_id} was superseded{newer}; only the newest "
                         "request is answered")
        self.request_id = request_id
        self.by = by
