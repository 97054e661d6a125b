"""The Sketchpad: a drawing canvas in a notebook cell that streams frames to Python.

Drawing happens in the browser (``js/``, bundled into ``static/widget.js``); the kernel only sees
rasterized frames (JPEG, ``frame_width`` x ``frame_height``), at most one in flight. Python code
receives them through :meth:`Sketchpad.on_frame` and answers with :meth:`Sketchpad.send_result`,
whose image appears in the widget's output canvas. The protocol is docs/widget-protocol.md.

Threads (docs/architecture.md): comm handlers may run on the kernel's main thread or on a
subshell thread (ipykernel 7 with JupyterLab 4.4+ delivers comm messages on a subshell, so
drawing keeps working while another cell runs), concurrently with a cell. They only copy the
bytes, answer ``took`` and call the registered callbacks (which must return quickly: the
Studio posts the frame to its engine). State is kept under a lock, and
:meth:`Sketchpad.send_result` may be called from any thread.

Example::

    from PIL import ImageOps
    pad = Sketchpad()

    def echo(frame):
        img = ImageOps.invert(frame_to_image(frame))
        pad.send_result(frame.seq, encode_image(img), width=img.width, height=img.height)

    pad.on_frame(echo)
    pad
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..errors import InvalidInput, ProtocolError
from ..protocol import widget as proto
from ..protocol.widget import Ack, Frame, Restore, ResultMeta
from ._direct import DirectServer, Endpoint, origin_of

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["Ack", "Frame", "Restore", "Sketchpad", "frame_to_image"]

log = logging.getLogger(__name__)

_STATIC = Path(__file__).resolve().parent.parent / "static"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
#: Largest side of a background image sent to the browser (larger ones are scaled down).
MAX_BACKGROUND_SIDE = 2048
#: Most result ids kept waiting for a view's ack (far more than any result window).
_UNACKED_RIDS = 64

FrameCallback = Callable[[Frame], Any]
AckCallback = Callable[[Ack], Any]
RestoreCallback = Callable[[Restore], Any]


def frame_to_image(frame: Frame) -> Image.Image:
    """Decode a :class:`Frame` into an RGB PIL image."""
    from ..images import load_image

    return load_image(frame.data, field="frame")


def _int_in(name: str, value: Any, lo: int, hi: int, multiple: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi \
            or value % multiple:
        what = f"a multiple of {multiple} between" if multiple > 1 else "a whole number between"
        raise traitlets.TraitError(f"{name}: must be {what} {lo} and {hi}, got {value!r}")
    return value


class Sketchpad(anywidget.AnyWidget):  # type: ignore[misc]
    """A canvas to draw on (brush, pen pressure, eraser, undo/redo, background image) whose
    frames stream to Python, and an output canvas that shows the images Python sends back.

    Register :meth:`on_frame` to receive frames and answer with :meth:`send_result`.
    """

    _esm = _STATIC / "widget.js"

    frame_width = traitlets.Int(512, help="Frame width in pixels (multiple of 8, 64..2048)."
                                ).tag(sync=True)
    frame_height = traitlets.Int(512, help="Frame height in pixels (multiple of 8, 64..2048)."
                                 ).tag(sync=True)
    jpeg_quality = traitlets.Float(proto.DEFAULT_JPEG_QUALITY, help="JPEG quality of frames (0.1..1.0)."
                                   ).tag(sync=True)
    brush_size = traitlets.Int(8, help="Brush size in frame pixels (1..200).").tag(sync=True)
    brush_color = traitlets.Unicode("#000000", help="Brush colour, '#rrggbb'.").tag(sync=True)
    tool = traitlets.Unicode("brush", help="'brush' or 'eraser'.").tag(sync=True)
    display_size = traitlets.Int(384, help="Width of each canvas in CSS pixels (64..4096)."
                                 ).tag(sync=True)
    show_output = traitlets.Bool(True, help="Show the output canvas next to the drawing."
                                 ).tag(sync=True)
    status = traitlets.Unicode("", help="Status line shown under the canvases.").tag(sync=True)
    stats = traitlets.Dict(help="Figures shown in the status line, e.g. {'fps': 12.5}."
                           ).tag(sync=True)
    error = traitlets.Unicode("", help="Last error in plain words; empty when fine."
                              ).tag(sync=True)
    activity = traitlets.Unicode("", help="What the kernel is doing now, in plain words "
                                 "('generating'); empty when idle.").tag(sync=True)
    stale = traitlets.Unicode("", help="Why the output no longer matches the drawing or the "
                              "params, in plain words; empty when it does.").tag(sync=True)
    paused = traitlets.Bool(False, help="Live mode paused: the views send no frames until "
                            "resumed (the toolbar's pause button sets it).").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        self._lock = threading.RLock()
        self._frame: Frame | None = None
        self._result: tuple[ResultMeta, bytes] | None = None
        self._seq = 0
        self._rid = 0
        #: ids of results sent and not acked by any view yet, oldest first (acks may come out
        #: of order: with two results out, the older one can be dropped after the newer one
        #: was painted); bounded, so results no view acks are forgotten
        self._unacked_rids: dict[int, None] = {}
        self._background: tuple[bytes, str] | None = None
        self._frame_callbacks: list[FrameCallback] = []
        self._ack_callbacks: list[AckCallback] = []
        self._restore_callbacks: list[RestoreCallback] = []
        # views that said hello on the comm (and have no direct connection we know of)
        self._comm_views: set[str] = set()
        self._direct: Endpoint | None = None
        self._direct_tried = False
        self._direct_lock = threading.Lock()
        self._handlers: dict[str, Callable[[Any, Sequence[Any]], None]] = {
            proto.MSG_FRAME: self._on_frame_msg,
            proto.MSG_ACK: self._on_ack_msg,
            proto.MSG_HELLO: self._on_hello_msg,
            proto.MSG_RESTORE: self._on_restore_msg,
        }
        super().__init__(**kwargs)
        self.on_msg(self._dispatch)

    # ---- validation ---------------------------------------------------------------------

    @traitlets.validate("frame_width", "frame_height")
    def _valid_frame_side(self, proposal: Any) -> int:
        return _int_in(proposal["trait"].name, proposal["value"], 64, 2048, multiple=8)

    @traitlets.validate("jpeg_quality")
    def _valid_quality(self, proposal: Any) -> float:
        v = proposal["value"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.1 <= v <= 1.0:
            raise traitlets.TraitError(f"jpeg_quality: must be between 0.1 and 1.0, got {v!r}")
        return float(v)

    @traitlets.validate("brush_size")
    def _valid_brush_size(self, proposal: Any) -> int:
        return _int_in("brush_size", proposal["value"], 1, 200)

    @traitlets.validate("display_size")
    def _valid_display_size(self, proposal: Any) -> int:
        return _int_in("display_size", proposal["value"], 64, 4096)

    @traitlets.validate("brush_color")
    def _valid_color(self, proposal: Any) -> str:
        v = proposal["value"]
        if not isinstance(v, str) or not _HEX.match(v):
            raise traitlets.TraitError(f"brush_color: must be a colour like '#1a2b3c', got {v!r}")
        return v.lower()

    @traitlets.validate("tool")
    def _valid_tool(self, proposal: Any) -> str:
        v = proposal["value"]
        if v not in ("brush", "eraser"):
            raise traitlets.TraitError(f"tool: must be 'brush' or 'eraser', got {v!r}")
        return str(v)

    # ---- callbacks ----------------------------------------------------------------------

    def on_frame(self, callback: FrameCallback, remove: bool = False) -> None:
        """Call ``callback(frame)`` with every :class:`Frame` the browser sends.

        It runs on the thread that handles comm messages (the kernel's main thread or a
        subshell), after ``took`` was answered; return quickly (hand the frame to a worker).
        Exceptions are logged, never raised into the kernel. ``remove=True`` unregisters.
        """
        with self._lock:
            if remove:
                self._frame_callbacks = [c for c in self._frame_callbacks if c != callback]
            else:
                self._frame_callbacks = [*self._frame_callbacks, callback]

    def on_ack(self, callback: AckCallback, remove: bool = False) -> None:
        """Call ``callback(ack)`` with an :class:`Ack` (``seq``, ``rid``, ``t_paint``,
        ``dropped``) when the browser has painted a result, or dropped it (stale, superseded
        while decoding, undecodable: ``dropped`` is True): the credit to send the next one.
        Called once per result even with several views (later acks for the same ``rid`` are
        ignored). ``t_paint`` is ms since the epoch; ``rid`` is the result id
        :meth:`send_result` sent (-1 from a browser that sent none). ``remove=True``
        unregisters.
        """
        with self._lock:
            if remove:
                self._ack_callbacks = [c for c in self._ack_callbacks if c != callback]
            else:
                self._ack_callbacks = [*self._ack_callbacks, callback]

    def on_restore(self, callback: RestoreCallback, remove: bool = False) -> None:
        """Call ``callback(restore)`` when the person clicks a result in a view's history
        strip: a :class:`Restore` with the result's ``rid`` and the ``params`` it was made with
        (as :meth:`send_result` sent them). ``remove=True`` unregisters."""
        with self._lock:
            if remove:
                self._restore_callbacks = [c for c in self._restore_callbacks if c != callback]
            else:
                self._restore_callbacks = [*self._restore_callbacks, callback]

    # ---- state --------------------------------------------------------------------------

    @property
    def last_frame(self) -> Frame | None:
        """The newest :class:`Frame` received, or None."""
        with self._lock:
            return self._frame

    @property
    def frame(self) -> bytes | None:
        """The newest frame's encoded bytes (JPEG), or None before the first stroke."""
        f = self.last_frame
        return None if f is None else f.data

    def frame_image(self) -> Image.Image | None:
        """The newest frame as an RGB PIL image, or None."""
        f = self.last_frame
        return None if f is None else frame_to_image(f)

    @property
    def mask(self) -> Image.Image | None:
        """The inpainting mask the newest frame carried, as a greyscale (``L``) PIL image
        (255: repaint, 0: keep), or None when it carried none (nothing painted with the mask
        brush, or the mask was cleared). A decoded copy: changing it changes nothing; paint
        the mask in the view (docs/studio.md, "The mask brush")."""
        f = self.last_frame
        if f is None or f.mask is None:
            return None
        from ..images import load_image

        return load_image(f.mask, field="mask_url", allow_files=False).convert("L")

    def clear_mask(self) -> None:
        """Clear the inpainting mask in every view (undoable there); each view sends a frame
        without it, so the next requests carry no ``mask_url``. :attr:`mask` is None at once."""
        with self._lock:
            if self._frame is not None and self._frame.mask is not None:
                self._frame = dataclasses.replace(self._frame, mask=None)
            self.send(proto.clear_mask_message())

    # ---- sending ------------------------------------------------------------------------

    def send_result(self, seq: int, data: bytes | bytearray | memoryview, *,
                    rid: int | None = None, mime: str = "image/jpeg", width: int | None = None,
                    height: int | None = None, timings_ms: Mapping[str, float] | None = None,
                    params: Mapping[str, Any] | None = None,
                    t_kernel: Mapping[str, float] | None = None) -> int:
        """Show ``data`` (an encoded image) in the output canvas as the answer to frame ``seq``.

        Thread-safe. ``rid`` is the result's id, the one the browser's ack carries back: pass
        your own (the Studio passes its engine's, so there is one id space end to end; it must
        be larger than any sent before) or leave it out for the next number. ``width`` and
        ``height`` default to the image's own size (read from its header). The newest result
        is kept, so a view opened later shows it. ``t_kernel``: epoch-ms times of the kernel's
        steps (``recv``, ``start``, ``done``; ``sent`` is added here), for the per-stage
        breakdown of ``lcm-widgets bench-live``. Returns the result id. Does not pace: keep
        few results out unacked (:meth:`on_ack` says when one is done; the Studio's engine
        keeps at most its ``result_window``, 2).

        Raises :class:`~lcm_widgets.errors.InvalidInput` for a bad ``seq`` or ``rid``, empty
        ``data`` or a ``mime`` that is not an image type.
        """
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInput(f"seq: must be a whole number >= 0, got {seq!r}", field="seq")
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int) or rid < 1):
            raise InvalidInput(f"rid: must be a whole number >= 1, got {rid!r}", field="rid")
        payload = bytes(data)
        if not payload:
            raise InvalidInput("data: must be an encoded image, got 0 bytes", field="data")
        if not isinstance(mime, str) or not mime.startswith("image/"):
            raise InvalidInput(f"mime: must be an image type, got {mime!r}", field="mime")
        if width is None or height is None:
            width, height = _image_size(payload, width, height)
        with self._lock:
            if rid is None:
                rid = self._rid + 1
            elif rid <= self._rid:
                raise InvalidInput(f"rid: must be larger than the last result id sent "
                                   f"({self._rid}), got {rid}", field="rid")
            self._rid = rid
            self._unacked_rids[rid] = None
            while len(self._unacked_rids) > _UNACKED_RIDS:
                del self._unacked_rids[next(iter(self._unacked_rids))]
            meta: ResultMeta = {
                "seq": seq, "rid": rid, "mime": mime, "width": int(width),
                "height": int(height),
                "timings_ms": None if timings_ms is None else {
                    str(k): float(v) for k, v in timings_ms.items()},
                "params": None if params is None else dict(params),
            }
            if t_kernel is not None:
                meta["t_kernel"] = {**{str(k): float(v) for k, v in t_kernel.items()},
                                    "sent": proto.now_ms()}
            if self._result is None or seq >= self._result[0]["seq"]:
                self._result = (meta, payload)
            self._emit(proto.result_message(meta), [payload])
            return rid

    def load_frame(self, data: bytes, *, width: int, height: int,
                   mime: str = "image/jpeg") -> Frame:
        """Make ``data`` (an encoded image of the frame size) the newest frame, as if it had
        been drawn, and show it in every view's canvas (undoable there); the views do not send
        it back. Returns the :class:`Frame` (its ``seq`` is above every seq seen). The Studio's
        ``submit_image`` calls it; :meth:`on_frame` callbacks are not called."""
        payload = bytes(data)
        if not payload:
            raise InvalidInput("data: must be an encoded image, got 0 bytes", field="data")
        with self._lock:
            self._seq += 1
            frame = Frame(seq=self._seq, data=payload, width=int(width), height=int(height),
                          mime=mime, reason="api", received_at=proto.now_ms())
            self._frame = frame
            self._background = None
            self.send(proto.load_frame_message(frame.seq, mime, frame.width, frame.height),
                      [payload])
        return frame

    def clear(self) -> None:
        """Clear the drawing (ink and background) in every view; undoable there."""
        with self._lock:
            self._frame = None
            self._background = None
            self.send(proto.clear_canvas_message())

    def set_background(self, image: Any) -> None:
        """Show ``image`` under the drawing (cover-fitted to the frame) in every view.

        ``image``: encoded bytes, a PIL image, a numpy array (H, W[, 3|4]), or a file path;
        decoded with :func:`lcm_widgets.images.load_image` (raises
        :class:`~lcm_widgets.errors.InvalidImage`). Sides over 2048 px are scaled down. Views
        opened later get it too, until the browser sends a frame that contains it.
        """
        from ..images import encode_image, load_image

        img = load_image(image, field="image")
        if max(img.size) > MAX_BACKGROUND_SIDE:
            img.thumbnail((MAX_BACKGROUND_SIDE, MAX_BACKGROUND_SIDE))
        data = encode_image(img, "jpeg", quality=90)
        with self._lock:
            self._background = (data, "image/jpeg")
            self.send(proto.set_background_message("image/jpeg"), [data])

    # ---- transports ---------------------------------------------------------------------

    @property
    def transports(self) -> dict[str, int]:
        """Views by transport: ``{"direct": n, "comm": m}`` (docs/widget-protocol.md)."""
        with self._lock:
            direct = self._direct.views if self._direct is not None else set()
            return {"direct": len(direct), "comm": len(self._comm_views - direct)}

    @property
    def direct_refused(self) -> int:
        """Direct-channel connections refused (wrong Origin, missing or wrong token)."""
        return self._direct.refused if self._direct is not None else 0

    def _emit(self, msg: dict[str, Any], buffers: Sequence[bytes] = ()) -> None:
        """Send a frame-path message (``took``, ``result``) to every view once: on the direct
        channel to the views connected there, on the comm when any view is not."""
        ep = self._direct
        direct = ep.views if ep is not None else set()
        if ep is not None and direct:
            ep.send(msg, buffers[0] if buffers else b"")
        if not direct or self._comm_views - direct:
            self.send(msg, list(buffers))

    def _endpoint(self) -> Endpoint | None:
        """This widget's direct-channel endpoint, made on first use (None: comm only)."""
        with self._direct_lock:  # never taken on the library loop
            if not self._direct_tried:
                self._direct_tried = True
                server = DirectServer.get()
                if server is not None:
                    self._direct = server.endpoint(self._on_direct_msg, self._on_direct_views)
            return self._direct

    def _on_direct_msg(self, header: dict[str, Any], payload: bytes) -> None:
        # On the library loop. Only the frame path travels here; a frame's mask, when it has
        # one, is the payload's tail (parse_frame splits it off).
        if header.get("type") in (proto.MSG_FRAME, proto.MSG_ACK):
            self._dispatch(self, header, [payload] if payload else [])

    def _on_direct_views(self) -> None:
        # A view connected or lost its connection: a lost one is no comm view either until it
        # says hello there again (its fallback does).
        with self._lock:
            if self._direct is not None:
                self._comm_views -= self._direct.views

    def close(self) -> None:
        """Close the widget (and its direct-channel connections)."""
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        super().close()

    # ---- receiving ----------------------------------------------------------------------

    def _dispatch(self, _widget: Any, content: Any, buffers: Sequence[Any] | None) -> None:
        """The one on_msg handler: route by ``type``; never raise into the kernel."""
        kind = content.get("type") if isinstance(content, Mapping) else None
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            if not (isinstance(content, Mapping) and "kind" in content):  # anywidget commands
                log.warning("Sketchpad: ignoring a message of unknown type %r", kind)
            return
        try:
            handler(content, buffers or [])
        except ProtocolError as exc:
            log.warning("Sketchpad: ignoring a malformed message: %s", exc)
        except Exception:
            log.exception("Sketchpad: error while handling a %r message", kind)

    def _on_frame_msg(self, content: Any, buffers: Sequence[Any]) -> None:
        frame = proto.parse_frame(content, buffers)
        with self._lock:
            self._frame = frame
            self._seq = max(self._seq, frame.seq)
            if frame.reason == proto.REASON_BACKGROUND:
                self._background = None
            callbacks = self._frame_callbacks
            self._emit(proto.took_message(frame.seq, frame.received_at))
        for cb in callbacks:
            _call(cb, frame)

    def _on_ack_msg(self, content: Any, _buffers: Sequence[Any]) -> None:
        ack = proto.parse_ack(content)
        with self._lock:
            if ack.rid >= 0:
                if ack.rid not in self._unacked_rids:
                    return  # another view acked it already, or it is not ours (or too old)
                del self._unacked_rids[ack.rid]
            callbacks = self._ack_callbacks
        for cb in callbacks:
            _call(cb, ack)

    def _on_restore_msg(self, content: Any, _buffers: Sequence[Any]) -> None:
        restore = proto.parse_restore(content)
        with self._lock:
            callbacks = self._restore_callbacks
        for cb in callbacks:
            _call(cb, restore)

    def _on_hello_msg(self, content: Any, _buffers: Sequence[Any]) -> None:
        hello = proto.parse_hello(content)
        origin = origin_of(content)
        # outside the lock: the first call starts the server on the library loop, which may
        # be waiting for this lock to send a result
        ep = self._endpoint() if origin is not None else None
        with self._lock:
            self._comm_views.add(hello.view)
            if ep is not None and origin is not None:
                ep.allow_origin(origin)
                self.send(proto.direct_message(view=hello.view, url=ep.url, token=ep.token))
            # While a background set from Python waits for the browser, the newest frame
            # predates it and would cover it: send the background instead.
            frame = self._frame if self._background is None else None
            result = self._result
            buffers = [b for b in (frame and frame.data, result and result[1]) if b]
            msg = proto.sync_message(view=hello.view, seq=self._seq, frame=frame,
                                     result=result[0] if result else None)
            self.send(msg, buffers)
            if self._background is not None:
                data, mime = self._background
                self.send(proto.set_background_message(mime), [data])


def _call(cb: Callable[..., Any], *args: Any) -> None:
    try:
        cb(*args)
    except Exception:
        log.exception("Sketchpad: callback %r raised", cb)


def _image_size(data: bytes, width: int | None, height: int | None) -> tuple[int, int]:
    """``(width, height)`` from the arguments, else from the image header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInput("data: could not read the image size; pass width= and height=",
                           field="data") from exc
    return (width if width is not None else w), (height if height is not None else h)
