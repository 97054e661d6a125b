"""The reference path: the same request through a stock diffusers pipeline ``__call__``.

Used by the tests (lean loop vs stock pipeline, same seed) and by the bench (how much the lean
loop saves). It builds the stock pipeline class around the *same* loaded components (eager
UNet, the lean path's VAE) and the same per-image generators (seed, seed + 1, ...):

* UNets with ``time_cond_proj_dim`` in the SD family → ``LatentConsistencyModelPipeline`` /
  ``LatentConsistencyModelImg2ImgPipeline``. For image-to-image the latter is given the
  explicit ``num_inference_steps``-step LCM schedule plus ``strength``, which makes it keep the
  last ``int(steps * strength)`` timesteps, as the lean loop does (left to itself it would run
  all steps on a schedule squeezed below ``strength``).
* Otherwise (LCM-LoRA, SDXL) → ``StableDiffusion[XL][Img2Img]Pipeline`` with the LCMScheduler,
  which already cuts the schedule that way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..schema import Input

if TYPE_CHECKING:  # pragma: no cover
    from .local import LocalLCM

__all__ = ["reference_images"]


def reference_images(lcm: LocalLCM, inp: Input, seed: int, output_type: str) -> Any:
    """Run ``inp`` through the stock pipeline. ``output_type="latent"`` returns the final
    denoised latents (a tensor); anything else returns a list of HWC uint8 arrays."""
    import diffusers
    import numpy as np
    import torch
    from PIL import Image

    c = lcm._c
    arr, (w, h) = lcm._source(inp)
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
            from ._lcm_loop import make_schedule

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
