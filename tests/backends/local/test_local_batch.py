"""LocalLCM batches by the one batch rule: different source images share a UNet batch, each
result equals the same input run alone, and ``batch_sizes`` counts the batches.

Tolerances: a row of a batch and the same input alone run the same math on the same noise, but
batched convolutions and GEMMs round float32 in another order, so they agree up to rounding,
not bit for bit (measured on the tiny model here: latents rel. L2 about 1e-4, pixels at most
1/255). The bounds are latents rel. L2 < 1e-3 and pixels <= 2/255, the pixel bound of the other
batched-vs-unbatched tests; 1e-2 would be the lean-vs-stock bound, which compares two
implementations.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from local_helpers import pixels  # noqa: E402
from PIL import Image  # noqa: E402

from lcm_widgets.backends.base import plan_batches  # noqa: E402
from lcm_widgets.backends.local import LocalLCM  # noqa: E402
from lcm_widgets.backends.local.frames import load_sources  # noqa: E402
from lcm_widgets.backends.local.reference import batch_latents, final_latents  # noqa: E402
from lcm_widgets.errors import InvalidInput  # noqa: E402
from lcm_widgets.images import encode_image  # noqa: E402
from lcm_widgets.schema import Input  # noqa: E402

SIZE = 128  # small frames: tiny runs quickly on two CPU cores


def drawing(colour: tuple[int, int, int], *, jpeg: bool = False, size: int = SIZE) -> bytes:
    """A white canvas with one coloured block, as PNG or (the Sketchpad's) JPEG bytes."""
    arr = np.full((size, size, 3), 255, np.uint8)
    arr[size // 6: size * 5 // 8, size // 4: size * 3 // 4] = colour
    if not jpeg:
        return encode_image(arr, "png")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def cell(image: bytes, seed: int, **kw: Any) -> dict[str, Any]:
    """An image-to-image request (2 UNet evaluations) on ``image``."""
    return {"prompt": "a house", "image_url": image, "num_inference_steps": 4, "strength": 0.5,
            "seed": seed, "format": "png", **kw}


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    """Three different drawings of one size (PNG, JPEG, PNG)."""
    return [drawing((200, 30, 30)), drawing((30, 200, 30), jpeg=True), drawing((30, 30, 200))]


@pytest.fixture(scope="module")
def mixed(images: list[bytes]) -> list[dict[str, Any]]:
    """Four requests, five images: three source images (one used twice), several prompts,
    seeds and guidance scales, one request with num_images=2 (all PNG: a JPEG re-encode would
    turn a 1/255 rounding difference into larger ones)."""
    return [cell(images[0], 1),
            cell(images[1], 2, prompt="a boat", guidance_scale=2.5),
            cell(images[0], 3, num_images=2),
            cell(images[2], 4, prompt="a tree", negative_prompt="dark")]


def rel_l2(a: Any, b: Any) -> float:
    return float((a - b).norm() / b.norm())


def test_different_images_form_one_batch(lcm: LocalLCM, mixed: list[dict[str, Any]]) -> None:
    """The batch rule on lcm.info puts requests with different source images in one group."""
    cells = [Input(**c) for c in mixed]
    assert plan_batches(cells, lcm.info) == [[0, 1, 2, 3]]


def test_batch_of_different_images_equals_each_alone(lcm: LocalLCM,
                                                     mixed: list[dict[str, Any]]) -> None:
    """generate_batch over different source images runs one UNet batch of 5 images, and every
    image equals that request run alone (same seed)."""
    cells = [Input(**c) for c in mixed]
    before = lcm.batch_sizes
    batched = asyncio.run(lcm.generate_batch(cells))
    assert lcm.batch_sizes - before == Counter({5: 1})  # one batch, all five images
    for c, out in zip(cells, batched, strict=True):
        alone = lcm.generate_sync(c)
        assert out.seed == alone.seed == c.seed
        assert len(out.images) == len(alone.images) == c.num_images
        for x, y in zip(out.images, alone.images, strict=True):
            diff = np.abs(pixels(x.data()) - pixels(y.data())).max()
            assert diff <= 2, (c.seed, c.prompt, diff)


def test_batch_latents_equal_each_alone(lcm: LocalLCM, mixed: list[dict[str, Any]]) -> None:
    """Row by row, the batched final latents are those of each request alone (rel. L2 < 1e-3),
    and rows of different seeds or images differ."""
    batched = batch_latents(lcm, mixed)
    alone = torch.cat([final_latents(lcm, c) for c in mixed])
    assert batched.shape == alone.shape == (5, 4, SIZE // 8, SIZE // 8)
    for row in range(batched.shape[0]):
        assert rel_l2(batched[row], alone[row]) < 1e-3, row
    assert rel_l2(batched[2], batched[3]) > 1e-2  # seed 3 and 4 (num_images=2), one image
    assert rel_l2(batched[0], batched[2]) > 1e-2  # same image, seeds 1 and 3


def test_same_image_is_encoded_once(lcm: LocalLCM, images: list[bytes]) -> None:
    """Rows that share the very same image bytes (one drawing in many cells) are VAE-encoded
    once: one encoder call over the distinct images only."""
    seen: list[int] = []
    encoder = lcm.components.vae.encoder
    hook = encoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[0]))
    try:
        asyncio.run(lcm.generate_batch([Input(**cell(images[0], s)) for s in range(3)]))
        assert seen == [1]
        seen.clear()
        asyncio.run(lcm.generate_batch([Input(**cell(images[k % 2], s)) for k, s in
                                        enumerate(range(4))]))
        assert seen == [2]
    finally:
        hook.remove()


def test_sources_of_other_sizes_run_apart(lcm: LocalLCM, images: list[bytes]) -> None:
    """Without image_size, sources of different sizes never share a batch (the output takes
    the source's size); with image_size set, they do."""
    big = drawing((90, 90, 90), size=2 * SIZE)
    cells = [Input(**cell(images[0], 1)), Input(**cell(big, 2))]
    assert plan_batches(cells, lcm.info) == [[0], [1]]
    before = lcm.batch_sizes
    outs = asyncio.run(lcm.generate_batch(cells))
    assert lcm.batch_sizes - before == Counter({1: 2})
    assert [o.images[0].width for o in outs] == [SIZE, 2 * SIZE]
    sized = [Input(**cell(img, 1, image_size={"width": SIZE, "height": SIZE}))
             for img in (images[0], big)]
    assert plan_batches(sized, lcm.info) == [[0, 1]]
    before = lcm.batch_sizes
    outs = asyncio.run(lcm.generate_batch(sized))
    assert lcm.batch_sizes - before == Counter({2: 1})
    assert [o.images[0].width for o in outs] == [SIZE, SIZE]


def test_load_sources_refuses_two_sizes(images: list[bytes]) -> None:
    """Decoding a batch whose sources come out at two sizes, or that mixes text-to-image in,
    is an InvalidInput naming image_url (the batch rule never builds one); distinct images are
    stacked once each, in order of first use."""
    cells = [Input(**cell(images[0], 1)), Input(**cell(drawing((9, 9, 9), size=2 * SIZE), 2))]
    with pytest.raises(InvalidInput, match=r"image_url: .* got 128x128 and 256x256") as e:
        load_sources(cells, 512)
    assert e.value.field == "image_url"
    with pytest.raises(InvalidInput, match="image_url: one batch must be all image-to-image"):
        load_sources([Input(**cell(images[0], 1)), Input(prompt="p", seed=2)], 512)
    src = load_sources([Input(**cell(images[k], k)) for k in (0, 1, 0, 2)], 512)
    assert src.rows == [0, 1, 0, 2] and src.pixels.shape == (3, SIZE, SIZE, 3)
    assert src.size == (SIZE, SIZE)


def test_batch_sizes_counts_model_batches(lcm: LocalLCM, images: list[bytes]) -> None:
    """batch_sizes maps images per UNet batch to calls: a single request counts 1, num_images=2
    counts 2, a batch of three requests (each with its own output format) counts 3; it is a
    copy the caller cannot change."""
    before = lcm.batch_sizes
    lcm.generate_sync(cell(images[0], 1))
    lcm.generate_sync(cell(images[1], 1, num_images=2))
    formats = ["png", "jpeg", "png"]
    outs = asyncio.run(lcm.generate_batch([Input(**cell(images[k], k, format=formats[k]))
                                           for k in range(3)]))
    assert [o.images[0].content_type for o in outs] == [f"image/{f}" for f in formats]
    assert lcm.batch_sizes - before == Counter({1: 1, 2: 1, 3: 1})
    snapshot = lcm.batch_sizes
    snapshot[99] += 1
    assert 99 not in lcm.batch_sizes


def test_warmup_is_not_counted(model_cache: str) -> None:
    """A fresh LocalLCM has run its warm-up frames but counts no batches yet."""
    fresh = LocalLCM("tiny", progress=False)
    try:
        assert fresh.batch_sizes == Counter()
        fresh.generate_sync(cell(drawing((1, 2, 3)), 1))
        assert fresh.batch_sizes == Counter({1: 1})
    finally:
        asyncio.run(fresh.aclose())
