"""The JPEG codec alone: the frames' decode and encode with nothing else running.

The frame loop's ``decode`` and ``encode_output`` stages run between model calls, with caches
cold and torch's thread team just stopped, and they come out slower than the same work in a
tight loop. This pass times that tight loop on the same frames, for the fast path
(:mod:`lcm_widgets._jpeg`, simplejpeg) and for Pillow, in the same run: it is the codec's floor
on this machine, the part of the per-frame overhead that no glue can remove.

* **decode**: each sketch frame (JPEG bytes) → a ``(H, W, 3)`` uint8 array.
* **encode**: each output image (the frames' own results, decoded once beforehand) → JPEG bytes
  at LocalLCM's ``jpeg_quality``.

Each sample is one frame; every frame is timed ``repeats`` times in a row and the fastest of
those counts (the floor), then p50/p95 are taken over the frames.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..stats import Summary, summarize

__all__ = ["codec_floor"]


def _fastest(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _pillow_decode(data: bytes) -> Any:
    import numpy as np
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    return np.asarray(img)


def _pillow_encode(arr: Any, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    h, w = int(arr.shape[0]), int(arr.shape[1])
    Image.frombuffer("RGB", (w, h), arr, "raw", "RGB", 0, 1).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def codec_floor(frames: Sequence[bytes], outputs: Sequence[bytes], *, quality: int,
                repeats: int = 5) -> dict[str, dict[str, Summary]]:
    """``{"fast": {"decode", "encode", "total"}, "pillow": {...}}`` per-frame summaries in ms
    (``"fast"`` is absent when simplejpeg is not in use). ``outputs[i]`` is frame ``i``'s
    encoded result, whose pixels are re-encoded (decoded once, untimed)."""
    import numpy as np

    if not frames or len(frames) != len(outputs):
        raise ValueError(f"frames, outputs: need one output per frame, got {len(frames)} "
                         f"frames and {len(outputs)} outputs")
    from .. import _jpeg
    from ..images import MAX_PIXELS

    arrays = [np.ascontiguousarray(_pillow_decode(o)) for o in outputs]
    coders: dict[str, tuple[Callable[[bytes], Any], Callable[[Any], Any]]] = {
        "pillow": (_pillow_decode, lambda a: _pillow_encode(a, quality))}
    if _jpeg.available():
        coders["fast"] = (lambda d: _jpeg.decode_rgb(d, MAX_PIXELS),
                          lambda a: _jpeg.encode_rgb(a, quality))
    res: dict[str, dict[str, Summary]] = {}
    for name, (dec, enc) in coders.items():
        d = [_fastest(functools.partial(dec, f), repeats) for f in frames]
        e = [_fastest(functools.partial(enc, a), repeats) for a in arrays]
        res[name] = {"decode": summarize(d).scaled(1000.0),
                     "encode": summarize(e).scaled(1000.0),
                     "total": summarize([x + y for x, y in zip(d, e, strict=True)]).scaled(
                         1000.0)}
    return res
