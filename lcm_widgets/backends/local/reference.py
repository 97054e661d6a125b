"""The reference path: the same request through a stock diffusers pipeline ``__call__``.

For the tests (lean loop vs stock pipeline, same seed) and the bench (how much the lean loop
saves); not part of :class:`~.backend.LocalLCM`'s public API:

* :func:`reference_output` is a request's :class:`~lcm_widgets.schema.Output` made by the stock
  pipeline (same seed → the same image as ``LocalLCM.generate_sync`` up to float rounding);
* :func:`final_latents` is the final denoised latents of the lean loop or of the stock
  pipeline.

The stock pipeline class is built around the *same* loaded components (eager UNet, the lean
path's VAE) and the same per-image generators (seed, seed + 1, ...):

* UNets with ``time_cond_proj_dim`` in the SD family → ``LatentConsistencyModelPipeline`` /
  ``LatentConsistencyModelImg2ImgPipeline``. For image-to-image the latter is given the
  explicit ``num_inference_steps``-step LCM schedule plus ``strength``, which makes it keep the
  last ``int(steps * strength)`` timesteps, as the lean loop does (left to itself it would run
  all steps on a schedule squeezed below ``strength``).
* Otherwise (LCM-LoRA, SDXL) → ``StableDiffusion[XL][Img2Img]Pipeline`` with the LCMScheduler,
  which already cuts the schedule that way.

Everything runs on the LocalLCM's model thread, under its lock, like its own requests.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ...errors import InvalidInput
from ...schema import Input, Output, parse_input

if TYPE_CHECKING:  # pragma: no cover
    from .backend import LocalLCM

__all__ = ["batch_latents", "final_latents", "reference_images", "reference_output"]


def reference_output(lcm: LocalLCM, inp: Input | dict[str, Any]) -> Output:
    """``inp`` through the stock diffusers pipeline ``__call__`` on ``lcm``'s components (slow),
    as an Output like ``lcm.generate_sync(inp)`` gives (same checks, same JPEG/PNG encode;
    ``timings`` has only ``total``)."""
    from .backend import _seed

    inp = lcm._check(parse_input(inp))
    seed = _seed(inp)
    t0 = time.perf_counter()
    arrays = lcm._worker.run(lambda: reference_images(lcm, inp, seed, "np"))
    return lcm._output(inp, seed, arrays, [False] * len(arrays),
                       {"total": time.perf_counter() - t0})


def final_latents(lcm: LocalLCM, inp: Input | dict[str, Any], *, reference: bool = False
                  ) -> Any:
    """The final denoised latents (a tensor, one row per image) of ``lcm``'s lean loop or, with
    ``reference=True``, of the stock pipeline. ``seed`` must be set (InvalidInput otherwise)."""
    inp = lcm._check(parse_input(inp))
    seed = inp.seed
    if seed is None:
        raise InvalidInput("seed: must be set to compare latents, got None", field="seed")
    if reference:
        return lcm._worker.run(lambda: reference_images(lcm, inp, seed, "latent"))
    return lcm._worker.run(lambda: lcm._run([inp], latents_only=True))


def batch_latents(lcm: LocalLCM, inputs: list[Input | dict[str, Any]]) -> Any:
    """The final latents of ``inputs`` run through the lean loop as *one* batch (rows in input
    order, ``num_images`` rows each), as :meth:`~.backend.LocalLCM.generate_batch` runs a
    group. Every ``seed`` must be set, and the inputs must share one batch under the batch rule
    (InvalidInput otherwise)."""
    from ..base import plan_batches

    cells = [lcm._check(parse_input(i)) for i in inputs]
    for k, cell in enumerate(cells):
        if cell.seed is None:
            raise InvalidInput(f"seed: must be set to compare latents, got None (input {k})",
                               field="seed")
    plan = plan_batches(cells, lcm.info)
    if len(plan) != 1:
        raise InvalidInput(f"inputs: must form one batch under LocalLCM's batch rule (at most "
                           f"{lcm.info.batch_limit} images), got {len(plan)} groups {plan}",
                           field="inputs")
    return lcm._worker.run(lambda: lcm._run(cells, latents_only=True))


def reference_images(lcm: LocalLCM, inp: Input, seed: int, output_type: str) -> Any:
    """Run ``inp`` through the stock pipeline (on the model thread, under its lock).
    ``output_type="latent"`` returns the final denoised latents (a tensor); anything else
    returns a list of HWC uint8 arrays."""
    import diffusers
    import numpy as np
    import torch
    from PIL import Image

    c = lcm._c
    src = lcm._sources([inp])
    arr, (w, h) = src.pixels, src.size
    n = inp.num_images
    gen_device = lcm.device if lcm.device.type == "cuda" else "cpu"
    gens = [torch.Generator(gen_device).manual_seed((seed + k) % 2**64) for k in range(n)]
    components = dict(c.pipe.components)
    components["vae"] = c.vae
    kwargs: dict[str, Any] = {
        "prompt": inp.prompt, "num_inference_steps": inp.num_inference_steps,
        "guidance_scale": inp.guidance_scale, "generator": gens if n > 1 else gens[0],
        "num_images_per_prompt": n,
        "output_type": "latent" if output_type == "latent" else "pil",
    }
    cls: Any
    if c.time_cond and c.family == "sd":
        if arr is None:
            cls = diffusers.LatentConsistencyModelPipeline
            kwargs.update(height=h, width=w)
        else:
            from .loop import make_schedule

            cls = diffusers.LatentConsistencyModelImg2ImgPipeline
            full = make_schedule(c.pipe.scheduler, inp.num_inference_steps, None, "cpu")
            kwargs.update(image=Image.fromarray(arr), strength=inp.strength,
                          timesteps=list(full.timesteps), num_inference_steps=None)
    else:
        xl = c.family == "sdxl"
        if arr is None:
            cls = diffusers.StableDiffusionXLPipeline if xl else diffusers.StableDiffusionPipeline
            kwargs.update(height=h, width=w)
        else:
            cls = (diffusers.StableDiffusionXLImg2ImgPipeline if xl
                   else diffusers.StableDiffusionImg2ImgPipeline)
            kwargs.update(image=Image.fromarray(arr), strength=inp.strength)
        kwargs["negative_prompt"] = inp.negative_prompt or None
    expected, optional = cls._get_signature_keys(cls)
    accepted = set(expected) | set(optional)
    pipe: Any = cls(**{k: v for k, v in components.items() if k in accepted})
    pipe.set_progress_bar_config(disable=True)
    out = pipe(**kwargs).images
    if output_type == "latent":
        return out
    return [np.asarray(img, dtype=np.uint8) for img in out]
