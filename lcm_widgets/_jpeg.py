"""The JPEG fast path: libjpeg-turbo's TurboJPEG API through `simplejpeg`_, straight between
bytes and ``(H, W, 3)`` uint8 arrays.

Every live frame is a JPEG decode on the way in and a JPEG encode on the way out, so the codec
is most of the per-frame cost outside the model (``docs/benchmarks.md``). Compared with Pillow
(which bundles the same libjpeg-turbo), this path:

* decodes straight into packed RGB (Pillow decodes into its 4-byte ``RGBX`` storage and needs
  a second pass to unpack it into an array), optionally into a caller's reused buffer;
* encodes straight from the array (no ``Image`` wrapper, no ``BytesIO``);
* releases the GIL for the codec work, as Pillow does.

Decoded pixels are exactly Pillow's (both use libjpeg-turbo's accurate integer IDCT and fancy
upsampling; ``tests/test_jpeg.py`` checks it). Encoded bytes differ from Pillow's (TurboJPEG
downsamples chroma its own way), but every JPEG this library writes goes through
:func:`encode_rgb` when it is available, so the bytes do not depend on which path wrote them.

Both functions return None when the fast path does not apply (simplejpeg missing, or an image
it should not handle: greyscale or CMYK JPEGs, corrupt data); callers then use Pillow, which
also produces the error messages. Setting ``LCM_WIDGETS_JPEG=pillow`` in the environment turns
the fast path off.

.. _simplejpeg: https://gitlab.com/jfolz/simplejpeg
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["available", "decode_rgb", "encode_rgb", "name"]

_UNSET: Any = object()
_sj: Any = _UNSET  # the simplejpeg module, None when unavailable; imported on first use


def _module() -> Any:
    global _sj
    if _sj is _UNSET:
        if os.environ.get("LCM_WIDGETS_JPEG", "").strip().lower() == "pillow":
            _sj = None
        else:
            try:
                import simplejpeg
            except ImportError:  # pragma: no cover - a core dependency; missing on odd platforms
                simplejpeg = None
            _sj = simplejpeg
    return _sj


def available() -> bool:
    """True when the fast path is in use."""
    return _module() is not None


def name() -> str:
    """Which codec writes and reads frames: ``"simplejpeg X.Y"`` or ``"pillow"``."""
    sj = _module()
    return "pillow" if sj is None else f"simplejpeg {getattr(sj, '__version__', '?')}"


def decode_rgb(data: bytes | bytearray | memoryview, max_pixels: int, out: Any = None) -> Any:
    """A baseline or progressive colour (YCbCr) JPEG → a new ``(H, W, 3)`` uint8 array, or
    None when the fast path does not apply (see the module docstring). Images over
    ``max_pixels`` give None before any pixel is decoded (Pillow then refuses them with the
    usual message). ``out``, when given, is a C-contiguous uint8 array of exactly the decoded
    shape to decode into (else a new one is allocated)."""
    sj = _module()
    if sj is None:
        return None
    try:
        height, width, colorspace, _ = sj.decode_jpeg_header(data)
        if colorspace != "YCbCr" or width * height > max_pixels:
            return None
        if out is not None and tuple(out.shape) != (height, width, 3):
            out = None
        return sj.decode_jpeg(data, colorspace="RGB", buffer=out)
    except Exception:  # corrupt or truncated: Pillow decodes it again and says what is wrong
        return None


def encode_rgb(arr: Any, quality: int) -> bytes | None:
    """A C-contiguous ``(H, W, 3)`` uint8 RGB array → JPEG bytes (4:2:0 chroma, accurate DCT,
    standard Huffman tables, as Pillow's defaults), or None when the fast path is off or
    ``arr`` is anything else."""
    sj = _module()
    if sj is None or not (arr.ndim == 3 and arr.shape[2] == 3 and str(arr.dtype) == "uint8"
                          and arr.flags.c_contiguous):
        return None
    data: bytes = sj.encode_jpeg(arr, quality=quality, colorspace="RGB",
                                 colorsubsampling="420")
    return data
