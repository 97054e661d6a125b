"""Images in and out of :class:`~lcm_widgets.backends.local.LocalLCM`: the source frame at the
output size, and the fal-shaped :class:`~lcm_widgets.schema.Output` around encoded results."""

from __future__ import annotations

from typing import Any

from ..schema import FalImage, Input, Output, resolve_image_size

__all__ = ["load_source", "make_output", "progress_bar"]


def load_source(inp: Input, native_size: int) -> tuple[Any, tuple[int, int]]:
    """``(HWC uint8 array or None, (width, height))`` for ``inp``.

    Text-to-image: no array, ``image_size`` or the native square. Image-to-image: the decoded
    ``image_url`` (bytes or a data URI; never a file path or URL, since requests may come from
    the network) resized to ``image_size``, or kept at its own size rounded down to a multiple
    of 8 (at least 64).
    """
    import numpy as np

    from ..images import load_image

    if inp.image_url is None:
        return None, resolve_image_size(inp.image_size, (native_size, native_size))
    img = load_image(inp.image_url, field="image_url", allow_files=False)
    w, h = resolve_image_size(inp.image_size, (max(64, img.width // 8 * 8),
                                               max(64, img.height // 8 * 8)))
    if img.size != (w, h):
        from PIL import Image

        img = img.resize((w, h), Image.Resampling.BICUBIC)
    return np.array(img, dtype=np.uint8), (w, h)


def make_output(inp: Input, seed: int, arrays: list[Any], nsfw: list[bool],
                timings: dict[str, float], *, quality: int) -> Output:
    """Encode HWC uint8 ``arrays`` in ``inp.format``; each image gets a data URI and its bytes
    (there is no file store locally, so ``sync_mode`` makes no difference)."""
    from ..images import encode_image, to_data_uri

    mime = f"image/{inp.format}"
    images = []
    for arr in arrays:
        data = encode_image(arr, inp.format, quality=quality)
        images.append(FalImage(url=to_data_uri(data, mime), width=int(arr.shape[1]),
                               height=int(arr.shape[0]), content_type=mime,
                               file_size=len(data), content=data))
    return Output(images=images, timings=dict(timings), seed=seed, has_nsfw_concepts=nsfw,
                  prompt=inp.prompt, request_id=inp.request_id or None)


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar, or a stand-in with the same two methods when tqdm is missing or disabled."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        enabled = False
    if enabled:
        return tqdm(total=total, desc=desc, unit="frame")
    return _Quiet()


class _Quiet:
    def update(self, n: int) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""
