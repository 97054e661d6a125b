"""The lean path's glue: source decode, uint8 ↔ pixel conversions, output encode (tiny-free)."""

from __future__ import annotations

import base64
import io
import warnings
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from lcm_widgets.backends.local import frames, loop  # noqa: E402
from lcm_widgets.errors import InvalidImage  # noqa: E402
from lcm_widgets.images import encode_image, load_image  # noqa: E402
from lcm_widgets.schema import Input  # noqa: E402


def noisy(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def jpeg(arr: np.ndarray[Any, Any], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def source(image_url: Any) -> np.ndarray[Any, Any]:
    arr, _ = frames.load_source(Input(prompt="p", image_url=image_url, strength=0.5), 512)
    return arr  # type: ignore[no-any-return]


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview,
                                  lambda b: "data:image/jpeg;base64," + base64.b64encode(b)
                                  .decode()])
def test_rgb_jpeg_fast_path_equals_load_image(wrap: Any) -> None:
    """Bytes and data URIs of an RGB JPEG decode to exactly load_image's pixels."""
    data = jpeg(noisy())
    arr = frames._decode_rgb_jpeg(wrap(data))
    assert arr is not None and arr.shape == (96, 128, 3) and arr.dtype == np.uint8
    expected = np.asarray(load_image(data, allow_files=False))
    got = source(wrap(data))
    assert got.shape == (96, 128, 3) and got.dtype == np.uint8
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("data", [
    jpeg(noisy(), "L"),      # greyscale JPEG
    jpeg(noisy(), "CMYK"),   # CMYK JPEG
    encode_image(noisy(), "png"),
])
def test_other_images_go_through_load_image(data: bytes) -> None:
    """Anything but an RGB JPEG takes load_image's path and still comes out RGB."""
    assert frames._decode_rgb_jpeg(data) is None
    got = source(data)
    assert np.array_equal(got, np.asarray(load_image(data, allow_files=False)))


def test_corrupt_jpeg_raises_load_images_error() -> None:
    """A truncated JPEG is reported by load_image, with its usual message."""
    data = jpeg(noisy())[:300]
    assert frames._decode_rgb_jpeg(data) is None
    with pytest.raises(InvalidImage, match="could not decode the JPEG image"):
        source(data)


def test_uint8_to_pixels_read_only_and_buffer() -> None:
    """A read-only array is read without a copy or a warning; the buffer is reused; values are
    x / 127.5 - 1 with channels-last strides."""
    arr = noisy(64, 80)
    arr.flags.writeable = False
    buf = loop.pixels_buffer((1, 3, 64, 80), "cpu", torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = loop.uint8_to_pixels(arr, "cpu", torch.float32, out=buf)
        y = loop.uint8_to_pixels(arr, "cpu", torch.float32)
    assert x.data_ptr() == buf.data_ptr()
    assert x.shape == (1, 3, 64, 80) and x.is_contiguous(memory_format=torch.channels_last)
    ref = torch.from_numpy(arr.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    assert torch.allclose(x, ref, atol=1e-6) and torch.equal(x, y)


def test_pixels_to_uint8_matches_diffusers_rounding() -> None:
    """Equal to diffusers' (x / 2 + 0.5).clamp(0, 1) * 255 rounded, except ties (off by one);
    channels-last and contiguous inputs give the same array."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 40, 56, generator=g) * 0.7
    x[0, 0, 0, :4] = torch.tensor([-3.0, 3.0, 1.0, -1.0])
    ours = loop.pixels_to_uint8(x)
    cl = loop.pixels_to_uint8(x.contiguous(memory_format=torch.channels_last))
    stock = ((x / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    assert ours.shape == (2, 40, 56, 3) and ours.flags.c_contiguous
    assert np.array_equal(ours, cl)
    diff = np.abs(ours.astype(int) - stock.numpy().astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert list(ours[0, 0, :4, 0]) == [0, 255, 255, 0]


def test_decode_latents_passes_channels_last() -> None:
    """The VAE decoder gets channels-last latents (as from the stock pipeline), unscaled."""
    seen = {}

    class Vae:
        class config:
            scaling_factor = 0.5

        def decode(self, z: Any, return_dict: bool = True) -> Any:
            seen["z"] = z
            return (z,)

    lat = torch.ones(1, 4, 8, 8)
    loop.decode_latents(Vae(), lat)
    assert seen["z"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(seen["z"], lat * 2)


@pytest.mark.parametrize("quality", [75, 90])
def test_jpeg_output_bytes_equal_encode_image(quality: int) -> None:
    """make_output's direct PIL path writes exactly encode_image's bytes; a non-contiguous
    array falls back to encode_image."""
    arr = noisy()
    inp = Input(prompt="p", format="jpeg")
    out = frames.make_output(inp, 1, [arr, arr[:, ::-1]], [False, False], {}, quality=quality)
    assert out.images[0].content == encode_image(arr, "jpeg", quality=quality)
    assert out.images[1].content == encode_image(arr[:, ::-1], "jpeg", quality=quality)
    assert out.images[0].url.startswith("data:image/jpeg;base64,")
    assert (out.images[0].width, out.images[0].height) == (128, 96)


def test_numpy_and_torch_paths_agree() -> None:
    """The CPU float32 (numpy) conversions give the same values as the torch ones used on other
    devices and dtypes."""
    arr = noisy(48, 64)
    np_pix = loop.uint8_to_pixels(arr, "cpu", torch.float32)
    t = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)
    assert torch.equal(np_pix, t.to(torch.float32).mul_(1.0 / 127.5).sub_(1.0))
    x = torch.randn(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    torch_u8 = (x.mul(127.5).add_(128.0).clamp_(0.0, 255.0).to(torch.uint8)
                .permute(0, 2, 3, 1).contiguous().numpy())
    assert np.array_equal(loop.pixels_to_uint8(x), torch_u8)
    assert np.array_equal(loop.pixels_to_uint8(x.double()), torch_u8)  # the torch path
