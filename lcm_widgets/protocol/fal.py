"""The fal realtime wire codec, both directions (docs/remote.md, "The realtime protocol").

Pure: no sockets, no clock. One input is one **binary** frame holding one msgpack map; one
result is one binary msgpack map (``request_id`` copied back); errors and meta messages are
compact JSON **text** frames:

* ``{"type": "x-fal-error", "error": CODE, "reason": text}`` (codes: :mod:`.errors`);
* ``{"type": "x-fal-message", "action": "timings", "timing": seconds}`` after a result
  (optional);
* ``{"status": "error", "error": "Unauthorized"}`` when the credentials are refused.

Hand-written clients (the style of fal's 2023 blog) send ``JSON.stringify(input)`` as a text
frame instead and read ``JSON.parse(message.data)``; :func:`decode_input_frame` reads that too
(and says what a refused frame was: JSON inside a *binary* frame is refused as such), and
``lcm_widgets.server`` answers such a frame with a JSON text frame (:func:`encode_output_json`,
images as ``data:`` URIs). msgpack stays the default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgpack

from ..errors import ProtocolError

__all__ = [
    "ErrorFrame",
    "Event",
    "ResultFrame",
    "TimingsFrame",
    "UnauthorizedFrame",
    "UnknownFrame",
    "data_uri",
    "decode_frame",
    "decode_input_frame",
    "encode_input",
    "encode_output",
    "encode_output_json",
    "error_frame",
    "timings_frame",
    "unauthorized_frame",
]


def data_uri(data: bytes) -> str:
    """Raw image bytes → a base64 ``data:`` URI of the type sniffed from the bytes."""
    from ..images import image_mime, to_data_uri

    return to_data_uri(data, image_mime(data))


# --------------------------------------------------------------------------- client → server


def encode_input(payload: dict[str, Any]) -> bytes:
    """One input → one binary msgpack map (bytes travel as msgpack ``bin``)."""
    return msgpack.packb(payload, use_bin_type=True)  # type: ignore[no-any-return]


def decode_input_frame(data: bytes | str, *, max_bytes: int) -> dict[str, Any]:
    """One client frame → its field map (server side).

    ``bytes`` must hold exactly one msgpack map; ``str`` (a text frame) one JSON object. Keys
    must be strings. Raises :class:`ProtocolError` saying what the frame was instead.
    """
    size = len(data.encode()) if isinstance(data, str) else len(data)
    if size > max_bytes:
        raise ProtocolError(f"message: must be at most {max_bytes} bytes, got {size}")
    if isinstance(data, str):
        try:
            value = json.loads(data)
        except ValueError as exc:
            raise ProtocolError(f"message: a text frame must hold one JSON object of input "
                                f"fields, got {size} bytes that are not JSON ({exc})") from None
        except RecursionError:  # '[' x 100000: a refusal, not a dead session
            raise ProtocolError(f"message: a text frame must hold one JSON object of input "
                                f"fields, got {size} bytes of JSON nested too deep to "
                                "read") from None
        kind = "JSON object"
    else:
        if data[:1] in (b"{", b"[") and _is_json(data):  # one JSON value reads as msgpack ints
            raise ProtocolError("message: a binary frame must hold msgpack, got JSON; send "
                                "JSON as a text frame, or encode the input with msgpack")
        try:
            value = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except msgpack.ExtraData:
            raise ProtocolError("message: must hold exactly one msgpack map, got several "
                                "values in one frame") from None
        except (ValueError, msgpack.UnpackException) as exc:
            why = str(exc) or exc.__class__.__name__
            raise ProtocolError(f"message: must be one msgpack map, got {size} bytes that "
                                f"are not valid msgpack ({why})") from None
        kind = "msgpack map"
    if not isinstance(value, dict):
        raise ProtocolError(f"message: must be a {kind} of input fields, got "
                            f"{type(value).__name__}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise ProtocolError(f"message: map keys must be strings, got {bad[0]!r}")
    return value


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


# --------------------------------------------------------------------------- server → client


def encode_output(output: dict[str, Any]) -> bytes:
    """One result → one binary msgpack map."""
    return msgpack.packb(output, use_bin_type=True)  # type: ignore[no-any-return]


def encode_output_json(output: dict[str, Any]) -> str:
    """One result → one JSON text frame (the answer to a JSON text input frame)."""
    return json.dumps(output, separators=(",", ":"))


def error_frame(code: str, reason: str, **extra: Any) -> str:
    """An ``x-fal-error`` text frame."""
    return json.dumps({"type": "x-fal-error", "error": code, "reason": reason, **extra},
                      separators=(",", ":"))


def timings_frame(seconds: float) -> str:
    """An ``x-fal-message`` timings text frame."""
    return json.dumps({"type": "x-fal-message", "action": "timings", "timing": seconds},
                      separators=(",", ":"))


def unauthorized_frame(reason: str) -> str:
    """The in-band refusal fal's gateway sends (``@fal-ai/client`` drops its token on it)."""
    return json.dumps({"status": "error", "error": "Unauthorized", "reason": reason})


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

    @property
    def request_id(self) -> str | None:
        rid = self.payload.get("request_id")
        return rid if isinstance(rid, str) and rid else None


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
    """Classify one server frame (client side). Raises :class:`ProtocolError`."""
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
