"""The JPEG fast path (simplejpeg) against Pillow, and the Pillow fallback when it is off."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lcm_widgets import _jpeg
from lcm_widgets.backends.local import frames
from lcm_widgets.images import MAX_PIXELS, encode_image, load_image
from lcm_widgets.schema import Input


def noisy(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def pil_jpeg(arr: np.ndarray[Any, Any], mode: str = "RGB", **kw: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, "JPEG", quality=kw.pop("quality", 85), **kw)
    return buf.getvalue()


@pytest.fixture
def pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path switched off, as on a platform without simplejpeg."""
    monkeypatch.setattr(_jpeg, "_sj", None)


def test_fast_path_is_on_by_default() -> None:
    """simplejpeg is a dependency, so the fast path is what runs."""
    assert _jpeg.available()
    assert _jpeg.name().startswith("simplejpeg ")


@pytest.mark.parametrize("kw", [{}, {"progressive": True}, {"subsampling": 0},
                                {"quality": 98}])
def test_decode_equals_pillow(kw: dict[str, Any]) -> None:
    """Baseline, progressive and 4:4:4 colour JPEGs decode to exactly Pillow's pixels."""
    data = pil_jpeg(noisy(), **kw)
    got = _jpeg.decode_rgb(data, MAX_PIXELS)
    assert got is not None and got.shape == (96, 128, 3) and got.dtype == np.uint8
    assert np.array_equal(got, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def test_decode_into_a_reused_buffer() -> None:
    """With ``out`` of the right shape the pixels land in it; a wrong shape is not used."""
    data = pil_jpeg(noisy())
    out = np.zeros((96, 128, 3), np.uint8)
    got = _jpeg.decode_rgb(data, MAX_PIXELS, out)
    assert np.shares_memory(got, out)
    assert np.array_equal(out, _jpeg.decode_rgb(data, MAX_PIXELS))
    small = np.zeros((8, 8, 3), np.uint8)
    got = _jpeg.decode_rgb(data, MAX_PIXELS, small)
    assert not np.shares_memory(got, small) and got.shape == (96, 128, 3)


@pytest.mark.parametrize("data", [
    pil_jpeg(noisy(), "L"),           # greyscale: Pillow's conversion rules apply
    pil_jpeg(noisy(), "CMYK"),        # CMYK: Pillow's conversion rules apply
    pil_jpeg(noisy())[:300],          # truncated: Pillow reports it
    b"\xff\xd8\xff" + b"\x00" * 64,   # garbage after the signature
    b"not a jpeg",
])
def test_decode_declines_what_pillow_should_handle(data: bytes) -> None:
    """Anything but a sound colour JPEG gives None, so Pillow decodes it or says why not."""
    assert _jpeg.decode_rgb(data, MAX_PIXELS) is None


def test_decode_declines_over_the_pixel_limit_from_the_header() -> None:
    """An image over max_pixels is declined before decoding; load_image then refuses it."""
    data = pil_jpeg(noisy())
    assert _jpeg.decode_rgb(data, 96 * 128 - 1) is None
    assert _jpeg.decode_rgb(data, 96 * 128) is not None


def test_encode_round_trip_and_settings() -> None:
    """encode_rgb writes a 4:2:0 baseline JPEG that decodes close to the input, its size
    grows with quality, and encode_image writes the same bytes."""
    arr = np.ascontiguousarray(np.repeat(np.linspace(0, 255, 128, dtype=np.uint8)[None, :, None],
                                         96, axis=0).repeat(3, axis=2))
    data = _jpeg.encode_rgb(arr, 90)
    assert data is not None and data.startswith(b"\xff\xd8\xff")
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and img.size == (128, 96)
    assert img.layer[1][1:3] == (1, 1) and img.layer[0][1:3] == (2, 2)  # 4:2:0
    back = np.asarray(img.convert("RGB")).astype(int)
    assert np.abs(back - arr).max() <= 4
    assert len(_jpeg.encode_rgb(noisy(), 30) or b"") < len(_jpeg.encode_rgb(noisy(), 95) or b"")
    assert encode_image(arr, "jpeg", quality=90) == data
    assert encode_image(Image.fromarray(arr), "jpeg", quality=90) == data


@pytest.mark.parametrize("arr", [
    noisy()[:, ::-1],                                    # not C-contiguous
    noisy().astype(np.float32),                          # not uint8
    np.zeros((8, 8, 4), np.uint8),                       # RGBA
    np.zeros((8, 8), np.uint8),                          # greyscale
])
def test_encode_declines_other_arrays(arr: np.ndarray[Any, Any]) -> None:
    """Only C-contiguous (H, W, 3) uint8 goes the fast way; encode_image handles the rest."""
    assert _jpeg.encode_rgb(arr, 85) is None


def test_pillow_fallback(pillow_only: None) -> None:
    """With the fast path off, encode and decode go through Pillow and still work."""
    assert not _jpeg.available() and _jpeg.name() == "pillow"
    arr = noisy()
    assert _jpeg.encode_rgb(arr, 85) is None
    data = encode_image(arr, "jpeg", quality=85)
    assert data == pil_jpeg(arr)
    assert _jpeg.decode_rgb(data, MAX_PIXELS) is None
    got, size = frames.load_source(Input(prompt="p", image_url=data, strength=0.5), 512)
    assert size == (128, 96)
    assert np.array_equal(got, np.asarray(load_image(data)))


def test_environment_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """LCM_WIDGETS_JPEG=pillow turns the fast path off (read on first use)."""
    monkeypatch.setenv("LCM_WIDGETS_JPEG", "Pillow")
    monkeypatch.setattr(_jpeg, "_sj", _jpeg._UNSET)
    assert _jpeg.name() == "pillow"
    monkeypatch.setenv("LCM_WIDGETS_JPEG", "")
    monkeypatch.setattr(_jpeg, "_sj", _jpeg._UNSET)
    assert _jpeg.available()


def test_load_source_reuses_its_buffer_and_resizes() -> None:
    """load_source decodes into a fitting ``out``; a size that needs resizing still comes out
    at the requested size."""
    data = pil_jpeg(noisy(96, 128))
    out = np.zeros((96, 128, 3), np.uint8)
    arr, size = frames.load_source(Input(prompt="p", image_url=data, strength=0.5), 512, out)
    assert size == (128, 96) and np.shares_memory(arr, out)
    arr, size = frames.load_source(
        Input(prompt="p", image_url=data, strength=0.5,
              image_size={"width": 64, "height": 64}), 512, out)
    assert size == (64, 64) and arr.shape == (64, 64, 3) and not np.shares_memory(arr, out)
