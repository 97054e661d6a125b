"""Images in and out of :class:`~.backend.LocalLCM`: the source frames at the output size (one
image, or the distinct images of a batch stacked), pinned host buffers for their uint8 copies to
and from a CUDA device, and the fal-shaped :class:`~lcm_widgets.schema.Output` around encoded
results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import InvalidInput
from ...schema import FalImage, Input, Output, resolve_image_size
from .cache import LRU

__all__ = ["PinnedFrames", "Sources", "latent_mask", "load_source", "load_sources",
           "make_output", "progress_bar", "safety_flags"]


def load_source(inp: Input, native_size: int, out: Any = None) -> tuple[Any, tuple[int, int]]:
    """``(HWC uint8 array or None, (width, height))`` for ``inp``.

    Text-to-image: no array, ``image_size`` or the native square. Image-to-image: the decoded
    ``image_url`` (bytes or a data URI; never a file path or URL, since requests may come from
    the network) resized to ``image_size``, or kept at its own size rounded down to a multiple
    of 8 (at least 64).

    ``out``, when given, is a reused ``(H, W, 3)`` uint8 array that a colour JPEG of exactly
    that size is decoded into (the common case while drawing: every frame has the same size);
    the returned array is then ``out`` itself, so it is valid until the next call with the same
    buffer. The array may be read-only; do not write into it.
    """
    import numpy as np

    from ...images import load_image

    if inp.image_url is None:
        return None, resolve_image_size(inp.image_size, (native_size, native_size))
    arr = _decode_rgb_jpeg(inp.image_url, out)
    if arr is None:
        img = load_image(inp.image_url, field="image_url", allow_files=False)
        # asarray: one unpack of PIL's RGBX storage to packed RGB, no second copy.
        arr = np.asarray(img, dtype=np.uint8)
    height, width = int(arr.shape[0]), int(arr.shape[1])
    w, h = resolve_image_size(inp.image_size, (max(64, width // 8 * 8),
                                               max(64, height // 8 * 8)))
    if (width, height) != (w, h):
        from PIL import Image

        img = Image.fromarray(arr).resize((w, h), Image.Resampling.BICUBIC)
        arr = np.asarray(img, dtype=np.uint8)
    return arr, (w, h)


@dataclass
class Sources:
    """The source images of one batch (see :func:`load_sources`).

    ``pixels`` is None (text-to-image), one ``(H, W, 3)`` array (every input has the same image)
    or a ``(U, H, W, 3)`` stack of the ``U`` distinct images in order of first use; ``rows[i]``
    is the index of input ``i``'s image in it; ``size`` is ``(width, height)``; ``decoded`` the
    array the first image was decoded into (the caller may pass it as ``out`` next time).
    """

    pixels: Any
    rows: list[int]
    size: tuple[int, int]
    decoded: Any = None


def load_sources(inputs: Sequence[Input], native_size: int, *, out: Any = None,
                 stack: Callable[[int, int, int], Any] | None = None) -> Sources:
    """Decode the source image of every input of one batch, each distinct one once.

    Inputs with the very same ``image_url`` value (one drawing in many cells) share one decode.
    The first distinct image is decoded as :func:`load_source` does (into ``out`` when it fits);
    with more than one, each is copied or decoded into row ``k`` of ``stack(U, height,
    width)`` (a reused ``(U, H, W, 3)`` uint8 array, or a new one), so ``out`` may be reused
    for the next batch. All images must come out at one size (the batch rule makes sure of it:
    same ``image_size``, or sources of the same size); otherwise InvalidInput names both.
    """
    import numpy as np

    first = inputs[0]
    if any(inp.is_img2img != first.is_img2img for inp in inputs):
        raise InvalidInput("image_url: one batch must be all image-to-image or all text-to-"
                           "image, got both; send them as separate requests", field="image_url")
    arr, size = load_source(first, native_size, out=out)
    if arr is None:
        return Sources(None, [0] * len(inputs), size)
    if len(inputs) == 1:  # a live frame: nothing to share (and no 60 kB key to hash)
        return Sources(arr, [0], size, decoded=arr)
    index: dict[Any, int] = {}
    distinct: list[Input] = []
    rows = []
    for inp in inputs:
        key = inp.image_url
        if key not in index:
            index[key] = len(distinct)
            distinct.append(inp)
        rows.append(index[key])
    if len(distinct) == 1:
        return Sources(arr, rows, size, decoded=arr)
    w, h = size
    buf = stack(len(distinct), h, w) if stack is not None else None
    if buf is None:
        buf = np.empty((len(distinct), h, w, 3), np.uint8)
    buf[0] = arr
    for k, inp in enumerate(distinct[1:], start=1):
        got, got_size = load_source(inp, native_size, out=buf[k])
        if got_size != size:
            raise InvalidInput(
                f"image_url: the images of one batch must come out at one size, got "
                f"{size[0]}x{size[1]} and {got_size[0]}x{got_size[1]}; set image_size or send "
                "them as separate requests", field="image_url")
        if not np.may_share_memory(got, buf[k]):
            buf[k] = got
    return Sources(buf, rows, size, decoded=arr)


def latent_mask(inp: Input, size: tuple[int, int]) -> Any:
    """``inp.mask_url`` as an ``(h / 8, w / 8)`` float32 array for an output of ``size``
    ``(w, h)``: 1 repaints, 0 keeps (the latent resolution the blend works at).

    Decoded with the same guards as the source image (:func:`~lcm_widgets.images.load_mask`:
    data URI or bytes only, byte and pixel limits, decompression bombs refused from the
    header), to one grey channel; it must have ``image_url``'s size (InvalidInput naming
    ``mask_url`` and both sizes otherwise). Then it is averaged down to the latent grid (Pillow's
    ``BOX`` filter, the mean of each cell) and not binarised: a latent cell is kept exactly
    only where its whole patch is black, and a cell the brush half covers is half repainted
    (soft edges, no seam where the mask's edge falls inside a patch).
    """
    import numpy as np
    from PIL import Image

    from ...images import image_dims, load_mask

    mask = load_mask(inp.mask_url, field="mask_url", allow_files=False)  # type: ignore[arg-type]
    want = image_dims(inp.image_url) if inp.image_url is not None else None
    if want is not None and mask.size != want:
        raise InvalidInput(f"mask_url: must be {want[0]}x{want[1]} like image_url, got "
                           f"{mask.size[0]}x{mask.size[1]}", field="mask_url")
    w, h = size
    small = mask.resize((w // 8, h // 8), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / np.float32(255)  # 255 -> exactly 1


def _decode_rgb_jpeg(src: Any, out: Any = None) -> Any:
    """The fast path of :func:`~lcm_widgets.images.load_image` for what the sketch widget sends
    (a colour JPEG as bytes or a ``data:`` URI): an ``(H, W, 3)`` uint8 array decoded by
    :func:`lcm_widgets._jpeg.decode_rgb` (into ``out`` when its shape fits), with the same byte
    and pixel limits. None for anything else, or for anything that fails to decode, so that
    ``load_image`` handles it and raises its usual errors."""
    from ... import _jpeg
    from ...images import MAX_BYTES, MAX_PIXELS, decode_data_uri

    if isinstance(src, (bytes, bytearray, memoryview)):
        data = src
    elif isinstance(src, str) and src.lstrip()[:5].lower() == "data:":
        try:
            mime, data = decode_data_uri(src, max_bytes=MAX_BYTES)
        except Exception:  # load_image reports it
            return None
        if mime not in {"image/jpeg", "image/jpg", "application/octet-stream", ""}:
            return None
    else:
        return None
    if len(data) > MAX_BYTES or bytes(data[:3]) != b"\xff\xd8\xff":
        return None
    return _jpeg.decode_rgb(data, MAX_PIXELS, out)


class PinnedFrames:
    """Reused page-locked (pinned) host buffers for the uint8 frames that cross between the host
    and a CUDA device: the source frames go up with ``non_blocking=True`` from a pinned buffer
    (from a pageable one CUDA copies synchronously, through a staging buffer), the decoded
    frames come down into one. A few shapes are kept (:class:`~.cache.LRU`).

    Only LocalLCM on a CUDA device uses this (``device.type == "cuda"``); on the CPU nothing
    crosses. **Untested in CPU-only sessions**: it runs only when a GPU session runs
    ``pytest tests/backends/local/test_local_loading.py -m gpu`` (or any CUDA LocalLCM). Not
    thread-safe: used under LocalLCM's model lock.
    """

    def __init__(self, torch: Any, size: int = 4) -> None:
        self._torch = torch
        # (buffer, event recorded after the last copy out of it)
        self._up: LRU[tuple[int, ...], tuple[Any, Any]] = LRU(size)
        self._down: LRU[tuple[int, ...], Any] = LRU(size)

    def _buffer(self, shape: tuple[int, ...]) -> Any:
        torch = self._torch
        return torch.empty(shape, dtype=torch.uint8, pin_memory=True)

    def upload(self, arr: Any, device: Any) -> Any:
        """uint8 numpy ``arr`` (HWC, or a BHWC stack) → a uint8 tensor of its shape on ``device``:
        copied into a pinned buffer,
        then enqueued with ``non_blocking=True``. Before a buffer is refilled, the event recorded
        after its previous copy is waited on (normally long done: the frame's download syncs)."""
        import numpy as np

        torch = self._torch
        shape = tuple(int(n) for n in arr.shape)
        entry = self._up.get(shape)
        if entry is None:
            entry = self._up.put(shape, (self._buffer(shape), torch.cuda.Event()))
        else:
            entry[1].synchronize()
        buf, copied = entry
        np.copyto(buf.numpy(), arr, casting="no")
        out = buf.to(device, non_blocking=True)
        copied.record(torch.cuda.current_stream(out.device))
        return out

    def download(self, x: Any) -> Any:
        """A contiguous uint8 CUDA tensor → numpy, through a pinned buffer (``non_blocking``
        copy, then a sync of the current stream). The result is a view of that buffer: valid
        until the next download of the same shape (LocalLCM encodes it before then)."""
        torch = self._torch
        shape = tuple(int(n) for n in x.shape)
        buf = self._down.get_or_make(shape, lambda: self._buffer(shape))
        buf.copy_(x, non_blocking=True)
        torch.cuda.current_stream(x.device).synchronize()
        return buf.numpy()

    def buffers(self) -> list[Any]:
        """Every page-locked buffer held now (upload ones first)."""
        return [buf for buf, _event in self._up.values()] + self._down.values()

    def clear(self) -> None:
        """Drop the buffers."""
        self._up.clear()
        self._down.clear()


def make_output(inp: Input, seed: int, arrays: list[Any], nsfw: list[bool],
                timings: dict[str, float], *, quality: int) -> Output:
    """Encode HWC uint8 ``arrays`` in ``inp.format``; each image gets a data URI and its bytes
    (there is no file store locally, so ``sync_mode`` makes no difference).

    JPEG of a C-contiguous ``(H, W, 3)`` uint8 array goes straight to
    :func:`lcm_widgets._jpeg.encode_rgb` (no intermediate image copies); the bytes are those
    :func:`~lcm_widgets.images.encode_image` writes (same encoder, same settings).
    """
    from ...images import encode_image, to_data_uri

    mime = f"image/{inp.format}"
    images = []
    for arr in arrays:
        if inp.format == "jpeg":
            data = _encode_jpeg(arr, quality)
        else:
            data = encode_image(arr, inp.format, quality=quality)
        images.append(FalImage(url=to_data_uri(data, mime), width=int(arr.shape[1]),
                               height=int(arr.shape[0]), content_type=mime,
                               file_size=len(data), content=data))
    return Output(images=images, timings=dict(timings), seed=seed, has_nsfw_concepts=nsfw,
                  prompt=inp.prompt, request_id=inp.request_id or None)


def safety_flags(c: Any, images: Any, group: Sequence[Input], device: Any,
                 dtype: Any) -> list[bool]:
    """``has_nsfw_concepts`` per image of ``group`` (``num_images`` each), from the pipeline's
    safety checker (loaded components ``c``) for the inputs that enable it; flagged images in
    ``images`` (``(B, 3, H, W)`` in [-1, 1]) are made black in place, as the stock pipeline
    returns them. All False when the model has no safety checker or no input enables it."""
    flags = [False] * images.shape[0]
    if not c.has_safety_checker or not any(i.enable_safety_checker for i in group):
        return flags
    _, found = c.pipe.run_safety_checker(images, device, dtype)
    k = 0
    for inp in group:
        for _ in range(inp.num_images):
            flags[k] = bool(found[k]) and inp.enable_safety_checker if found else False
            if flags[k]:
                images[k] = -1.0  # black, as the stock pipeline returns flagged images
            k += 1
    return flags


def _encode_jpeg(arr: Any, quality: int) -> bytes:
    from ... import _jpeg
    from ...images import encode_image

    if type(quality) is int and 1 <= quality <= 100:
        data = _jpeg.encode_rgb(arr, quality)
        if data is not None:
            return data
    return encode_image(arr, "jpeg", quality=quality)


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

    def set_description(self, desc: str) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""
