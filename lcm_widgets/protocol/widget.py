"""The Sketchpad's browser ⇄ kernel message protocol (docs/widget-protocol.md), sans I/O.

The constants mirror ``js/protocol.js`` (``tests/protocol/test_widget_protocol.py`` compares them). The
``parse_*`` functions turn a custom message's ``(content, buffers)`` into a frozen value or raise
:class:`~lcm_widgets.errors.ProtocolError`; the ``*_message`` functions build what the kernel
sends. Nothing here imports anywidget or traitlets.

Times are milliseconds since the Unix epoch (JavaScript's ``Date.now()``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from ..errors import ProtocolError

__all__ = [
    "FRAME_MIME",
    "KERNEL_MESSAGES",
    "MASK_MIME",
    "MSG_ACK",
    "MSG_CLEAR_CANVAS",
    "MSG_CLEAR_MASK",
    "MSG_DIRECT",
    "MSG_FRAME",
    "MSG_HELLO",
    "MSG_LOAD_FRAME",
    "MSG_RESTORE",
    "MSG_RESULT",
    "MSG_SET_BACKGROUND",
    "MSG_SYNC",
    "MSG_TOOK",
    "PROTOCOL_VERSION",
    "REASONS",
    "Ack",
    "Frame",
    "Hello",
    "Restore",
    "ResultMeta",
    "clear_canvas_message",
    "clear_mask_message",
    "direct_message",
    "load_frame_message",
    "now_ms",
    "parse_ack",
    "parse_frame",
    "parse_hello",
    "parse_restore",
    "result_message",
    "set_background_message",
    "sync_message",
    "took_message",
]

PROTOCOL_VERSION = 1
#: The Sketchpad's default ``jpeg_quality``: the browser encodes frames with
#: ``canvas.toBlob("image/jpeg", 0.85)`` (libjpeg quality 85). The bench's sketch frames use it.
DEFAULT_JPEG_QUALITY = 0.85

# Browser → kernel
MSG_HELLO = "hello"
MSG_FRAME = "frame"
MSG_ACK = "ack"
MSG_RESTORE = "restore"

# Kernel → browser
MSG_TOOK = "took"
MSG_RESULT = "result"
MSG_SYNC = "sync"
MSG_CLEAR_CANVAS = "clear_canvas"
MSG_SET_BACKGROUND = "set_background"
MSG_DIRECT = "direct"
MSG_LOAD_FRAME = "load_frame"
MSG_CLEAR_MASK = "clear_mask"

KERNEL_MESSAGES = (MSG_TOOK, MSG_RESULT, MSG_SYNC, MSG_CLEAR_CANVAS, MSG_SET_BACKGROUND,
                   MSG_DIRECT, MSG_LOAD_FRAME, MSG_CLEAR_MASK)

# Why a frame was sent (``Frame.reason``).
REASON_STROKE = "stroke"
REASON_UNDO = "undo"
REASON_REDO = "redo"
REASON_CLEAR = "clear"
REASON_BACKGROUND = "background"
REASON_RESIZE = "resize"
REASON_CAMERA = "camera"  # a new webcam picture (docs/studio.md, "Sources")
REASON_FEEDBACK = "feedback"  # the result shown was made the canvas
REASON_MASK = "mask"  # the inpainting mask was painted, erased or cleared (docs/studio.md)
REASONS = (REASON_STROKE, REASON_UNDO, REASON_REDO, REASON_CLEAR, REASON_BACKGROUND,
           REASON_RESIZE, REASON_CAMERA, REASON_FEEDBACK, REASON_MASK)

FRAME_MIME = "image/jpeg"
#: The type of a frame's inpainting mask (an 8-bit greyscale PNG from the browser).
MASK_MIME = "image/png"

#: Largest frame side accepted from the browser (the traits allow 2048).
MAX_SIDE = 4096


def now_ms() -> float:
    """Milliseconds since the Unix epoch, comparable with the browser's ``Date.now()``."""
    return time.time() * 1000.0


@dataclass(frozen=True)
class Frame:
    """One rasterized canvas from the browser.

    ``data`` is the encoded image (JPEG by default, ``mime`` says), ``width``/``height`` its size
    in pixels, ``seq`` its number (increasing per widget), ``t_input`` when the oldest change it
    contains was drawn and ``received_at`` when the kernel copied it (both ms since the epoch),
    ``reason`` why it was sent (one of :data:`REASONS`; unknown values are kept as sent).
    ``mask``: the inpainting mask the view painted (an encoded image, ``mask_mime``; white:
    repaint, black: keep), or None when the frame carries none. It is not in ``data``: the
    browser shows it over the drawing and sends it beside the frame.
    """

    seq: int
    data: bytes = field(repr=False)
    width: int
    height: int
    mime: str = FRAME_MIME
    t_input: float = 0.0
    reason: str = REASON_STROKE
    received_at: float = 0.0
    mask: bytes | None = field(default=None, repr=False)
    mask_mime: str = MASK_MIME

    @property
    def size(self) -> int:
        """Length of ``data`` in bytes."""
        return len(self.data)


@dataclass(frozen=True)
class Ack:
    """The browser painted (or dropped, when ``dropped``) the result ``rid`` for frame ``seq``."""

    seq: int
    rid: int
    t_paint: float
    dropped: bool = False


@dataclass(frozen=True)
class Hello:
    """A view rendered (first time, after a reload, or to catch up with another view)."""

    view: str


@dataclass(frozen=True)
class Restore:
    """The person clicked result ``rid`` in a view's history strip: use its ``params`` again."""

    rid: int
    params: dict[str, Any]


class ResultMeta(TypedDict):
    """The JSON part of a ``result`` message (and of ``sync.result``)."""

    seq: int
    rid: int
    mime: str
    width: int
    height: int
    timings_ms: dict[str, float] | None
    params: dict[str, Any] | None
    #: The kernel's epoch-ms clock (:func:`now_ms`) at each step of this result, when known:
    #: ``recv`` (frame copied), ``start`` (render began), ``done`` (render ended), ``sent``.
    t_kernel: NotRequired[dict[str, float] | None]


def _get(content: Mapping[str, Any], key: str) -> Any:
    if key not in content:
        raise ProtocolError(f"{content.get('type', 'message')}: missing field {key!r}")
    return content[key]


def _int(content: Mapping[str, Any], key: str, lo: int, hi: int) -> int:
    value = _get(content, key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ProtocolError(
            f"{content.get('type')}.{key}: must be a whole number between {lo} and {hi}, "
            f"got {value!r}")
    return value


def _num(content: Mapping[str, Any], key: str, default: float | None = None) -> float:
    if default is not None and key not in content:
        return default
    value = _get(content, key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"{content.get('type')}.{key}: must be a number, got {value!r}")
    return float(value)


def _check_envelope(content: Any, expected: str) -> Mapping[str, Any]:
    if not isinstance(content, Mapping):
        raise ProtocolError(f"message: must be a JSON object, got {type(content).__name__}")
    if content.get("type") != expected:
        raise ProtocolError(f"message: expected type {expected!r}, got {content.get('type')!r}")
    v = content.get("v")
    if v != PROTOCOL_VERSION:
        raise ProtocolError(
            f"{expected}.v: protocol version must be {PROTOCOL_VERSION}, got {v!r}; "
            "the browser runs a different lcm_widgets version (reload the page)")
    return content


def parse_frame(content: Any, buffers: Sequence[Any] | None,
                received_at: float | None = None) -> Frame:
    """A :class:`Frame` from a ``frame`` message; copies the buffer (``bytes(memoryview)``)."""
    c = _check_envelope(content, MSG_FRAME)
    seq = _int(c, "seq", 0, 2**53)
    width = _int(c, "width", 1, MAX_SIDE)
    height = _int(c, "height", 1, MAX_SIDE)
    mime = c.get("mime", FRAME_MIME)
    if not isinstance(mime, str) or not mime.startswith("image/"):
        raise ProtocolError(f"frame.mime: must be an image type, got {mime!r}")
    reason = c.get("reason", REASON_STROKE)
    if not isinstance(reason, str):
        raise ProtocolError(f"frame.reason: must be a string, got {reason!r}")
    if not buffers:
        raise ProtocolError("frame: must carry the image as one binary buffer, got none")
    try:
        data = bytes(buffers[0])
    except TypeError:
        raise ProtocolError(
            f"frame: buffer must be binary, got {type(buffers[0]).__name__}") from None
    if not data:
        raise ProtocolError("frame: the image buffer is empty")
    mask, mask_mime = None, MASK_MIME
    if c.get("mask") is not None:
        data, mask, mask_mime = _frame_mask(c["mask"], data, buffers)
    return Frame(seq=seq, data=data, width=width, height=height, mime=mime,
                 t_input=_num(c, "t_input", 0.0), reason=reason,
                 received_at=now_ms() if received_at is None else received_at,
                 mask=mask, mask_mime=mask_mime)


def _frame_mask(meta: Any, data: bytes, buffers: Sequence[Any]) -> tuple[bytes, bytes, str]:
    """``(frame bytes, mask bytes, mask mime)`` of a frame that announces a ``mask``: its second
    buffer on the comm; on the direct channel (one payload) the payload's last ``mask.bytes``
    bytes."""
    if not isinstance(meta, Mapping):
        raise ProtocolError(f"frame.mask: must be an object {{mime, width, height, bytes}} or "
                            f"null, got {meta!r}")
    mime = meta.get("mime", MASK_MIME)
    if not isinstance(mime, str) or not mime.startswith("image/"):
        raise ProtocolError(f"frame.mask.mime: must be an image type, got {mime!r}")
    if len(buffers) >= 2:
        try:
            mask = bytes(buffers[1])
        except TypeError:
            raise ProtocolError(f"frame.mask: buffer must be binary, got "
                                f"{type(buffers[1]).__name__}") from None
    else:
        n = _int({**meta, "type": "frame.mask"}, "bytes", 1, max(1, len(data) - 1))
        data, mask = data[:-n], data[-n:]
    if not mask:
        raise ProtocolError("frame.mask: the mask buffer is empty; leave mask out for none")
    return data, mask, mime


def parse_ack(content: Any) -> Ack:
    """An :class:`Ack` from an ``ack`` message (``rid`` and ``dropped`` are optional)."""
    c = _check_envelope(content, MSG_ACK)
    rid = _int(c, "rid", -1, 2**53) if "rid" in c else -1
    return Ack(seq=_int(c, "seq", 0, 2**53), rid=rid, t_paint=_num(c, "t_paint", now_ms()),
               dropped=bool(c.get("dropped", False)))


def parse_hello(content: Any) -> Hello:
    """A :class:`Hello` from a ``hello`` message."""
    c = _check_envelope(content, MSG_HELLO)
    view = c.get("view", "")
    return Hello(view=view if isinstance(view, str) else str(view))


def parse_restore(content: Any) -> Restore:
    """A :class:`Restore` from a ``restore`` message (``params``: a JSON object)."""
    c = _check_envelope(content, MSG_RESTORE)
    params = _get(c, "params")
    if not isinstance(params, Mapping):
        raise ProtocolError(f"restore.params: must be a JSON object, got {params!r}")
    return Restore(rid=_int(c, "rid", -1, 2**53) if "rid" in c else -1, params=dict(params))


def took_message(seq: int, t: float | None = None) -> dict[str, Any]:
    """``took``: the kernel copied frame ``seq``; the browser may send the next one. ``t``: the
    kernel's :func:`now_ms` when it copied it (relates the two clocks; default: now)."""
    return {"type": MSG_TOOK, "v": PROTOCOL_VERSION, "seq": seq,
            "t": now_ms() if t is None else t}


def result_message(meta: ResultMeta) -> dict[str, Any]:
    """``result``: a generated image for frame ``meta['seq']`` (the image is the buffer)."""
    return {"type": MSG_RESULT, "v": PROTOCOL_VERSION, **meta}


def sync_message(*, view: str, seq: int, frame: Frame | None,
                 result: ResultMeta | None) -> dict[str, Any]:
    """``sync``: what a new view needs; buffers are ``[frame.data?, result image?]`` in order."""
    return {
        "type": MSG_SYNC, "v": PROTOCOL_VERSION, "view": view, "seq": seq,
        "has_frame": frame is not None,
        "frame": None if frame is None else {
            "seq": frame.seq, "mime": frame.mime, "width": frame.width, "height": frame.height},
        "has_result": result is not None,
        "result_seq": None if result is None else result["seq"],
        "result": result,
    }


def direct_message(*, view: str, url: str, token: str) -> dict[str, Any]:
    """``direct``: where view ``view`` may reach the kernel's direct channel, and the token to
    show there (sent on the comm only, in answer to ``hello``)."""
    return {"type": MSG_DIRECT, "v": PROTOCOL_VERSION, "view": view, "url": url,
            "token": token}


def clear_canvas_message() -> dict[str, Any]:
    """``clear_canvas``: Python asked to clear the drawing."""
    return {"type": MSG_CLEAR_CANVAS, "v": PROTOCOL_VERSION}


def clear_mask_message() -> dict[str, Any]:
    """``clear_mask``: Python asked to clear the inpainting mask (``sketchpad.clear_mask()``)."""
    return {"type": MSG_CLEAR_MASK, "v": PROTOCOL_VERSION}


def set_background_message(mime: str) -> dict[str, Any]:
    """``set_background``: show the image in the buffer under the drawing."""
    return {"type": MSG_SET_BACKGROUND, "v": PROTOCOL_VERSION, "mime": mime}



def load_frame_message(seq: int, mime: str, width: int, height: int) -> dict[str, Any]:
    """``load_frame``: Python fed the image in the buffer as frame ``seq``
    (``Studio.submit_image``): show it in the canvas, do not send it back."""
    return {"type": MSG_LOAD_FRAME, "v": PROTOCOL_VERSION, "seq": seq, "mime": mime,
            "width": width, "height": height}
