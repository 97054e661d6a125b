"""Turbo models in LocalLCM's lean loop: the tiny-turbo model, Euler and Euler-ancestral steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from lcm_widgets.backends.local import LocalLCM  # noqa: E402
from lcm_widgets.backends.local.loading import _scheduler  # noqa: E402
from lcm_widgets.backends.local.loop import make_schedule  # noqa: E402
from lcm_widgets.backends.local.reference import final_latents  # noqa: E402
from lcm_widgets.images import encode_image, image_dims  # noqa: E402
from lcm_widgets.models.presets import resolve_preset  # noqa: E402
from lcm_widgets.models.scheduler import TURBO_SCHEDULER  # noqa: E402

SIZE = {"width": 64, "height": 64}


@pytest.fixture(scope="module")
def turbo(model_cache: str) -> LocalLCM:
    """tiny-turbo, built into the session's model cache and loaded with from_pretrained."""
    return LocalLCM("tiny-turbo", warmup=False, progress=False)


@pytest.fixture(scope="module")
def source() -> bytes:
    arr = np.full((64, 64, 3), 255, np.uint8)
    arr[10:30, 8:56] = (30, 90, 200)
    return encode_image(arr, "png")


def _close(lean: Any, ref: Any) -> None:
    scale = float(ref.abs().max())
    assert float((lean - ref).abs().max()) <= 1e-4 * max(scale, 1.0)


def test_turbo_presets_and_scheduler() -> None:
    """The turbo presets load with kind 'turbo'; a turbo repo id resolves to its preset; the
    scheduler kept is the shipped Euler one with trailing timesteps."""
    assert resolve_preset("sd-turbo").repo == "stabilityai/sd-turbo"
    assert resolve_preset("stabilityai/sdxl-turbo").name == "sdxl-turbo"
    assert resolve_preset("sdxl-turbo").family == "sdxl"
    assert resolve_preset("tiny-turbo").kind == "turbo"
    leading = diffusers.EulerAncestralDiscreteScheduler(
        **{**TURBO_SCHEDULER, "timestep_spacing": "leading"})
    kept = _scheduler(diffusers, leading, resolve_preset("sdxl-turbo"))
    assert type(kept).__name__ == "EulerAncestralDiscreteScheduler"
    assert kept.config.timestep_spacing == "trailing"
    lcm_like = diffusers.LCMScheduler(num_train_timesteps=1000)
    assert type(_scheduler(diffusers, lcm_like, resolve_preset("sd-turbo"))).__name__ == (
        "EulerDiscreteScheduler")
    trailing = diffusers.EulerDiscreteScheduler(**TURBO_SCHEDULER)
    assert _scheduler(diffusers, trailing, resolve_preset("sd-turbo")) is trailing


def test_euler_schedule_steps_and_tail() -> None:
    """1, 2 and 4 steps start at t=999 (trailing); image-to-image keeps the last
    int(steps * strength) steps and noises the source with the first kept sigma."""
    sched = diffusers.EulerDiscreteScheduler(**TURBO_SCHEDULER)
    assert make_schedule(sched, 1, None, "cpu").timesteps == (999,)
    assert make_schedule(sched, 2, None, "cpu").timesteps == (999, 499)
    full = make_schedule(sched, 4, None, "cpu")
    assert full.timesteps == (999, 749, 499, 249)
    assert full.sampler == "euler" and full.init_sigma == pytest.approx(full.coeffs[0][0])
    tail = make_schedule(sched, 4, 0.5, "cpu")
    assert tail.timesteps == (499, 249)
    assert tail.noise_scale == (1.0, pytest.approx(full.coeffs[2][0]))
    assert tail.coeffs[-1][1:] == (0.0, 0.0)  # the last step lands on sigma 0
    anc = diffusers.EulerAncestralDiscreteScheduler(**TURBO_SCHEDULER)
    a = make_schedule(anc, 2, None, "cpu")
    assert a.sampler == "euler_a" and a.coeffs[0][2] > 0.0  # sigma_up: noise on step 1


def test_tiny_turbo_one_step_txt2img_same_seed_same_bytes(turbo: LocalLCM) -> None:
    """One-step text-to-image with guidance 0: the same seed gives the same bytes, another
    seed other bytes, and the lean loop's latents are the stock pipeline's."""
    assert turbo.info.extra["scheduler"] == "EulerDiscreteScheduler"
    assert turbo.info.extra["guidance"] == "cfg"
    inp = {"prompt": "a cat", "seed": 5, "num_inference_steps": 1, "guidance_scale": 0.0,
           "image_size": SIZE}
    a = turbo.generate_sync(inp).images[0]
    b = turbo.generate_sync(inp).images[0]
    assert a.content == b.content and (a.width, a.height) == (64, 64)
    assert turbo.generate_sync({**inp, "seed": 6}).images[0].content != a.content
    _close(final_latents(turbo, inp), final_latents(turbo, inp, reference=True))


def test_tiny_turbo_one_step_img2img_same_seed_same_bytes(turbo: LocalLCM,
                                                         source: bytes) -> None:
    """Image-to-image with steps 2 and strength 0.5 (one UNet call): same seed, same bytes; the
    result follows the source (it differs from text-to-image) and matches the stock
    StableDiffusionImg2ImgPipeline on the same components."""
    inp = {"prompt": "a cat", "seed": 9, "num_inference_steps": 2, "strength": 0.5,
           "image_url": source, "guidance_scale": 0.0}
    a = turbo.generate_sync(inp).images[0].data()
    assert a == turbo.generate_sync(inp).images[0].data()
    assert image_dims(a) == (64, 64)
    t2i = {k: v for k, v in inp.items() if k not in ("image_url", "strength")}
    assert turbo.generate_sync({**t2i, "image_size": SIZE}).images[0].content != a
    _close(final_latents(turbo, inp), final_latents(turbo, inp, reference=True))


def test_tiny_turbo_guidance_above_one_runs_cfg(turbo: LocalLCM, source: bytes) -> None:
    """guidance_scale > 1 on a turbo model is classifier-free guidance with the negative
    prompt, as in the stock pipeline (four steps, image-to-image)."""
    inp = {"prompt": "a cat", "negative_prompt": "a dog", "seed": 2, "num_inference_steps": 4,
           "strength": 0.5, "image_url": source, "guidance_scale": 2.0}
    _close(final_latents(turbo, inp), final_latents(turbo, inp, reference=True))
    other = {**inp, "negative_prompt": "a boat"}
    assert not torch.equal(final_latents(turbo, inp), final_latents(turbo, other))


def test_euler_ancestral_matches_the_stock_pipeline(model_cache: str) -> None:
    """With the Euler-ancestral scheduler (SDXL-Turbo ships one), multi-step text-to-image
    draws its step noise in the stock order: same latents as the stock pipeline, and the same
    seed gives the same bytes."""
    lcm = LocalLCM("tiny-turbo", warmup=False, progress=False)
    pipe = lcm.components
    pipe.scheduler = diffusers.EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    inp = {"prompt": "a cat", "seed": 4, "num_inference_steps": 3, "guidance_scale": 0.0,
           "image_size": SIZE}
    _close(final_latents(lcm, inp), final_latents(lcm, inp, reference=True))
    assert lcm.generate_sync(inp).images[0].content == lcm.generate_sync(inp).images[0].content
