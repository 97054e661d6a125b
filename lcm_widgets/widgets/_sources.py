"""Frame sources other than the Sketchpad's own canvas, and image encoding for frames.

* :class:`CanvasSource` watches an ``ipycanvas.Canvas`` created with ``sync_image_data=True``:
  every change of its ``image_data`` (PNG bytes) becomes a frame. The observer only copies the
  bytes; the PNG → JPEG conversion happens in the Studio's worker thread (:func:`to_jpeg`),
  keeping PNG work off the comm thread.
* :func:`image_to_jpeg` turns what a user passes to ``Studio.submit_image`` (a PIL image, a
  NumPy array, encoded bytes or a path) into a JPEG frame of the requested size.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

from ..errors import InvalidImage

__all__ = ["CanvasSource", "ImageView", "image_to_jpeg", "to_jpeg"]

JPEG_QUALITY = 90


def _encode(img: Any, size: tuple[int, int] | None, quality: int) -> bytes:
    from PIL import Image

    if img.mode in ("RGBA", "LA", "P"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))  # transparent → white paper
        bg.paste(rgba, mask=rgba.getchannel("A"))
        img = bg
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if size is not None and img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def to_jpeg(data: bytes, mime: str, size: tuple[int, int] | None = None,
            quality: int = JPEG_QUALITY) -> bytes:
    """``data`` as JPEG (unchanged when it already is and no resize is asked)."""
    if mime == "image/jpeg" and size is None:
        return data
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:
        raise InvalidImage(f"frame: could not decode the {mime} image ({exc})",
                           field="frame") from exc
    return _encode(img, size, quality)


def image_to_jpeg(image: Any, size: tuple[int, int], quality: int = JPEG_QUALITY) -> bytes:
    """A PIL image, an HxWx{3,4} uint8 array, encoded image bytes or a file path → JPEG bytes
    of ``size`` (width, height)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return _encode(image, size, quality)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return to_jpeg(bytes(image), "image/unknown", size, quality)
    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as img:
                img.load()
                return _encode(img, size, quality)
        except OSError as exc:
            raise InvalidImage(f"image: could not open {os.fspath(image)!r} ({exc})",
                               field="image") from exc
    shape = getattr(image, "shape", None)
    if shape is not None:
        if len(shape) != 3 or shape[2] not in (3, 4) or str(getattr(image, "dtype", "")) != "uint8":
            raise InvalidImage("image: an array must be height x width x 3 or 4 of uint8, got "
                               f"shape {tuple(shape)} dtype {getattr(image, 'dtype', '?')}",
                               field="image")
        return _encode(Image.fromarray(image), size, quality)
    raise InvalidImage("image: expected a PIL image, a NumPy array, image bytes or a path, got "
                       f"{type(image).__name__}", field="image")


class CanvasSource:
    """Feeds an ``ipycanvas.Canvas`` (``sync_image_data=True``) into a callback as PNG frames.

    ``on_png(data, width, height)`` is called on every ``image_data`` change with copied bytes.
    """

    def __init__(self, canvas: Any, on_png: Callable[[bytes, int, int], None]) -> None:
        if not hasattr(canvas, "image_data") or not hasattr(canvas, "sync_image_data"):
            raise TypeError("source: expected an ipycanvas.Canvas, got "
                            f"{type(canvas).__name__}")
        if not canvas.sync_image_data:
            raise ValueError("source: the ipycanvas.Canvas needs sync_image_data=True, got "
                             "False; create it with Canvas(width=512, height=512, "
                             "sync_image_data=True)")
        self.canvas = canvas
        self._on_png = on_png
        canvas.observe(self._changed, names="image_data")

    @property
    def size(self) -> tuple[int, int]:
        return int(self.canvas.width), int(self.canvas.height)

    def _changed(self, change: dict[str, Any]) -> None:
        data = change["new"]
        if data:
            self._on_png(bytes(data), *self.size)

    def close(self) -> None:
        self.canvas.unobserve(self._changed, names="image_data")


class ImageView:
    """The output side for a Studio fed by an ipycanvas: an ``ipywidgets.Image`` and an HTML
    status line, with the few Sketchpad members the Studio uses (``send_result``, ``status``,
    ``stats``, ``error``, ``frame_width``/``frame_height``). Nothing acks: a result counts as
    shown once set (the source's own rate paces it)."""

    def __init__(self, width: int, height: int, display_size: int = 384) -> None:
        import ipywidgets as W

        self.frame_width, self.frame_height = width, height
        self.image = W.Image(format="jpeg", layout=W.Layout(width=f"{display_size}px"))
        self.image.add_class("lcm-output-image")
        self.line = W.HTML(value="")
        self.line.add_class("lcm-status")
        self.box = W.VBox([self.image, self.line])
        self.status, self.error = "", ""
        self.stats: dict[str, Any] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("status", "stats", "error") and "line" in self.__dict__:
            self._render()

    def send_result(self, seq: int, data: bytes, *, mime: str = "image/jpeg",
                    **_meta: Any) -> None:
        self.image.format = mime.split("/")[-1]
        self.image.value = data
        return None

    def _render(self) -> None:
        import html

        status, stats = getattr(self, "status", ""), getattr(self, "stats", {})
        error = getattr(self, "error", "")
        parts = [html.escape(status)] if status else []
        parts += [html.escape(f"{k.replace('_', ' ')} {v}") for k, v in stats.items()]
        err = (f' <span class="lcm-error" style="color:#b00020">{html.escape(error)}'
               "</span>") if error else ""
        self.line.value = " · ".join(parts) + err

    def close(self) -> None:
        self.image.close()
        self.line.close()
        self.box.close()
