"""Sans-I/O core of the remote backends: endpoint ids, URLs, tokens, frames, slots, backoff.

Nothing here opens a socket, awaits, or reads a clock on its own: every function takes what it
needs and returns values, so the rules of PROTOCOL.md (§1 endpoint ids, §2 tokens, §3 frames)
and of DESIGN.md §1 (one in flight, newest wins) are tested without a network. The asyncio
adapters are :mod:`.realtime` and :mod:`.http`.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgpack

from ..errors import (
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
    "FAL_QUEUE_URL",
    "FAL_REST_URL",
    "FAL_RUN_URL",
    "FAL_WS_URL",
    "AppId",
    "ErrorFrame",
    "Event",
    "ResultFrame",
    "Secret",
    "Slots",
    "TimingsFrame",
    "TokenState",
    "UnauthorizedFrame",
    "UnknownFrame",
    "backoff",
    "check_max_buffering",
    "data_uri",
    "decode_frame",
    "encode_input",
    "error_for",
    "http_error",
    "key_from_env",
    "parse_token_response",
    "realtime_url",
    "token_body",
    "ws_base",
]

FAL_RUN_URL = "https://fal.run"
FAL_QUEUE_URL = "https://queue.fal.run"
FAL_WS_URL = "wss://fal.run"
FAL_REST_URL = "https://rest.fal.ai"

_NAMESPACES = frozenset({"workflows", "comfy"})


# --------------------------------------------------------------------------- endpoint ids


@dataclass(frozen=True)
class AppId:
    """A parsed fal endpoint id ``[namespace/]owner/alias[/path...]`` (PROTOCOL.md §1)."""

    owner: str
    alias: str
    path: str = ""
    namespace: str = ""

    @classmethod
    def parse(cls, app: str) -> AppId:
        """Parse ``app``; the legacy ``<digits>-<alias>`` form becomes ``<digits>/<alias>``."""
        parts = [p for p in app.strip("/").split("/") if p]
        if len(parts) == 1 and "-" in parts[0] and parts[0].split("-", 1)[0].isdigit():
            parts = parts[0].split("-", 1)
        namespace = ""
        if parts and parts[0] in _NAMESPACES:
            namespace, parts = parts[0], parts[1:]
        if len(parts) < 2:
            raise InvalidInput(f"app: must look like 'owner/alias' (e.g. "
                               f"'fal-ai/fast-lcm-diffusion'), got {app!r}", field="app")
        return cls(parts[0], parts[1], "/".join(parts[2:]), namespace)

    @property
    def base(self) -> str:
        """``[namespace/]owner/alias``: what the queue status/result/cancel URLs use."""
        return "/".join(p for p in (self.namespace, self.owner, self.alias) if p)

    @property
    def full(self) -> str:
        """``[namespace/]owner/alias[/path]``: what run, submit and realtime URLs use."""
        return "/".join(p for p in (self.base, self.path) if p)


# --------------------------------------------------------------------------- credentials


class Secret:
    """A string that never shows itself in ``repr()``/``str()`` (API keys stay in the kernel)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one header or body that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def key_from_env(environ: dict[str, str] | None = None) -> str | None:
    """``FAL_KEY``, else ``FAL_KEY_ID:FAL_KEY_SECRET``, else None (PROTOCOL.md §2.1)."""
    env = os.environ if environ is None else environ
    if env.get("FAL_KEY"):
        return env["FAL_KEY"]
    if env.get("FAL_KEY_ID") and env.get("FAL_KEY_SECRET"):
        return f"{env['FAL_KEY_ID']}:{env['FAL_KEY_SECRET']}"
    return None


def token_body(app: AppId, expiration: int) -> dict[str, Any]:
    """The ``POST /tokens/`` body: the alias only, never owner or path (PROTOCOL.md §2.2)."""
    return {"allowed_apps": [app.alias], "token_expiration": expiration}


def parse_token_response(body: Any) -> str:
    """The JWT from a token response: a JSON string, or ``{"token"|"detail": str}``."""
    if isinstance(body, str) and body:
        return body
    if isinstance(body, dict):
        for k in ("token", "detail"):
            if isinstance(body.get(k), str) and body[k]:
                return str(body[k])
    raise ProtocolError(f"token response: expected a JSON string, got {str(body)[:120]!r}")


@dataclass
class TokenState:
    """A realtime token and when to replace it.

    The token is used for new connections until 90% of its lifetime has passed (as fal's JS
    client does); an open socket is never affected, since the token is checked only at the
    handshake. ``now`` is any monotonic clock in seconds.
    """

    token: str | None = None
    minted_at: float = 0.0
    lifetime: float = 120.0

    def store(self, token: str, now: float, lifetime: float) -> None:
        self.token, self.minted_at, self.lifetime = token, now, lifetime

    def usable(self, now: float) -> bool:
        """True while a token exists and is younger than 90% of its lifetime."""
        return self.token is not None and now < self.minted_at + 0.9 * self.lifetime

    def drop(self) -> None:
        self.token = None


# --------------------------------------------------------------------------- URLs


def ws_base(http_base: str) -> str:
    """``http(s)://host[:port][/prefix]`` → ``ws(s)://…`` (a ws/wss URL is kept as is)."""
    u = urlsplit(http_base.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(u.scheme)
    if scheme is None or not u.netloc:
        raise InvalidInput(f"base_url: must be an http(s):// or ws(s):// URL, got {http_base!r}",
                           field="base_url")
    return urlunsplit((scheme, u.netloc, u.path, "", ""))


def check_max_buffering(value: int | None) -> int | None:
    """``max_buffering`` must be None or an integer in 1..60 (fal's clients refuse others)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60:
        raise InvalidInput(f"max_buffering: must be an integer between 1 and 60, got {value!r}",
                           field="max_buffering")
    return value


def realtime_url(ws_root: str, app: AppId, *, path: str = "/realtime", token: str | None = None,
                 max_buffering: int | None = None) -> str:
    """``{ws_root}/{app}/realtime?fal_jwt_token=…&max_buffering=…`` (PROTOCOL.md §3.1)."""
    endpoint = app.full
    suffix = "/" + path.strip("/") if path.strip("/") else ""
    if suffix and not endpoint.endswith(suffix.lstrip("/")):
        endpoint += suffix
    query: dict[str, str | int] = {}
    if token is not None:
        query["fal_jwt_token"] = token
    if max_buffering is not None:
        query["max_buffering"] = max_buffering
    url = f"{ws_root.rstrip('/')}/{endpoint}"
    return f"{url}?{urlencode(query)}" if query else url


# --------------------------------------------------------------------------- frames


def data_uri(data: bytes) -> str:
    """Raw image bytes → a base64 ``data:`` URI (JPEG, PNG or WebP sniffed; else octet-stream)."""
    import base64

    mime = ("image/jpeg" if data[:3] == b"\xff\xd8\xff" else
            "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else
            "image/webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else
            "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def encode_input(payload: dict[str, Any]) -> bytes:
    """One input → one binary msgpack map (bytes travel as msgpack ``bin``)."""
    return msgpack.packb(payload, use_bin_type=True)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ResultFrame:
    """A binary msgpack map: a model output."""

    data: dict[str, Any]

    @property
    def request_id(self) -> str | None:
        rid = self.data.get("request_id")
        return rid if isinstance(rid, str) and rid else None


@dataclass(frozen=True)
class ErrorFrame:
    """``{"type": "x-fal-error", "error": CODE, "reason": text}``."""

    code: str
    reason: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class UnauthorizedFrame:
    """``{"status": "error", "error": "Unauthorized"}``: the token was refused."""

    payload: dict[str, Any]


@dataclass(frozen=True)
class TimingsFrame:
    """``{"type": "x-fal-message", "action": "timings", "timing": seconds}``."""

    timing: float | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class UnknownFrame:
    """Any other text frame: clients skip it (logged at debug level)."""

    payload: Any


Event = ResultFrame | ErrorFrame | UnauthorizedFrame | TimingsFrame | UnknownFrame


def decode_frame(frame: bytes | str) -> Event:
    """Classify one server frame (PROTOCOL.md §3.3). Raises :class:`ProtocolError`."""
    if isinstance(frame, bytes | bytearray | memoryview):
        try:
            data = msgpack.unpackb(frame, raw=False)
        except Exception as exc:
            raise ProtocolError(f"result frame: not valid msgpack ({exc})") from exc
        if not isinstance(data, dict):
            raise ProtocolError(f"result frame: expected a msgpack map, got "
                                f"{type(data).__name__}")
        return ResultFrame(data)
    try:
        msg = json.loads(frame)
    except ValueError:
        return UnknownFrame(frame)
    if not isinstance(msg, dict):
        return UnknownFrame(msg)
    if msg.get("type") == "x-fal-error":
        return ErrorFrame(str(msg.get("error") or "ERROR"), str(msg.get("reason") or ""), msg)
    if msg.get("status") == "error":
        if str(msg.get("error", "")).lower() == "unauthorized":
            return UnauthorizedFrame(msg)
        return ErrorFrame(str(msg.get("error") or "ERROR"),
                          str(msg.get("reason") or msg.get("detail") or ""), msg)
    if msg.get("type") == "x-fal-message":
        t = msg.get("timing")
        return TimingsFrame(float(t) if isinstance(t, int | float) else None, msg)
    return UnknownFrame(msg)


def error_for(frame: ErrorFrame) -> LCMWidgetsError:
    """The typed exception for an ``x-fal-error`` frame; the server's reason is kept.

    ``TIMEOUT`` → :class:`RemoteTimeout`; ``UNAUTHORIZED`` → :class:`Unauthorized`;
    ``VALIDATION_ERROR``/``INVALID_IMAGE`` (our server; a ``detail`` list in FastAPI's 422 shape
    rides along) → :class:`InvalidInput`/:class:`InvalidImage`, the same types local validation
    raises; every other code → :class:`RemoteError` (``INTERNAL_ERROR`` is fal's catch-all).
    """
    code = frame.code.upper()
    if code == "TIMEOUT":
        return RemoteTimeout(frame.code, frame.reason, payload=frame.payload)
    if code in {"UNAUTHORIZED", "FORBIDDEN"}:
        return Unauthorized(frame.code, frame.reason, payload=frame.payload)
    if code in {"VALIDATION_ERROR", "INVALID_IMAGE"}:
        detail = frame.payload.get("detail")
        errors = [e for e in detail if isinstance(e, dict)] if isinstance(detail, list) else None
        first = [str(p) for p in (errors[0].get("loc") or [])[1:]] if errors else []
        cls = InvalidImage if code == "INVALID_IMAGE" else InvalidInput
        return cls(f"the server rejected the input: {frame.reason}", errors=errors or None,
                   field=".".join(first) or None)
    return RemoteError(frame.code, frame.reason, payload=frame.payload)


def http_error(status: int, body: Any, *, what: str = "request") -> RemoteError | InvalidInput:
    """The typed exception for a non-2xx HTTP answer (REST, queue, token mint, WS handshake).

    ``body`` is the decoded JSON (or text). 422 → :class:`InvalidInput` carrying the server's
    ``detail`` list as ``errors``; 401/403 → :class:`Unauthorized`; 429 → :class:`ServerBusy`;
    anything else → :class:`RemoteError` with the status as ``code``.
    """
    detail = body.get("detail", body.get("message", body)) if isinstance(body, dict) else body
    if status == 422:
        errors = detail if isinstance(detail, list) else [
            {"loc": ["body"], "msg": str(detail), "type": "value_error"}]
        errors = [e if isinstance(e, dict) else {"loc": ["body"], "msg": str(e),
                                                 "type": "value_error"} for e in errors]
        msg = "; ".join(str(e.get("msg", e)) for e in errors) or "invalid input"
        first = [p for p in errors[0].get("loc", [])[1:]] if errors else []
        return InvalidInput(f"{what} rejected by the server (422): {msg}", errors=errors,
                            field=".".join(map(str, first)) or None)
    reason = detail if isinstance(detail, str) else json.dumps(detail, default=str)[:500]
    reason = reason or "(no detail)"
    if status in (401, 403):
        return Unauthorized(status, f"{what} refused: {reason}", payload=body)
    if status == 429:
        return ServerBusy(status, f"{what} refused for capacity: {reason}", payload=body)
    return RemoteError(status, f"{what} failed: {reason}", payload=body)


# --------------------------------------------------------------------------- flow control

T = TypeVar("T")


class Slots(Generic[T]):
    """One in-flight slot and one pending slot: newest wins (DESIGN.md §1, STYLE rule 2).

    Items are opaque. Each method returns what the adapter must do next: an item to send, or
    an item that was superseded (its caller gets :class:`~lcm_widgets.errors.Superseded`).
    No queue ever grows beyond two items.
    """

    def __init__(self) -> None:
        self.in_flight: T | None = None
        self.pending: T | None = None

    def submit(self, item: T) -> tuple[T | None, T | None]:
        """A new request: ``(to_send, superseded)``."""
        if self.in_flight is None:
            self.in_flight = item
            return item, None
        old, self.pending = self.pending, item
        return None, old

    def finish(self) -> tuple[T | None, T | None]:
        """The in-flight request was answered (or failed): ``(finished, to_send)``."""
        done, self.in_flight, self.pending = self.in_flight, self.pending, None
        return done, self.in_flight

    def collapse(self) -> T | None:
        """The connection dropped: keep only the newest request, return the superseded one.

        After this the in-flight slot holds the one item to resend (or None).
        """
        if self.pending is None:
            return None
        old, self.in_flight, self.pending = self.in_flight, self.pending, None
        return old

    def withdraw(self, item: T) -> bool:
        """Remove a pending ``item`` whose caller gave up; True when it was pending."""
        if self.pending is item:
            self.pending = None
            return True
        return False

    def clear(self) -> list[T]:
        """Empty both slots and return what was in them (in-flight first)."""
        items = [i for i in (self.in_flight, self.pending) if i is not None]
        self.in_flight = self.pending = None
        return items


def backoff(initial: float = 0.05, factor: float = 2.0, max_delay: float = 5.0,
            jitter: float = 0.5, rng: Callable[[], float] = random.random) -> Iterator[float]:
    """Reconnect delays: 0 first (a dropped socket is usually just an idle close), then
    ``initial * factor**n`` capped at ``max_delay``, each shortened by up to ``jitter`` (a
    fraction) at random so that many clients do not reconnect in step. Infinite; the caller
    owns the budget.
    """
    yield 0.0
    delay = initial
    while True:
        yield delay * (1.0 - jitter * rng())
        delay = min(max_delay, delay * factor)
