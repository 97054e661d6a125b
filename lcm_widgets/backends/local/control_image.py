"""Control images for ControlNets: the scribble and Canny preprocessing, numpy only.

Canny is implemented here rather than taken from OpenCV or ``controlnet_aux``: the ControlNet
1.1 canny annotator is ``cv2.Canny(image, 100, 200)``, and OpenCV's algorithm without its
dependency (opencv-python is a 50 MB wheel with its own FFmpeg and Qt builds, for one function)
is a hundred lines of numpy. This follows OpenCV's ``cv::Canny`` step by step, so that the edges
are the ones the ControlNet was trained on:

1. 3x3 Sobel derivatives with replicated borders, per channel; each pixel takes the channel
   with the largest L1 magnitude ``|dx| + |dy|`` (the first one on a tie), as OpenCV does for
   colour images;
2. non-maximum suppression along the gradient direction quantised at 22.5 and 67.5 degrees
   (``m > before and m >= after`` horizontally and vertically, ``>`` both diagonally; outside the
   image the magnitude is 0);
3. hysteresis: a local maximum above ``high`` is an edge, and so is one above ``low`` that is
   8-connected to an edge through such pixels (``>`` both times, as OpenCV compares).

``tests/backends/local/test_controlnet.py`` compares the result with OpenCV's own output for a
fixed image (``tests/backends/local/data/``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CANNY_HIGH", "CANNY_LOW", "INK_THRESHOLD", "canny", "prepare", "scribble"]

CANNY_LOW, CANNY_HIGH = 100, 200  # the ControlNet 1.1 canny annotator's thresholds
#: A pixel is ink when some channel is this far below white (255); JPEG noise stays under it.
INK_THRESHOLD = 48

_TG22 = 0.41421356237309503  # tan(22.5 degrees)


def scribble(rgb: Any) -> Any:
    """``(H, W, 3)`` uint8 sketch → ``(H, W, 3)`` uint8: its ink white, the paper black.

    ControlNet 1.1's scribble model was trained on white strokes on black; a sketch on the
    Studio's canvas is coloured strokes on white. A pixel is ink when its darkest channel is
    more than :data:`INK_THRESHOLD` below 255 (so yellow on white counts, and JPEG noise does
    not)."""
    import numpy as np

    ink = rgb.min(axis=2) < 255 - INK_THRESHOLD
    out = np.zeros((*rgb.shape[:2], 3), np.uint8)
    out[ink] = 255
    return out


def _sobel(ch: Any) -> tuple[Any, Any]:
    import numpy as np

    p = np.pad(ch.astype(np.int32), 1, mode="edge")
    left, mid, right = p[:, :-2], p[:, 1:-1], p[:, 2:]
    dx_rows = right - left
    dx = dx_rows[:-2] + 2 * dx_rows[1:-1] + dx_rows[2:]
    smooth = left + 2 * mid + right
    dy = smooth[2:] - smooth[:-2]
    return dx, dy


def canny(rgb: Any, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> Any:
    """Canny edges of ``(H, W)`` or ``(H, W, C)`` uint8 ``rgb`` as an ``(H, W)`` uint8 map of
    0 and 255 (OpenCV's ``cv2.Canny(rgb, low, high)``: aperture 3, L1 gradient)."""
    import numpy as np

    if low > high:
        low, high = high, low
    img = rgb[:, :, None] if rgb.ndim == 2 else rgb
    dx = dy = mag = None
    for c in range(img.shape[2]):
        cx, cy = _sobel(img[:, :, c])
        m = np.abs(cx) + np.abs(cy)
        if mag is None:
            dx, dy, mag = cx, cy, m
        else:
            better = m > mag
            dx, dy, mag = (np.where(better, cx, dx), np.where(better, cy, dy),
                           np.maximum(m, mag))
    assert dx is not None and dy is not None and mag is not None
    h, w = mag.shape
    pad = np.zeros((h + 2, w + 2), mag.dtype)
    pad[1:-1, 1:-1] = mag

    def at(oy: int, ox: int) -> Any:
        return pad[1 + oy:1 + oy + h, 1 + ox:1 + ox + w]

    ax, ay = np.abs(dx).astype(np.float64), np.abs(dy).astype(np.float64)
    tg22 = ax * _TG22
    tg67 = tg22 + 2 * ax  # tan(67.5) = tan(22.5) + 2
    horizontal = ay < tg22
    vertical = ~horizontal & (ay > tg67)
    diagonal = ~horizontal & ~vertical
    s = np.where((dx ^ dy) < 0, -1, 1)
    keep = np.zeros((h, w), bool)
    keep |= horizontal & (mag > at(0, -1)) & (mag >= at(0, 1))
    keep |= vertical & (mag > at(-1, 0)) & (mag >= at(1, 0))
    # diagonal: above at x - s, below at x + s
    up_l, up_r, dn_l, dn_r = at(-1, -1), at(-1, 1), at(1, -1), at(1, 1)
    keep |= diagonal & (s < 0) & (mag > up_r) & (mag > dn_l)
    keep |= diagonal & (s > 0) & (mag > up_l) & (mag > dn_r)
    cand = keep & (mag > low)
    strong = cand & (mag > high)
    return np.where(_connected_to(cand, strong), 255, 0).astype(np.uint8)


def _connected_to(cand: Any, seeds: Any) -> Any:
    """The pixels of ``cand`` 8-connected (within ``cand``) to a pixel of ``seeds``.

    Connected components by min-label propagation with pointer jumping over the candidate
    pixels only (a few percent of the image): a handful of vectorised passes instead of one
    Python step per pixel."""
    import numpy as np

    h, w = cand.shape
    ys, xs = np.nonzero(cand)
    m = len(ys)
    if m == 0:
        return cand
    index = np.full((h + 2, w + 2), m, np.int64)
    index[ys + 1, xs + 1] = np.arange(m)
    nbrs = np.stack([index[ys + 1 + oy, xs + 1 + ox] for oy in (-1, 0, 1) for ox in (-1, 0, 1)
                     if oy or ox], axis=1)
    labels = np.arange(m + 1)  # entry m: the sentinel for "no candidate there"
    for _ in range(m):  # each pass shortens every chain; converges long before m passes
        nxt = labels.copy()
        nxt[:m] = np.minimum(labels[:m], labels[nbrs].min(axis=1))
        nxt = nxt[nxt]
        nxt = nxt[nxt]
        if np.array_equal(nxt, labels):
            break
        labels = nxt
    hit = np.zeros(m + 1, bool)
    hit[labels[:m][seeds[ys, xs]]] = True
    out = np.zeros((h, w), bool)
    out[ys, xs] = hit[labels[:m]]
    return out


def prepare(rgb: Any, preprocess: str) -> Any:
    """Apply one of :data:`lcm_widgets.models.controlnets.PREPROCESSORS` to an ``(H, W, 3)``
    uint8 image; the result is ``(H, W, 3)`` uint8."""
    import numpy as np

    if preprocess == "scribble":
        return scribble(rgb)
    if preprocess == "canny":
        return np.repeat(canny(rgb)[:, :, None], 3, axis=2)
    return rgb
