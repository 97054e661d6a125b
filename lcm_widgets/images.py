"""Decode and encode images safely: data URIs, bytes, files, PIL images and numpy arrays.

Everything that enters the library as an image goes through :func:`load_image`, which returns
an RGB :class:`PIL.Image.Image` or raises :class:`~lcm_widgets.errors.InvalidImage` naming the
field, the limit and the value. The rules:

* **Sources.** ``bytes``/``bytearray``/``memoryview`` (encoded image data); a ``str`` starting
  with ``data:`` (a data URI, RFC 2397, base64 or percent-encoded; ASCII whitespace inside the
  base64 is ignored, because some tools wrap it at 76 characters); another ``str`` or an
  ``os.PathLike`` (a file path, unless ``allow_files=False``); ``http(s)://`` and other URLs are
  refused: fetching is the caller's job; a PIL image; a numpy array (below).
* **Formats.** Only :data:`FORMATS` (JPEG, PNG, WebP, BMP, GIF) are decoded. The format is
  recognised from the data's first bytes, never from a file name or a media type, and only
  that one Pillow plugin reads it (no other plugin ever sees untrusted data). Animated GIF, PNG
  and WebP give their first frame. A data URI must declare an ``image/*`` type,
  ``application/octet-stream`` or none; the declared type need not match the data.
* **Limits.** Encoded data over ``max_bytes`` (:data:`MAX_BYTES`, 10 MiB) is refused before it
  is decoded (for files, before it is read). Images over ``max_pixels`` (:data:`MAX_PIXELS`,
  4096x4096) are refused from their header, before any pixel is decoded or allocated, which is
  what stops decompression bombs. Pillow's own ``DecompressionBombError`` (and the
  ``DecompressionBombWarning``, where warnings are errors) become :class:`InvalidImage` too.
  Corrupt or truncated data is decoded in full (``load()``) so it fails here, not later.
* **Arrays.** Shapes ``(H, W)`` (grey), ``(H, W, 1)``, ``(H, W, 3)`` (RGB) and ``(H, W, 4)``
  (RGBA). dtype ``uint8`` (0-255), or any float dtype holding values in [0, 1] (scaled by 255
  and rounded); other dtypes are refused rather than guessed at (``uint16`` could be 0-255 or
  0-65535).
* **Colour.** Transparency is composited onto white (a sketch's empty canvas is white, and
  dropping alpha would turn transparent pixels black). 16-bit greyscale (``I;16``, ``I``) is
  scaled from 0-65535; ``F`` images are read as 0-1. Everything else uses Pillow's conversion.
  Inpainting masks (:func:`load_mask`) come out as one grey channel instead (its rules).

Encoding (:func:`encode_image`) writes JPEG (``quality``, default 85; through
:mod:`lcm_widgets._jpeg`, libjpeg-turbo via simplejpeg, when it is installed) or PNG
(``compress_level=1``: PNG is slow, about 64 ms for 512x512, so keep it off the hot path).

numpy and PIL are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import base64
import importlib
import io
import os
import re
import sys
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import InvalidImage, InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    from typing import TypeAlias

    import numpy as np
    from PIL import Image

    #: What :func:`load_image` accepts.
    ImageSource: TypeAlias = (
        "Image.Image | np.ndarray[Any, Any] | bytes | bytearray | memoryview | str "
        "| os.PathLike[str]"
    )

__all__ = [
    "FORMATS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "decode_data_uri",
    "encode_image",
    "image_data_uri_bytes",
    "image_dims",
    "image_header",
    "image_mime",
    "image_to_array",
    "load_image",
    "load_mask",
    "to_data_uri",
]

#: Default limit on encoded image data, in bytes (10 MiB).
MAX_BYTES = 10 * 2**20
#: Default limit on ``width * height`` (4096x4096, about 16.8 megapixels).
MAX_PIXELS = 4096 * 4096
#: The formats :func:`load_image` decodes (Pillow's names).
FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "GIF")

# The Pillow plugin class that reads each allowed format.
_PLUGINS = {
    "JPEG": ("PIL.JpegImagePlugin", "JpegImageFile"),
    "PNG": ("PIL.PngImagePlugin", "PngImageFile"),
    "WEBP": ("PIL.WebPImagePlugin", "WebPImageFile"),
    "BMP": ("PIL.BmpImagePlugin", "BmpImageFile"),
    "GIF": ("PIL.GifImagePlugin", "GifImageFile"),
}
# Formats we recognise only to name them in the error.
_OTHER_MAGIC = {b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"%PDF": "PDF", b"8BPS": "PSD"}
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_MIME = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+-]+")
_ENCODE_FORMATS = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG"}


def load_image(src: ImageSource, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
               field: str = "image_url", allow_files: bool = True) -> Image.Image:
    """Decode ``src`` into a new RGB image, enforcing the size, pixel and format limits.

    ``field`` names the request field in error messages. Pass ``allow_files=False`` for
    values that came over the network (for example ``Input.image_url`` in a server), so that
    a request cannot make the process read its own files.

    Raises :class:`~lcm_widgets.errors.InvalidImage` for anything it cannot or will not decode.
    """
    return _to_rgb(_load(src, max_bytes, max_pixels, field, allow_files))


def load_mask(src: ImageSource, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
              field: str = "mask_url", allow_files: bool = True) -> Image.Image:
    """Decode an inpainting mask into a new one-channel (``L``) image: 255 repaints, 0 keeps.

    The same sources, formats and limits as :func:`load_image` (decompression bombs refused
    from the header). The channel is chosen simply:

    * no transparency, or none used (every pixel opaque): the grey value (Pillow's ``L``
      conversion, ITU-R 601 luma), so white is repaint and black is keep;
    * transparency and every visible pixel (alpha > 0) of one colour (a brush layer on a
      transparent canvas, whatever its colour): the alpha channel;
    * transparency and several colours: composited onto black, then grey (transparent keeps).
    """
    return _to_mask(_load(src, max_bytes, max_pixels, field, allow_files))


def _load(src: ImageSource, max_bytes: int, max_pixels: int, field: str,
          allow_files: bool) -> Image.Image:
    """The decoded image of any accepted source, in its own mode (rules in the module
    docstring)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return _decode(_check_bytes(bytes(src), max_bytes, field), max_pixels, field)
    if isinstance(src, str) and src.lstrip()[:5].lower() == "data:":
        return _decode(image_data_uri_bytes(src, max_bytes=max_bytes, field=field), max_pixels,
                       field)
    if isinstance(src, str) and _URL.match(src.strip()):
        raise InvalidImage(f"{field}: URLs are not fetched by lcm_widgets; download the image "
                           f"and pass its bytes, got {_preview(src)}", field=field)
    if isinstance(src, (str, os.PathLike)):
        if not allow_files:
            raise InvalidImage(f"{field}: must be a data: URI or bytes, got {_preview(src)}",
                               field=field)
        return _decode(_read_file(src, max_bytes, field), max_pixels, field)
    from PIL import Image

    if isinstance(src, Image.Image):
        _check_pixels(src.size, max_pixels, field)
        try:
            src.load()
        except Exception as exc:
            raise InvalidImage(f"{field}: could not decode the image ({exc})",
                               field=field) from exc
        return src
    np = sys.modules.get("numpy")  # an ndarray means numpy is imported already
    if np is not None and isinstance(src, np.ndarray):
        return _array_to_image(src, max_pixels, field)
    raise InvalidImage(f"{field}: expected image bytes, a data: URI, a file path, a PIL image "
                       f"or a numpy array, got {type(src).__name__}", field=field)


def decode_data_uri(uri: str, *, max_bytes: int | None = None, field: str = "image_url"
                    ) -> tuple[str, bytes]:
    """Split a ``data:`` URI into its media type (lower case, no parameters) and its bytes.

    The media type is ``""`` when the URI declares none. With ``max_bytes``, data over the
    limit is refused before it is decoded. Raises :class:`~lcm_widgets.errors.InvalidImage`.
    """
    text = uri.strip()
    if text[:5].lower() != "data:":
        raise InvalidImage(f"{field}: not a data URI (expected 'data:<type>;base64,<data>'), "
                           f"got {_preview(text)}", field=field)
    header, comma, payload = text[5:].partition(",")
    if not comma:
        raise InvalidImage(f"{field}: data URI has no ',' before its data, got "
                           f"{_preview(text)}", field=field)
    params = [p.strip().lower() for p in header.split(";")]
    mime = params[0]
    if params[-1] == "base64" and len(params) > 1:
        payload = "".join(payload.split())
        if max_bytes is not None:
            # The decoded size, known from the text's length, so nothing big is allocated.
            size = len(payload) * 3 // 4 - payload[-2:].count("=")
            _check_bytes_size(size, max_bytes, field)
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError as exc:  # binascii.Error, or non-ASCII text
            raise InvalidImage(f"{field}: not valid base64 in data URI ({exc})",
                               field=field) from exc
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if max_bytes is not None:
        _check_bytes(data, max_bytes, field)
    return mime, data


def image_data_uri_bytes(uri: str, *, max_bytes: int | None = MAX_BYTES,
                         field: str = "image_url") -> bytes:
    """The bytes of an image ``data:`` URI (:func:`decode_data_uri`), whose declared media
    type must be ``image/*``, ``application/octet-stream`` or none (the bytes' own format is
    checked when they are read). Raises :class:`~lcm_widgets.errors.InvalidImage`."""
    mime, data = decode_data_uri(uri, max_bytes=max_bytes, field=field)
    if mime and not mime.startswith("image/") and mime != "application/octet-stream":
        raise InvalidImage(f"{field}: data URI has media type {mime!r}, expected an "
                           "image/* type", field=field)
    return data


def image_header(data: bytes | bytearray | memoryview, *, formats: Sequence[str] = FORMATS,
                 max_side: int | None = None, max_pixels: int | None = MAX_PIXELS,
                 field: str = "image_url") -> tuple[str, int, int]:
    """``(format, width, height)`` of encoded image ``data``, read from its header only.

    The format is recognised from the magic bytes and must be one of ``formats`` (a subset of
    :data:`FORMATS`) **before** Pillow sees the data; then only that format's plugin opens it
    (``Image.open(..., formats=[fmt])``), so no other plugin ever parses untrusted bytes.
    ``max_side`` bounds each side and ``max_pixels`` the area, from the header, before any
    pixel is decoded. Raises :class:`~lcm_widgets.errors.InvalidImage` naming ``field``, the
    limit and the value.
    """
    data = bytes(data)
    fmt = _sniff(data)
    if fmt is None or fmt not in formats:
        other = fmt or _other_format(data)
        what = (f"{other} images are not accepted" if other
                else "not an image in a recognised format")
        raise InvalidImage(f"{field}: {what} (data starts with {data[:8]!r}); allowed formats "
                           f"are {', '.join(formats)}", field=field)
    from PIL import Image

    size: tuple[int, int] | None = _webp_size(data) if fmt == "WEBP" else None
    if fmt == "WEBP" and size is None:
        raise InvalidImage(f"{field}: not a valid WEBP image (no size in its header)",
                           field=field)
    if size is None:
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:  # the header only
                size = (int(img.size[0]), int(img.size[1]))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidImage(f"{field}: image is too large to decode safely ({exc})",
                               field=field) from exc
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error
            raise InvalidImage(f"{field}: could not read the {fmt} image header "
                               f"({len(data)} bytes): {exc}", field=field) from exc
    w, h = size
    if (max_side is not None and max(w, h) > max_side) or (
            max_pixels is not None and w * h > max_pixels):
        side = f"{max_side} pixels per side and " if max_side is not None else ""
        raise InvalidImage(f"{field}: image must be at most {side}{max_pixels} pixels in all, "
                           f"got {w}x{h}", field=field)
    return fmt, w, h


def to_data_uri(data: bytes | bytearray | memoryview, mime: str = "image/jpeg") -> str:
    """``data:<mime>;base64,<data>``, the form fal's ``sync_mode`` returns."""
    if not _MIME.fullmatch(mime):
        raise InvalidInput(f"mime: must look like 'image/jpeg', got {mime!r}", field="mime")
    return f"data:{mime};base64," + base64.b64encode(bytes(data)).decode("ascii")


def encode_image(img: Image.Image | np.ndarray[Any, Any], format: str = "jpeg",
                 quality: int = 85) -> bytes:
    """Encode a PIL image or an array (same rules as :func:`load_image`) as JPEG or PNG.

    JPEG has no alpha, so transparency is composited onto white. PNG keeps ``RGB``, ``RGBA``,
    ``L`` and ``LA`` images as they are and writes the rest as RGB, with ``compress_level=1``.
    """
    fmt = _ENCODE_FORMATS.get(format.lower()) if isinstance(format, str) else None
    if fmt is None:
        raise InvalidInput(f"format: must be one of 'jpeg' or 'png', got {format!r}",
                           field="format")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise InvalidInput(f"quality: must be a whole number between 1 and 100, got "
                           f"{quality!r}", field="quality")
    from PIL import Image

    if isinstance(img, Image.Image):
        pil = img
    else:
        np = sys.modules.get("numpy")
        if np is None or not isinstance(img, np.ndarray):
            raise InvalidImage(f"image: expected a PIL image or a numpy array, got "
                               f"{type(img).__name__}", field="image")
        pil = _array_to_image(img, None, "image")
    if fmt == "JPEG" or pil.mode not in {"RGB", "RGBA", "L", "LA"}:
        pil = _to_rgb(pil)
    buf = io.BytesIO()
    if fmt == "JPEG":
        from numpy import asarray

        from . import _jpeg

        data = _jpeg.encode_rgb(asarray(pil), quality)
        if data is not None:
            return data
        pil.save(buf, "JPEG", quality=quality)
    else:
        pil.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def image_to_array(src: ImageSource, *, max_bytes: int = MAX_BYTES,
                   max_pixels: int = MAX_PIXELS, field: str = "image") -> np.ndarray[Any, Any]:
    """A new, writable ``(H, W, 3)`` ``uint8`` array from anything :func:`load_image` takes."""
    import numpy as np

    return np.array(load_image(src, max_bytes=max_bytes, max_pixels=max_pixels, field=field),
                    dtype=np.uint8)


def image_mime(data: bytes | bytearray | memoryview) -> str:
    """The media type of encoded image ``data`` from its magic bytes (``image/jpeg``...), or
    ``application/octet-stream`` for anything not in :data:`FORMATS`."""
    fmt = _sniff(bytes(data[:16]))
    return f"image/{fmt.lower()}" if fmt else "application/octet-stream"


def image_dims(src: bytes | bytearray | memoryview | str) -> tuple[int, int] | None:
    """``(width, height)`` of encoded image data or a ``data:`` URI, read from the header of an
    allow-listed format (no pixel is decoded); None when it cannot be read (the decode that
    follows reports why)."""
    try:
        if isinstance(src, str):
            if src.lstrip()[:5].lower() != "data:":
                return None
            _, data = decode_data_uri(src, max_bytes=MAX_BYTES)
        else:
            data = bytes(src)
        fmt = _sniff(data)
        if fmt is None:
            return None
        if fmt == "WEBP":
            return _webp_size(data)
        module, name = _PLUGINS[fmt]
        opener = getattr(importlib.import_module(module), name)
        with opener(io.BytesIO(data)) as img:  # the header only
            return int(img.size[0]), int(img.size[1])
    except Exception:  # undecodable: the caller's real decode names the problem
        return None


# --- helpers --------------------------------------------------------------------------------


def _preview(value: object, limit: int = 60) -> str:
    """A short repr for messages: long values (a whole base64 string...) are cut."""
    text = repr(os.fspath(value) if isinstance(value, os.PathLike) else value)
    return text if len(text) <= limit else text[:limit] + "..."


def _check_bytes_size(size: int, max_bytes: int, field: str) -> None:
    if size > max_bytes:
        raise InvalidImage(f"{field}: image is {size} bytes, over the limit of {max_bytes} "
                           "bytes", field=field)


def _check_bytes(data: bytes, max_bytes: int, field: str) -> bytes:
    _check_bytes_size(len(data), max_bytes, field)
    return data


def _check_pixels(size: tuple[int, int], max_pixels: int | None, field: str) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise InvalidImage(f"{field}: image is {width}x{height} = {width * height} pixels, "
                           f"over the limit of {max_pixels}", field=field)


def _read_file(path: str | os.PathLike[str], max_bytes: int, field: str) -> bytes:
    """Read at most ``max_bytes`` from a file; the size is checked before reading."""
    try:
        with open(path, "rb") as f:
            _check_bytes_size(os.fstat(f.fileno()).st_size, max_bytes, field)
            data = f.read(max_bytes + 1)  # special files (pipes, /dev/...) report size 0
    except OSError as exc:
        raise InvalidImage(f"{field}: could not read the file {_preview(path, 200)} "
                           f"({exc.strerror or exc}); a string must be a data: URI or a file "
                           "path", field=field) from exc
    if len(data) > max_bytes:
        raise InvalidImage(f"{field}: image is more than {max_bytes} bytes, over the limit of "
                           f"{max_bytes} bytes", field=field)
    return data


def _sniff(data: bytes) -> str | None:
    """The allowed format ``data`` starts with, from its magic bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """A WebP canvas size from its header (libwebp allocates the canvas when it opens)."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)
    if chunk == b"VP8X" and len(data) >= 30:
        return (int.from_bytes(data[24:27], "little") + 1,
                int.from_bytes(data[27:30], "little") + 1)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _other_format(data: bytes) -> str | None:
    """The name of a refused format ``data`` starts with (TIFF, PDF, PSD), for messages."""
    return next((name for magic, name in _OTHER_MAGIC.items() if data.startswith(magic)), None)


def _decode(data: bytes, max_pixels: int, field: str) -> Image.Image:
    """Decode allow-listed image data, checking the pixel count from the header first."""
    from PIL import Image

    fmt = _sniff(data)
    if fmt is None:
        other = _other_format(data)
        what = f"{other} images are not supported" if other else "not a recognised image format"
        raise InvalidImage(f"{field}: {what} (data starts with {data[:8]!r}); supported formats "
                           f"are {', '.join(FORMATS)}", field=field)
    if fmt == "WEBP":
        size = _webp_size(data)
        if size is None:
            raise InvalidImage(f"{field}: not a valid WEBP image (no size in its header)",
                               field=field)
        _check_pixels(size, max_pixels, field)
    module, name = _PLUGINS[fmt]
    opener = getattr(importlib.import_module(module), name)
    try:
        img = opener(io.BytesIO(data))  # reads the header only (a GIF's first frame may grow it)
        _check_pixels(img.size, max_pixels, field)
        img.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(f"{field}: image is too large to decode safely, over the limit of "
                           f"{max_pixels} pixels ({exc})", field=field) from exc
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error...
        raise InvalidImage(f"{field}: could not decode the {fmt} image; it is corrupt or "
                           f"truncated ({exc})", field=field) from exc
    return img


def _array_to_image(arr: np.ndarray[Any, Any], max_pixels: int | None,
                    field: str) -> Image.Image:
    """An ``L``, ``RGB`` or ``RGBA`` image from an array (rules in the module docstring)."""
    import numpy as np
    from PIL import Image

    shape = arr.shape
    if not (arr.ndim == 2 or (arr.ndim == 3 and shape[2] in (1, 3, 4))):
        hint = ("; for channels-first data use arr.transpose(1, 2, 0)"
                if arr.ndim == 3 and shape[0] in (1, 3, 4) else "")
        raise InvalidImage(f"{field}: array must have shape (H, W), (H, W, 1), (H, W, 3) or "
                           f"(H, W, 4), got {shape}{hint}", field=field)
    if shape[0] == 0 or shape[1] == 0:
        raise InvalidImage(f"{field}: array must be at least 1x1 pixels, got shape {shape}",
                           field=field)
    _check_pixels((shape[1], shape[0]), max_pixels, field)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InvalidImage(f"{field}: float array has NaN or infinite values",
                               field=field)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidImage(f"{field}: float array values must be in [0, 1], got values "
                               f"from {lo:g} to {hi:g}", field=field)
        arr = np.rint(arr.astype(np.float32) * 255.0).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise InvalidImage(f"{field}: array dtype must be uint8 (0-255) or float (0-1), got "
                           f"{arr.dtype}", field=field)
    if arr.ndim == 3 and shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(arr))


def _eight_bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey (``I;16``, ``I``: 0-65535; ``F``: 0-1) as 8-bit ``L``; other
    modes unchanged."""
    from PIL import Image

    if img.mode in {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}:
        import numpy as np

        values = np.asarray(img, dtype=np.float64) * (255.0 if img.mode == "F" else 1 / 257)
        img = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in {"RGBA", "RGBa", "LA", "La", "PA"} or "transparency" in img.info


def _to_mask(img: Image.Image) -> Image.Image:
    """A new ``L`` mask (rules in :func:`load_mask`)."""
    import numpy as np
    from PIL import Image

    img = _eight_bit(img)
    if not _has_alpha(img):
        return img.convert("L")
    rgba = np.asarray(img.convert("RGBA"))
    alpha = rgba[:, :, 3]
    if alpha.min() == 255:
        return img.convert("RGB").convert("L")
    visible = rgba[alpha > 0][:, :3]
    if len(visible) == 0 or (visible == visible[0]).all():
        return Image.fromarray(np.ascontiguousarray(alpha))
    black = Image.new("RGBA", img.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, Image.fromarray(rgba)).convert("L")


def _to_rgb(img: Image.Image) -> Image.Image:
    """A new RGB image: alpha composited onto white, 16-bit grey scaled down."""
    from PIL import Image

    img = _eight_bit(img)
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")
