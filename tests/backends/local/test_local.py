"""LocalLCM on CPU with the random-weight ``tiny`` model (loaded through from_pretrained)."""

from __future__ import annotations

import asyncio
import io
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from local_helpers import STAGES, i2i, pixels, t2i  # noqa: E402
from PIL import Image  # noqa: E402

from lcm_widgets.backends.base import BatchingBackend, plan_batches  # noqa: E402
from lcm_widgets.backends.local import LocalLCM  # noqa: E402
from lcm_widgets.backends.local.backend import BATCH_AXES  # noqa: E402
from lcm_widgets.backends.local.reference import final_latents, reference_output  # noqa: E402
from lcm_widgets.errors import (  # noqa: E402
    BackendError,
    GenerationFailed,
    InvalidImage,
    InvalidInput,
)
from lcm_widgets.images import encode_image  # noqa: E402
from lcm_widgets.schema import Input  # noqa: E402


def test_info_and_protocol(lcm: LocalLCM) -> None:
    """info names the backend, model, device and batch axes (every field the lean loop varies
    per row, the source image included; never steps, strength or size); a BatchingBackend."""
    assert isinstance(lcm, BatchingBackend)
    info = lcm.info
    assert (info.name, info.model, info.device, info.dtype) == ("local", "tiny", "cpu",
                                                                 "float32")
    assert info.can_batch and info.max_batch >= 2
    assert info.batch_axes == BATCH_AXES
    assert {"seed", "guidance_scale", "prompt", "negative_prompt", "image_url", "num_images",
            "format", "enable_safety_checker"} <= set(info.batch_axes)
    assert not {"num_inference_steps", "strength", "image_size"} & set(info.batch_axes)
    assert lcm.native_size == 512


def test_img2img_same_seed_same_bytes(lcm: LocalLCM, sketch: bytes) -> None:
    """Image-to-image with one seed gives identical JPEG bytes twice."""
    a = lcm.generate_sync(i2i(sketch))
    b = lcm.generate_sync(i2i(sketch))
    assert a.images[0].content == b.images[0].content
    assert a.seed == 1 and a.images[0].width == a.images[0].height == 512


def test_txt2img_same_seed_same_bytes(lcm: LocalLCM) -> None:
    """Text-to-image with one seed gives identical bytes; another seed differs."""
    a = lcm.generate_sync(t2i())
    b = lcm.generate_sync(t2i())
    c = lcm.generate_sync(t2i(seed=2))
    assert a.images[0].content == b.images[0].content
    assert a.images[0].content != c.images[0].content


def test_img2img_different_seed_different_bytes(lcm: LocalLCM, sketch: bytes) -> None:
    """Different seeds give different images."""
    a = lcm.generate_sync(i2i(sketch, seed=1))
    b = lcm.generate_sync(i2i(sketch, seed=2))
    assert a.images[0].content != b.images[0].content


def test_num_images_are_distinct_and_use_seed_plus_k(lcm: LocalLCM, sketch: bytes) -> None:
    """num_images=2 gives 2 distinct images; image 1 is what seed + 1 gives alone."""
    out = lcm.generate_sync(i2i(sketch, seed=10, num_images=2, format="png"))
    assert len(out.images) == 2 and out.has_nsfw_concepts == [False, False]
    assert out.images[0].content != out.images[1].content
    alone = lcm.generate_sync(i2i(sketch, seed=11, format="png"))
    assert np.abs(pixels(out.images[1].data()) - pixels(alone.images[0].data())).max() <= 2


def test_random_seed_is_returned_and_reproduces(lcm: LocalLCM) -> None:
    """Without a seed one is drawn and returned; passing it back reproduces the image."""
    out = lcm.generate_sync(t2i(seed=None))
    assert 0 <= out.seed < 2**32
    again = lcm.generate_sync(t2i(seed=out.seed))
    assert again.images[0].content == out.images[0].content


def test_output_fields(lcm: LocalLCM, sketch: bytes) -> None:
    """url is a data URI of content; request_id echoed; png works; timings per stage."""
    out = lcm.generate_sync(i2i(sketch, format="png", request_id="r-1", sync_mode=False))
    img = out.images[0]
    assert img.url.startswith("data:image/png;base64,")
    assert img.content is not None and img.content.startswith(b"\x89PNG")
    assert img.file_size == len(img.content) and img.content_type == "image/png"
    assert out.request_id == "r-1" and out.prompt == "a house"
    assert set(out.timings) >= STAGES and all(v >= 0 for v in out.timings.values())
    assert "content" not in out.model_dump()["images"][0]
    jpeg = lcm.generate_sync(t2i())
    assert (jpeg.images[0].content or b"")[:3] == b"\xff\xd8\xff"
    assert set(jpeg.timings) >= STAGES


def test_sizes(lcm: LocalLCM) -> None:
    """Source size is kept (rounded down to a multiple of 8); image_size resizes."""
    odd = encode_image(np.full((203, 330, 3), 128, np.uint8), "png")
    out = lcm.generate_sync(i2i(odd, seed=3))
    assert (out.images[0].width, out.images[0].height) == (328, 200)
    out = lcm.generate_sync(i2i(odd, image_size={"width": 256, "height": 192}))
    assert Image.open(io.BytesIO(out.images[0].data())).size == (256, 192)
    out = lcm.generate_sync(t2i(image_size={"width": 320, "height": 256}))
    assert (out.images[0].width, out.images[0].height) == (320, 256)


def test_steps_times_strength_rule(lcm: LocalLCM, sketch: bytes) -> None:
    """int(steps * strength) < 1 is a schema error naming both fields."""
    with pytest.raises(InvalidInput, match=r"num_inference_steps \* strength.*int\(1 \* 0.5\)"):
        lcm.generate_sync(i2i(sketch, num_inference_steps=1, strength=0.5))


def test_model_name_mismatch(lcm: LocalLCM) -> None:
    """model_name naming another model is refused and names the loaded one."""
    with pytest.raises(InvalidInput, match="model_name: this LocalLCM has 'tiny' loaded") as e:
        lcm.generate_sync(t2i(model_name="runwayml/stable-diffusion-v1-5"))
    assert e.value.field == "model_name"
    assert lcm.generate_sync(t2i(model_name="tiny")).images


def test_expand_prompt_refused(lcm: LocalLCM) -> None:
    """expand_prompt=True is not supported locally."""
    with pytest.raises(InvalidInput, match="expand_prompt: not supported") as e:
        lcm.generate_sync(t2i(expand_prompt=True))
    assert e.value.field == "expand_prompt"


def test_bad_image_then_keeps_working(lcm: LocalLCM, sketch: bytes) -> None:
    """Undecodable bytes and URLs raise InvalidImage on image_url; the next call works."""
    with pytest.raises(InvalidImage, match="image_url"):
        lcm.generate_sync(i2i(b"not an image at all"))
    with pytest.raises(InvalidImage, match="image_url: URLs are not fetched"):
        lcm.generate_sync(i2i("https://example.com/cat.png"))
    with pytest.raises(InvalidImage, match="image_url"):
        lcm.generate_sync(i2i("/etc/passwd"))
    assert lcm.generate_sync(i2i(sketch)).images


def test_torch_error_becomes_generation_failed(model_cache: str) -> None:
    """An error raised inside torch becomes GenerationFailed (cause chained); then it recovers."""
    lcm = LocalLCM("tiny", warmup=False, progress=False)
    lcm.components.unet.to(torch.bfloat16)  # float32 latents into a bfloat16 UNet: torch raises
    with pytest.raises(GenerationFailed, match="local model 'tiny' failed") as e:
        lcm.generate_sync(t2i())
    assert isinstance(e.value.__cause__, RuntimeError)
    lcm.components.unet.to(torch.float32)
    assert lcm.generate_sync(t2i()).images


def test_negative_prompt_ignored_by_w_embedding_models(lcm: LocalLCM) -> None:
    """The tiny model guides through the w-embedding, so negative_prompt changes nothing."""
    a = lcm.generate_sync(t2i(negative_prompt="blurry"))
    b = lcm.generate_sync(t2i())
    assert a.images[0].content == b.images[0].content
    c = lcm.generate_sync(t2i(guidance_scale=4.0))
    assert c.images[0].content != b.images[0].content


def test_prompt_cache(lcm: LocalLCM) -> None:
    """A repeated prompt is served from the embedding cache."""
    lcm.generate_sync(t2i(prompt="cache me"))
    hits = lcm.prompts.hits
    lcm.generate_sync(t2i(prompt="cache me", seed=5))
    assert lcm.prompts.hits == hits + 1


def test_schedule_cache_is_bounded(lcm: LocalLCM, sketch: bytes) -> None:
    """200 distinct strengths (a client sweeping a slider on a long-running server) leave at
    most SCHEDULE_CACHE_SIZE schedules cached, least recently used dropped first; evicted ones
    are rebuilt identically and frames do not change."""
    from lcm_widgets.backends.local.backend import SCHEDULE_CACHE_SIZE
    from lcm_widgets.backends.local.loop import make_schedule

    small = {"image_size": {"width": 128, "height": 128}, "format": "png",
             "num_inference_steps": 8}
    before = lcm.generate_sync(i2i(sketch, strength=0.5, **small)).images[0].content
    strengths = [0.25 + k / 400 for k in range(200)]  # 0.25 .. 0.7475: 2 to 5 of the 8 steps
    for k, strength in enumerate(strengths):
        if k % 25 == 0:  # some through real frames, the rest through the same lookup
            out = lcm.generate_sync(i2i(sketch, strength=strength, **small))
            assert out.images[0].width == 128
        else:
            lcm._schedule(8, strength)
        assert len(lcm._schedules) <= SCHEDULE_CACHE_SIZE
    assert len(lcm._schedules) == SCHEDULE_CACHE_SIZE
    assert (8, 0.5) not in lcm._schedules and (8, strengths[-1]) in lcm._schedules
    hit = lcm._schedule(8, strengths[-1])
    assert lcm._schedule(8, strengths[-1]) is hit  # served from the cache
    oldest, second = lcm._schedules.keys()[:2]
    lcm._schedule(*oldest)  # used again: now the newest
    lcm._schedule(8, 0.999)
    assert oldest in lcm._schedules and second not in lcm._schedules
    rebuilt = lcm._schedule(8, 0.5)
    fresh = make_schedule(lcm._c.pipe.scheduler, 8, 0.5, lcm.device)
    assert rebuilt.timesteps == fresh.timesteps and len(rebuilt.timesteps) == 4
    assert rebuilt.coeffs == fresh.coeffs and rebuilt.noise_scale == fresh.noise_scale
    assert lcm.generate_sync(i2i(sketch, strength=0.5, **small)).images[0].content == before


def test_replayed_noise_changes_nothing(lcm: LocalLCM, sketch: bytes) -> None:
    """Frames served from the seeded-noise tapes (a fixed seed, as while drawing) are the bytes
    a fresh generator gives, across changes of steps, strength, size and mode that make the
    tapes restart."""
    small = {"image_size": {"width": 128, "height": 128}, "format": "png"}
    jobs = [i2i(sketch, **small), i2i(sketch, **small), t2i(**small),
            i2i(sketch, num_inference_steps=8, strength=0.75, **small), i2i(sketch),
            t2i(num_inference_steps=2, **small), i2i(sketch, **small)]
    replayed = [lcm.generate_sync(job).images[0].content for job in jobs]
    fresh = []
    for job in jobs:
        lcm._noise.clear()
        fresh.append(lcm.generate_sync(job).images[0].content)
    assert replayed == fresh
    assert replayed[0] == replayed[1] == replayed[-1]


def test_lean_matches_stock_img2img(lcm: LocalLCM, sketch: bytes) -> None:
    """Lean loop vs LatentConsistencyModelImg2ImgPipeline: same latents and image."""
    inp = i2i(sketch, seed=7, guidance_scale=2.0, format="png")
    lean = final_latents(lcm, inp)
    ref = final_latents(lcm, inp, reference=True)
    assert lean.shape == ref.shape == (1, 4, 64, 64)
    assert float((lean - ref).norm() / ref.norm()) < 1e-2
    a = pixels(lcm.generate_sync(inp).images[0].data())
    b = pixels(reference_output(lcm, inp).images[0].data())
    assert np.abs(a - b).max() <= 2


def test_lean_matches_stock_txt2img(lcm: LocalLCM) -> None:
    """Lean loop vs LatentConsistencyModelPipeline: same latents and images (2 per call)."""
    inp = t2i(seed=8, guidance_scale=1.0, num_images=2, format="png",
              image_size={"width": 384, "height": 256})
    lean = final_latents(lcm, inp)
    ref = final_latents(lcm, inp, reference=True)
    assert lean.shape == ref.shape == (2, 4, 32, 48)
    assert float((lean - ref).norm() / ref.norm()) < 1e-2
    ours, theirs = lcm.generate_sync(inp), reference_output(lcm, inp)
    for x, y in zip(ours.images, theirs.images, strict=True):
        assert np.abs(pixels(x.data()) - pixels(y.data())).max() <= 2


def test_batch_equals_unbatched(lcm: LocalLCM, sketch: bytes) -> None:
    """generate_batch over seeds, guidance and prompts equals one-by-one generation."""
    cells = [Input(**i2i(sketch, seed=s, guidance_scale=g, prompt=p, format="png"))
             for s, g, p in [(1, 1.0, "a house"), (2, 2.5, "a house"), (1, 1.5, "a boat"),
                             (3, 1.0, "a tree")]]
    cells.append(Input(**t2i(seed=4, format="png")))  # a different group: text-to-image
    batched = asyncio.run(lcm.generate_batch(cells))
    assert len(batched) == len(cells)
    for cell, out in zip(cells, batched, strict=True):
        single = lcm.generate_sync(cell)
        assert out.seed == cell.seed
        diff = np.abs(pixels(out.images[0].data()) - pixels(single.images[0].data())).max()
        assert diff <= 2, (cell.seed, cell.guidance_scale, cell.prompt, diff)


def test_batch_plan_groups_and_splits(lcm: LocalLCM, sketch: bytes) -> None:
    """Compatible inputs share a group (the batch rule on lcm.info); groups hold at most
    max_batch images."""
    cells = [Input(**i2i(sketch, seed=s)) for s in range(lcm.max_batch + 2)]
    cells.append(Input(**t2i()))
    cells.append(Input(**i2i(sketch, num_inference_steps=6)))
    plan = plan_batches(cells, lcm.info)
    assert sorted(i for g in plan for i in g) == list(range(len(cells)))
    assert [len(g) for g in plan] == [lcm.max_batch, 2, 1, 1]


def test_threads_share_one_model(lcm: LocalLCM, sketch: bytes) -> None:
    """Two threads generating at once get the same bytes as sequential calls."""
    reqs = [i2i(sketch, seed=21), t2i(seed=22)]
    expected = [lcm.generate_sync(r).images[0].content for r in reqs]
    got: list[bytes | None] = [None, None]

    def work(k: int) -> None:
        for _ in range(2):
            got[k] = lcm.generate_sync(reqs[k]).images[0].content

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


async def test_async_generate_and_concurrency(lcm: LocalLCM, sketch: bytes) -> None:
    """generate() is awaitable; concurrent calls serialize on the model lock."""
    a, b = await asyncio.gather(lcm.generate(Input(**i2i(sketch, seed=31))),
                                lcm.generate(Input(**t2i(seed=32))))
    assert a.seed == 31 and b.seed == 32


def test_taesd_path(model_cache: str, sketch: bytes) -> None:
    """vae='taesd' loads the tiny AutoencoderTiny; lean and stock paths agree with it."""
    lcm = LocalLCM("tiny", vae="taesd", warmup=False, progress=False)
    assert lcm.info.extra["vae"] == "taesd"
    assert type(lcm._c.vae).__name__ == "AutoencoderTiny"
    inp = i2i(sketch, seed=5, format="png")
    out = lcm.generate_sync(inp)
    assert out.images[0].width == 512
    lean, ref = final_latents(lcm, inp), final_latents(lcm, inp, reference=True)
    assert float((lean - ref).norm() / ref.norm()) < 1e-2
    assert lcm.generate_sync(t2i()).images


def test_aclose(model_cache: str) -> None:
    """After aclose() the backend refuses work with a BackendError; closing twice is fine."""
    lcm = LocalLCM("tiny", warmup=False, progress=False)
    asyncio.run(lcm.aclose())
    asyncio.run(lcm.aclose())
    with pytest.raises(BackendError, match="closed"):
        lcm.generate_sync(t2i())


def test_constructor_errors(model_cache: str) -> None:
    """Bad device, dtype and vae name the argument."""
    with pytest.raises(InvalidInput, match="dtype: must be one of"):
        LocalLCM("tiny", dtype="int8", warmup=False, progress=False)
    with pytest.raises(InvalidInput, match="vae: must be None, 'full' or 'taesd'"):
        LocalLCM("tiny", vae="big", warmup=False, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="no CUDA device"):
            LocalLCM("tiny", device="cuda", warmup=False, progress=False)
