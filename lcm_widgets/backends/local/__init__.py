"""LocalLCM: Latent Consistency Models on this machine's GPU (or CPU) with diffusers.

>>> from lcm_widgets.backends.local import LocalLCM
>>> lcm = LocalLCM("tiny")                      # doctest: +SKIP
>>> out = lcm.generate_sync({"prompt": "a cat", "seed": 1, "num_inference_steps": 4})
>>> out.images[0].content[:3]                   # doctest: +SKIP
b'\\xff\\xd8\\xff'

Importing this package imports neither torch nor diffusers; constructing a :class:`LocalLCM`
does (and raises :class:`~lcm_widgets.errors.BackendUnavailable` naming
``pip install "lcm-widgets[local]"`` when they are missing).

Behaviour, field by field (the schema is :class:`~lcm_widgets.schema.Input`):

* ``image_url`` given → image-to-image: the source is resized to the output size and
  ``int(num_inference_steps * strength)`` UNet evaluations run, the last ones of the
  ``num_inference_steps``-step LCM schedule (see :func:`.loop.make_schedule`). Without it,
  text-to-image with ``num_inference_steps`` evaluations.
* ``image_size`` left out → the source image's size for image-to-image (rounded down to a
  multiple of 8, at least 64), the model's native square otherwise (512; 1024 for SDXL).
* ``seed`` is used and returned; left out, a random one below 2**32 is drawn. Image ``k`` of a
  request uses seed ``seed + k`` (mod 2**64), so ``num_images=2`` gives two distinct images and
  image 1 equals image 0 of the same request with ``seed + 1``.
* ``format`` jpeg (quality ``jpeg_quality``) or png (slow: about 64 ms at 512x512).
* There is no file store, so every image carries a ``data:`` URI in ``url`` *and* the raw
  bytes in ``content`` whatever ``sync_mode`` says.
* ``model_name`` must be left out or name the loaded model; ``expand_prompt=True`` is refused
  (not supported locally); ``guidance_rescale`` and ``safety_checker_version`` are ignored.
* ``has_nsfw_concepts``: from the pipeline's safety checker when its weights were loaded and
  ``enable_safety_checker`` is true (flagged images come back black); all False otherwise. The
  ``tiny`` model has no safety checker.
* ``timings`` (seconds): ``decode``, ``encode_prompt``, ``encode_image``, ``denoise``,
  ``decode_latents``, ``encode_output``, ``total``. On CUDA the stages are host times of
  asynchronous work unless :attr:`LocalLCM.precise_timings` is set (a sync after each stage).
* negative prompts only matter for LCM-LoRA and turbo models with ``guidance_scale > 1`` (see
  :mod:`.conditioning`).
* turbo models (``sd-turbo``, ``sdxl-turbo``, ``tiny-turbo``: fal's ``fast-turbo-diffusion``
  models) run the same loop with the Euler or Euler-ancestral scheduler they ship with
  (trailing timesteps, 1-4 steps) instead of LCM steps; guidance at or below 1 runs none, as
  these models need.

**Batching** (:meth:`LocalLCM.generate_batch`) follows the one batch rule of
:mod:`lcm_widgets.backends.base`: requests that differ only in the fields of
``LocalLCM.info.batch_axes`` (seed, guidance, prompts, source image, number of images, format,
the safety-checker switch, and the fields LocalLCM ignores or checks) run as one UNet batch of
up to ``max_batch`` images. Different source images of one size are decoded one by one,
stacked and VAE-encoded in one call (the very same image bytes, as in a Compare grid, only
once); every row draws its noise from its own seed, so an input's result is the same alone or
in a batch, up to float rounding. :attr:`LocalLCM.batch_sizes` counts the batches that ran.

Two Studios may share one LocalLCM: all model work runs on the instance's one worker thread
(:mod:`.worker`), under a lock, one request (or batch) at a time, never on an event loop.

Modules: :mod:`.backend` (the class), :mod:`.loop` (the lean denoising loop), :mod:`.loading`
(imports, ``from_pretrained``, ``torch.compile``), :mod:`.conditioning` (prompt embeddings and
guidance), :mod:`.noise` (seeded noise replay), :mod:`.frames` (images in and out),
:mod:`.cache` (the LRU), :mod:`.worker` (the model thread) and :mod:`.reference` (the stock
pipeline on the same components, for tests and the bench).
"""

from __future__ import annotations

from .backend import LocalLCM

__all__ = ["LocalLCM"]
