"""Inpainting in LocalLCM's lean loop (latent blending with the plain 4-channel UNet), on the
random-weight ``tiny`` (LCM steps) and ``tiny-turbo`` (Euler steps) models."""

from __future__ import annotations

import asyncio
import struct
import zlib
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from local_helpers import pixels  # noqa: E402
from PIL import Image  # noqa: E402

from lcm_widgets.backends.base import plan_batches  # noqa: E402
from lcm_widgets.backends.local import LocalLCM, loop  # noqa: E402
from lcm_widgets.errors import InvalidImage, InvalidInput  # noqa: E402
from lcm_widgets.images import encode_image, load_mask  # noqa: E402
from lcm_widgets.schema import Input, parse_input  # noqa: E402

SIDE = 128  # source and output side: 16x16 latents, quick on the CPU


@pytest.fixture(scope="module")
def source() -> bytes:
    arr = np.full((SIDE, SIDE, 3), 255, np.uint8)
    arr[20:60, 10:118] = (30, 90, 200)
    arr[70:110, 40:90] = (200, 40, 40)
    return encode_image(arr, "png")


def _mask(kind: str, side: int = SIDE) -> bytes:
    """A PNG mask: ``left`` (left half white: repaint it, keep the right), ``black``,
    ``white``."""
    arr = np.zeros((side, side), np.uint8)
    if kind == "left":
        arr[:, : side // 2] = 255
    elif kind == "white":
        arr[:] = 255
    return encode_image(np.stack([arr] * 3, axis=-1), "png")


def _req(source: bytes, mask: bytes | None, **kw: Any) -> dict[str, Any]:
    req = {"prompt": "a house", "image_url": source, "num_inference_steps": 4, "strength": 0.5,
           "seed": 3, "format": "png", **kw}
    if mask is not None:
        req["mask_url"] = mask
    return req


def _final(backend: LocalLCM, req: dict[str, Any]) -> Any:
    """The final latents before the VAE decode (the loop's ``latents_only`` hook)."""
    inp = parse_input(req)
    return backend._worker.run(lambda: backend._run([inp], latents_only=True))


def _image_latents(backend: LocalLCM, req: dict[str, Any]) -> Any:
    """The source image's latents as the loop encodes them for ``req`` (the VAE posterior
    sample is the first draw of the seed's noise: the same tape, replayed)."""
    inp = parse_input(req)

    def run() -> Any:
        src = backend._sources([inp])
        pixels = loop.uint8_to_pixels(src.pixels, backend.device, torch.float32)
        gen = backend._noise.cursor(inp.seed, "cpu")
        return loop.encode_image(backend.components.vae, pixels, [gen])

    return backend._worker.run(run)


@pytest.fixture(scope="module")
def turbo(model_cache: str) -> LocalLCM:
    return LocalLCM("tiny-turbo", warmup=False, progress=False)


@pytest.fixture(params=["lcm", "turbo"])
def model(request: pytest.FixtureRequest, lcm: LocalLCM, turbo: LocalLCM) -> LocalLCM:
    """Both samplers: LCM steps (``tiny``) and Euler steps (``tiny-turbo``)."""
    return lcm if request.param == "lcm" else turbo


def test_unmasked_latents_are_the_inputs_and_the_masked_ones_change(
        model: LocalLCM, source: bytes) -> None:
    """Left half repainted, right half kept: the kept latent columns equal the source's
    latents; the repainted ones differ from them."""
    final = _final(model, _req(source, _mask("left")))
    init = _image_latents(model, _req(source, None))
    half = final.shape[-1] // 2
    assert final.shape == init.shape == (1, 4, SIDE // 8, SIDE // 8)
    torch.testing.assert_close(final[..., half:], init[..., half:], rtol=0, atol=1e-6)
    assert float((final[..., :half] - init[..., :half]).abs().mean()) > 0.05


def test_all_black_mask_returns_the_input_latents(model: LocalLCM, source: bytes) -> None:
    """Nothing to repaint: the final latents are the source's latents."""
    final = _final(model, _req(source, _mask("black")))
    torch.testing.assert_close(final, _image_latents(model, _req(source, None)), rtol=0,
                               atol=1e-6)


def test_all_white_mask_is_plain_img2img_exactly(model: LocalLCM, source: bytes) -> None:
    """Everything repainted: the same latents and the same PNG bytes as image-to-image."""
    masked = _req(source, _mask("white"))
    plain = _req(source, None)
    assert torch.equal(_final(model, masked), _final(model, plain))
    a, b = model.generate_sync(masked), model.generate_sync(plain)
    assert a.images[0].content == b.images[0].content


def test_same_seed_same_bytes_other_seed_differs(lcm: LocalLCM, source: bytes) -> None:
    """Inpainting is as reproducible as image-to-image."""
    a = lcm.generate_sync(_req(source, _mask("left")))
    b = lcm.generate_sync(_req(source, _mask("left")))
    c = lcm.generate_sync(_req(source, _mask("left"), seed=4))
    assert a.images[0].content == b.images[0].content != c.images[0].content
    assert (a.images[0].width, a.images[0].height) == (SIDE, SIDE)


def test_resized_output_keeps_the_region(lcm: LocalLCM, source: bytes) -> None:
    """With image_size the mask is resized with the image: still the right half kept."""
    size = {"width": 64, "height": 64}
    final = _final(lcm, _req(source, _mask("left"), image_size=size))
    init = _image_latents(lcm, _req(source, None, image_size=size))
    assert final.shape == (1, 4, 8, 8)
    torch.testing.assert_close(final[..., 4:], init[..., 4:], rtol=0, atol=1e-6)


def test_mask_of_another_size_names_both(lcm: LocalLCM, source: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        lcm.generate_sync(_req(source, _mask("left", side=64)))
    assert str(info.value) == "mask_url: must be 128x128 like image_url, got 64x64"
    assert info.value.field == "mask_url"


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` (its pixel data is not even zlib)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"junk")
            + chunk(b"IEND", b""))


@pytest.mark.parametrize(("mask", "words"), [
    (b"not an image at all", "mask_url: not a recognised image format"),
    (_png_header(30000, 30000), "mask_url: image is 30000x30000 = 900000000 pixels, over "
                                "the limit of"),
    (_png_header(SIDE, SIDE), "mask_url: could not decode the PNG image"),
    ("https://example.com/mask.png", "mask_url: URLs are not fetched"),
])
def test_bad_masks_are_refused_naming_mask_url(lcm: LocalLCM, source: bytes, mask: Any,
                                               words: str) -> None:
    """Not an image, a decompression bomb (refused from its header), a corrupt one, a URL."""
    with pytest.raises(InvalidImage) as info:
        lcm.generate_sync(_req(source, mask))
    assert str(info.value).startswith(words)
    assert info.value.field == "mask_url"


def test_a_run_keeps_going_after_a_bad_mask(lcm: LocalLCM, source: bytes) -> None:
    """Ten frames, the fifth with a broken mask: it alone fails; every other frame gives
    what it gives alone (nothing cached from the bad one)."""
    good = _mask("left")

    async def run() -> list[Any]:
        out = []
        for k in range(10):
            req = _req(source, b"broken" if k == 4 else good, seed=k)
            try:
                out.append(await lcm.generate(parse_input(req)))
            except InvalidImage as exc:
                out.append(exc)
        return out

    results = asyncio.run(run())
    assert isinstance(results[4], InvalidImage) and results[4].field == "mask_url"
    assert all(not isinstance(r, Exception) for k, r in enumerate(results) if k != 4)
    alone = lcm.generate_sync(_req(source, good, seed=7))
    assert results[7].images[0].content == alone.images[0].content


def test_batches_take_a_mask_per_row(lcm: LocalLCM, source: bytes) -> None:
    """Different masks share one UNet batch (mask_url is a batch axis); each row equals its
    request alone; a masked request never shares a batch with an unmasked one."""
    reqs = [parse_input(_req(source, _mask(kind), seed=s))
            for kind, s in (("left", 1), ("black", 2), ("white", 3))]
    plain = parse_input(_req(source, None, seed=3))
    assert "mask_url" in lcm.info.batch_axes
    assert plan_batches([*reqs, plain], lcm.info) == [[0, 1, 2], [3]]
    before = lcm.batch_sizes[3]
    outs = asyncio.run(lcm.generate_batch(reqs))
    assert lcm.batch_sizes[3] == before + 1
    for inp, out in zip(reqs, outs, strict=True):
        alone = lcm.generate_sync(inp)
        diff = pixels(out.images[0].content) - pixels(alone.images[0].content)
        assert np.abs(diff).max() <= 2


def test_masks_decode_to_one_channel() -> None:
    """load_mask: grey as is; RGB by its luma; a one-colour brush layer on transparency by
    its alpha; several colours on transparency composited onto black."""
    grey = np.array([[0, 128, 255]], np.uint8)
    assert np.array_equal(np.asarray(load_mask(encode_image(np.stack([grey] * 3, -1), "png"))),
                          grey)
    layer = np.zeros((1, 3, 4), np.uint8)
    layer[..., :3] = (200, 30, 30)  # a red brush: colour everywhere, strokes in the alpha
    layer[0, :, 3] = (0, 100, 255)
    assert np.array_equal(np.asarray(load_mask(Image.fromarray(layer, "RGBA"))),
                          [[0, 100, 255]])
    mixed = np.array([[[255, 255, 255, 255], [255, 255, 255, 0], [0, 0, 0, 255]]], np.uint8)
    assert np.array_equal(np.asarray(load_mask(Image.fromarray(mixed, "RGBA"))), [[255, 0, 0]])
    assert load_mask(Image.fromarray(mixed, "RGBA")).mode == "L"


def test_inpainting_needs_its_image() -> None:
    """The schema's rule: a mask without image_url is refused (the backend never sees it)."""
    with pytest.raises(InvalidInput) as info:
        parse_input({"prompt": "x", "mask_url": _mask("left")})
    assert "mask_url: needs image_url" in str(info.value)
    assert Input(prompt="x", image_url=b"x", mask_url=b"y").is_inpainting
