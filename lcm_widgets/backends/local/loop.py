"""The lean LCM denoising loop: tensors in, tensors out, no pipeline ``__call__``.

:class:`~.backend.LocalLCM` calls these functions on the components of a loaded
diffusers pipeline. Compared with ``LatentConsistencyModelPipeline.__call__`` they skip the
per-call input checks, PIL round trips and prompt encoding (cached by the caller), and they have
**no host synchronisation inside the loop**: the stock ``LCMScheduler.step`` finds its step index
with ``index_for_timestep`` (``.nonzero().item()``, one device sync) and compares a timestep
tensor on the host; here every per-step coefficient is computed once per ``(steps, strength)``
on the host (:func:`make_schedule`) and the step math (:func:`lcm_step`) uses plain floats.

Timesteps reach the UNet as 0-dim device tensors, guidance as a w-embedding tensor (or a CFG
scale tensor), and the latents always with channels-last strides, so a compiled UNet does not
recompile when steps, strength, seed, guidance or prompt change, nor between image-to-image and
text-to-image (only a new batch size or resolution does;
``tests/backends/local/test_local_loading.py`` checks this with dynamo's eager backend).

Turbo models (SD-Turbo, SDXL-Turbo) run in the same loop with Euler steps instead of LCM
steps (:func:`euler_step`): their schedule holds the Euler sigmas of the scheduler they ship
with (``EulerDiscreteScheduler`` or ``EulerAncestralDiscreteScheduler`` with ``trailing``
spacing, so one step starts at t=999), the UNet input is scaled by ``1/sqrt(sigma^2 + 1)``, and
text-to-image starts from noise times the largest sigma.

Random numbers are drawn in the stock pipelines' order, one generator per sample, so that the
reference path (:mod:`.reference`) with the same generators gives the same result:
image-to-image draws the VAE posterior sample, then the ``add_noise`` noise, then one noise per
step except the last; text-to-image draws the initial latents, then the step noises. In a batch
each row draws from its own generator only, so a row's result does not depend on its batch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "Inpaint",
    "Schedule",
    "decode_latents",
    "denoise",
    "encode_image",
    "euler_step",
    "guidance_embedding",
    "initial_latents",
    "initial_latents_and_noise",
    "make_schedule",
    "pixels_buffer",
    "pixels_to_uint8",
    "randn",
    "uint8_scratch",
    "uint8_to_pixels",
]


@dataclass(frozen=True)
class Schedule:
    """Timesteps and per-step scheduler coefficients for one ``(steps, strength)``.

    ``timesteps`` are the host values; ``timesteps_dev`` the same as a device tensor (indexing it
    in the loop gives 0-dim device tensors without a sync). ``coeffs[i]`` is
    ``(sqrt(alpha_t), sqrt(1 - alpha_t), c_skip, c_out, sqrt(alpha_prev), sqrt(1 - alpha_prev))``.
    ``noise_scale`` is ``(sqrt(alpha_0), sqrt(1 - alpha_0))`` at the first timestep, for
    image-to-image ``add_noise``.

    Euler schedules (``sampler`` ``"euler"`` or ``"euler_a"``, turbo models) hold
    ``(sigma, sigma_down, sigma_up)`` per step in ``coeffs``, ``1/sqrt(sigma^2 + 1)`` per step in
    ``in_scales`` (the UNet input scaling), ``noise_scale = (1, sigma_0)`` and
    ``init_sigma``, the factor of text-to-image's initial noise.

    ``renoise[i]`` is ``(a, b)`` such that the scheduler's own ``add_noise(x, noise, t)`` at the
    timestep after step ``i`` is ``a * x + b * noise`` (both schedulers' ``add_noise`` is linear;
    :func:`_add_noise_factors` asks the scheduler itself), and ``(1.0, 0.0)`` after the last
    step: what inpainting (:class:`Inpaint`) noises the kept region to after each step.
    """

    timesteps: tuple[int, ...]
    timesteps_dev: torch.Tensor
    coeffs: tuple[tuple[float, ...], ...]
    noise_scale: tuple[float, float]
    sampler: str = "lcm"
    in_scales: tuple[float, ...] = ()
    init_sigma: float = 1.0
    renoise: tuple[tuple[float, float], ...] = ()


def make_schedule(scheduler: Any, steps: int, strength: float | None, device: Any) -> Schedule:
    """The schedule for ``steps`` LCM steps; with ``strength`` (image-to-image), its tail.

    Image-to-image keeps the last ``int(steps * strength)`` timesteps of the ``steps``-step LCM
    schedule, as Stable Diffusion img2img does (``get_timesteps``) and as the schema's
    ``steps * strength >= 1`` rule implies. (diffusers' ``LatentConsistencyModelImg2ImgPipeline``
    instead runs all ``steps`` on a schedule squeezed below ``strength``; the reference path
    reproduces ours by passing these timesteps explicitly.)

    ``scheduler`` is an ``LCMScheduler`` (or, for turbo models, an Euler scheduler:
    :func:`euler_schedule`); it is not modified.
    """
    import torch

    if type(scheduler).__name__ in EULER_SAMPLERS:
        return euler_schedule(scheduler, steps, strength, device)
    sched = type(scheduler).from_config(scheduler.config)
    sched.set_timesteps(steps)
    full = [int(t) for t in sched.timesteps.tolist()]
    if strength is not None:
        n = min(int(steps * strength), steps)
        full = full[steps - n:]
    acp = sched.alphas_cumprod.double()
    final = float(sched.final_alpha_cumprod)
    scaling = float(sched.config.timestep_scaling)
    coeffs = []
    for i, t in enumerate(full):
        prev = full[i + 1] if i + 1 < len(full) else t
        a_t = float(acp[t])
        a_prev = float(acp[prev]) if prev >= 0 else final
        c_skip, c_out = _boundary_scalings(t, scaling)
        coeffs.append((a_t ** 0.5, (1 - a_t) ** 0.5, c_skip, c_out, a_prev ** 0.5,
                       (1 - a_prev) ** 0.5))
    a0 = float(acp[full[0]])
    kept = sched.timesteps[len(sched.timesteps) - len(full):]
    return Schedule(timesteps=tuple(full),
                    timesteps_dev=torch.tensor(full, dtype=torch.long, device=device),
                    coeffs=tuple(coeffs), noise_scale=(a0 ** 0.5, (1 - a0) ** 0.5),
                    renoise=_renoise(sched, kept, offset=0))


#: The Euler scheduler classes of turbo models and the step each one takes.
EULER_SAMPLERS = {"EulerDiscreteScheduler": "euler", "EulerAncestralDiscreteScheduler": "euler_a"}


def euler_schedule(scheduler: Any, steps: int, strength: float | None, device: Any) -> Schedule:
    """The Euler schedule of ``scheduler`` (``EulerDiscreteScheduler`` or
    ``EulerAncestralDiscreteScheduler``) for ``steps``; with ``strength``, its last
    ``int(steps * strength)`` steps, as Stable Diffusion img2img (``get_timesteps``) keeps
    them. The timesteps, sigmas and initial noise sigma are the scheduler's own (a copy,
    ``set_timesteps(steps)``); ``scheduler`` is not modified."""
    import torch

    sched = type(scheduler).from_config(scheduler.config)
    sched.set_timesteps(steps)
    timesteps = [round(float(t)) for t in sched.timesteps.tolist()]
    sigmas = [float(s) for s in sched.sigmas.tolist()]
    start = 0
    if strength is not None:
        start = steps - min(int(steps * strength), steps)
    sampler = EULER_SAMPLERS[type(scheduler).__name__]
    coeffs = []
    for i in range(start, len(timesteps)):
        s_from, s_to = sigmas[i], sigmas[i + 1]
        if sampler == "euler_a":  # EulerAncestralDiscreteScheduler.step's split of s_to
            s_up = (s_to ** 2 * (s_from ** 2 - s_to ** 2) / s_from ** 2) ** 0.5
            s_down = (s_to ** 2 - s_up ** 2) ** 0.5
        else:
            s_up, s_down = 0.0, s_to
        coeffs.append((s_from, s_down, s_up))
    kept = timesteps[start:]
    return Schedule(timesteps=tuple(kept),
                    timesteps_dev=torch.tensor(kept, dtype=torch.long, device=device),
                    coeffs=tuple(coeffs), noise_scale=(1.0, sigmas[start]), sampler=sampler,
                    in_scales=tuple((s ** 2 + 1) ** -0.5 for s in sigmas[start:-1]),
                    init_sigma=float(sched.init_noise_sigma),
                    renoise=_renoise(sched, sched.timesteps[start:], offset=start))


def _renoise(sched: Any, timesteps: Any, offset: int) -> tuple[tuple[float, float], ...]:
    """:attr:`Schedule.renoise` for the kept ``timesteps`` (a slice of ``sched.timesteps``
    starting at index ``offset``): the add_noise factors of each next timestep, then
    ``(1.0, 0.0)``."""
    out = [_add_noise_factors(sched, offset + k, timesteps[k:k + 1])
           for k in range(1, len(timesteps))]
    return (*out, (1.0, 0.0))


def _add_noise_factors(sched: Any, index: int, timestep: Any) -> tuple[float, float]:
    """``(a, b)`` with ``sched.add_noise(x, noise, t) == a * x + b * noise`` at ``timestep``
    (step ``index`` of ``sched``'s schedule), read from the scheduler's own ``add_noise`` on
    float64 ones and zeros: the LCM scheduler's ``sqrt(alpha_t), sqrt(1 - alpha_t)``, an Euler
    scheduler's ``1, sigma``. On ``sched`` (a copy), ``set_begin_index(index)`` makes an Euler
    scheduler take that step's sigma without looking the timestep up."""
    import torch

    if hasattr(sched, "set_begin_index"):
        sched.set_begin_index(index)
    one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    return (float(sched.add_noise(one, zero, timestep)),
            float(sched.add_noise(zero, one, timestep)))


def _boundary_scalings(timestep: int, timestep_scaling: float) -> tuple[float, float]:
    # Same formula as LCMScheduler.get_scalings_for_boundary_condition_discrete (sigma_data 0.5).
    sigma_data = 0.5
    scaled = timestep * timestep_scaling
    c_skip = sigma_data ** 2 / (scaled ** 2 + sigma_data ** 2)
    c_out = scaled / (scaled ** 2 + sigma_data ** 2) ** 0.5
    return c_skip, c_out


# Copied from diffusers.pipelines.latent_consistency_models.pipeline_latent_consistency_text2img.LatentConsistencyModelPipeline.get_guidance_scale_embedding
# (made a function; the asserts are dropped)
def guidance_embedding(w: torch.Tensor, embedding_dim: int = 512,
                       dtype: torch.dtype | None = None) -> torch.Tensor:
    """LCM's w-embedding: sinusoidal features of ``1000 * w`` (``w = guidance_scale - 1``)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    w = w * 1000.0
    half_dim = embedding_dim // 2
    emb = torch.log(torch.tensor(10000.0)) / (half_dim - 1)
    emb = torch.exp(torch.arange(half_dim, dtype=dtype) * -emb)
    emb = w.to(dtype)[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if embedding_dim % 2 == 1:  # zero pad
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


def randn(shape: Sequence[int], generators: Sequence[Any], device: Any,
          dtype: torch.dtype) -> torch.Tensor:
    """One standard-normal sample per generator, stacked (``diffusers.randn_tensor`` semantics).

    Each generator draws a ``(1, *shape[1:])`` tensor on its own device, then the result moves
    to ``device``: so sample ``i`` depends only on generator ``i``, batched or not. A generator
    is a ``torch.Generator`` or a :class:`~.noise.NoiseCursor` (recorded draws, replayed); with
    one cursor the result may be a tensor that later frames share, so it must not be modified
    in place.
    """
    import torch

    one = (1, *shape[1:])
    parts = [g.normal(one, dtype) if hasattr(g, "normal") else
             torch.randn(one, generator=g, device=g.device, dtype=dtype) for g in generators]
    out = torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]
    return out.to(device)


def uint8_to_pixels(arr: Any, device: Any, dtype: torch.dtype,
                    out: torch.Tensor | None = None,
                    upload: Callable[[Any], torch.Tensor] | None = None) -> torch.Tensor:
    """HWC uint8 image, or a ``(B, H, W, 3)`` stack of them (numpy, read-only is fine) →
    ``(B, 3, H, W)`` in [-1, 1] on ``device`` (``B = 1`` for one image).

    ``x * (1 / 127.5) - 1``, computed in ``dtype``, with channels-last strides (the stock
    pipeline's ``VaeImageProcessor`` also hands the VAE a channels-last view). ``out``, when
    given, is a :func:`pixels_buffer` of this shape, dtype and device whose previous contents
    are no longer needed; the result is written into it (a reused buffer matters on the CPU:
    a fresh 3 MB tensor per frame costs page faults).

    The uint8 array crosses to the device first (4x fewer bytes than float32) and torch does
    the cast and scaling there, in three passes over ``out`` (on the CPU with torch's threads,
    which were just running the model). ``upload``, when given, does that crossing (``arr`` → a
    uint8 tensor of the same shape on ``device``; LocalLCM passes
    :meth:`~.frames.PinnedFrames.upload` on CUDA), else ``torch.from_numpy(arr).to(device)``.
    """
    import torch

    if upload is not None:
        t = upload(arr)
    else:
        with warnings.catch_warnings():
            # torch warns on read-only numpy buffers; this tensor is only ever read.
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(arr)
        t = t.to(device, non_blocking=True)
    t = t.permute(2, 0, 1).unsqueeze(0) if t.dim() == 3 else t.permute(0, 3, 1, 2)
    if out is None:
        out = pixels_buffer(tuple(t.shape), t.device, dtype)
    return out.copy_(t).mul_(1.0 / 127.5).sub_(1.0)


def pixels_buffer(shape: Sequence[int], device: Any, dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised ``(B, 3, H, W)`` buffer with channels-last strides (the layout
    :func:`uint8_to_pixels` writes), for reuse across frames."""
    import torch

    return torch.empty(tuple(shape), device=device, dtype=dtype,
                       memory_format=torch.channels_last)


def pixels_to_uint8(images: torch.Tensor,
                    download: Callable[[torch.Tensor], Any] | None = None,
                    scratch: tuple[torch.Tensor, torch.Tensor] | None = None) -> Any:
    """``(B, 3, H, W)`` in [-1, 1] → ``(B, H, W, 3)`` C-contiguous uint8 numpy.

    ``x * 127.5 + 128``, clamped to [0, 255], then truncated by the uint8 cast: that is
    ``round(x * 127.5 + 127.5)`` with ties rounded up (diffusers rounds ties to even, so a pixel
    sitting exactly on a tie can differ by 1). ``images`` is not modified. When it has
    channels-last strides (the VAE decoder gives that for channels-last latents, see
    :func:`decode_latents`) its HWC view is already contiguous and no transpose runs.

    On the CPU, ``scratch`` (:func:`uint8_scratch`) holds reused float32 and uint8 ``(B, H, W,
    3)`` buffers for the four passes (fresh ones would cost page faults every frame); the
    result is then a view of the uint8 one, valid until its next use. Elsewhere the math runs
    on the device and only the uint8 result crosses to the host. Both give the same bytes.
    ``download``, when given, does that crossing (a contiguous uint8 device tensor → numpy;
    LocalLCM passes :meth:`~.frames.PinnedFrames.download` on CUDA), else ``.cpu().numpy()``.
    """
    import torch

    hwc = images.permute(0, 2, 3, 1)
    if images.device.type == "cpu":
        f, u = scratch if scratch is not None else uint8_scratch(tuple(hwc.shape))
        torch.mul(hwc, 127.5, out=f)
        f.add_(128.0).clamp_(0.0, 255.0)
        return u.copy_(f).numpy()
    x = hwc.float().mul(127.5).add_(128.0).clamp_(0.0, 255.0).to(torch.uint8).contiguous()
    return x.cpu().numpy() if download is None else download(x)


def uint8_scratch(shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 and uint8 CPU buffers of ``shape`` (``(B, H, W, 3)``) for
    :func:`pixels_to_uint8`."""
    import torch

    return (torch.empty(tuple(shape), dtype=torch.float32),
            torch.empty(tuple(shape), dtype=torch.uint8))


def encode_image(vae: Any, pixels: torch.Tensor, generators: Sequence[Any],
                 rows: Sequence[int] | None = None) -> torch.Tensor:
    """VAE-encode ``pixels`` (``(U, 3, H, W)``: the distinct source images, in one call) and
    return one scaled latent per generator; generator ``i`` takes image ``rows[i]`` (every
    generator takes image 0 when ``rows`` is None, which needs ``U == 1``).

    ``AutoencoderKL`` gives a posterior that is sampled once per generator (as the stock
    pipeline's ``retrieve_latents`` with ``sample_mode="sample"``); ``AutoencoderTiny`` (TAESD)
    gives ``.latents`` directly and draws nothing. Latents are multiplied by
    ``vae.config.scaling_factor`` (1.0 for TAESD). Each generator's draw has the shape of one
    latent, so a row's latent is the same as when its image is encoded alone (up to the
    encoder's float rounding at another batch size).
    """
    import torch

    n = len(generators)
    index = None
    if rows is not None and (pixels.shape[0] > 1 or any(r != 0 for r in rows)):
        if len(rows) != n:
            raise ValueError(f"rows: must have one entry per generator ({n}), got {len(rows)}")
        index = torch.tensor(list(rows), dtype=torch.long, device=pixels.device)
    enc = vae.encode(pixels)
    if hasattr(enc, "latent_dist"):
        dist = enc.latent_dist
        mean, std = dist.mean, dist.std
        if index is not None:
            mean, std = mean.index_select(0, index), std.index_select(0, index)
        noise = randn((n, *mean.shape[1:]), generators, mean.device, mean.dtype)
        latents = mean + std * noise
    elif index is not None:
        latents = enc.latents.index_select(0, index)
    else:
        latents = enc.latents.expand(n, -1, -1, -1)
    return latents * vae.config.scaling_factor


def initial_latents(schedule: Schedule, image_latents: torch.Tensor | None, shape: Sequence[int],
                    generators: Sequence[Any], device: Any, dtype: torch.dtype
                    ) -> torch.Tensor:
    """Noised image latents (image-to-image) or pure noise (text-to-image)."""
    return initial_latents_and_noise(schedule, image_latents, shape, generators, device,
                                     dtype)[0]


def initial_latents_and_noise(schedule: Schedule, image_latents: torch.Tensor | None,
                              shape: Sequence[int], generators: Sequence[Any], device: Any,
                              dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`initial_latents` and the noise it drew (inpainting noises the kept region with
    that same noise after each step, as diffusers' inpainting pipeline does). The noise may be
    a shared, replayed tensor: read it, never write into it."""
    noise = randn(shape, generators, device, dtype)
    if image_latents is None:
        # LCMScheduler.init_noise_sigma is 1.0 (a copy: the draw may be a shared, replayed one);
        # an Euler schedule's is its largest sigma.
        return (noise.clone() if schedule.init_sigma == 1.0 else noise * schedule.init_sigma,
                noise)
    a, b = schedule.noise_scale
    return a * image_latents.to(dtype) + b * noise, noise


@dataclass(frozen=True)
class Inpaint:
    """What :func:`denoise` needs to inpaint with a plain (4-channel) UNet by latent blending,
    as diffusers' ``StableDiffusionInpaintPipeline`` does for a UNet that is not an inpainting
    one: ``mask`` (``(B, 1, h, w)`` at latent resolution, 1 = repaint, 0 = keep), the clean
    ``image_latents`` and the ``noise`` the initial latents were noised with. After step ``i``,
    ``latents = (1 - mask) * add_noise(image_latents, noise, t_next) + mask * latents``, with
    the scheduler's factors (:attr:`Schedule.renoise`); after the last step ``t_next`` is
    "clean", so the kept region is the image's latents."""

    mask: torch.Tensor
    image_latents: torch.Tensor
    noise: torch.Tensor

    def blend(self, latents: torch.Tensor, factors: tuple[float, float]) -> torch.Tensor:
        """``latents`` with the kept region replaced by the image's latents noised by
        ``factors`` (``(a, b)``: ``a * image_latents + b * noise``)."""
        a, b = factors
        kept = self.image_latents.to(latents.dtype)
        if a != 1.0:
            kept = a * kept
        if b:
            kept = kept + b * self.noise.to(latents.dtype)
        m = self.mask.to(latents.dtype)
        return (1 - m) * kept + m * latents


# Copied from diffusers.schedulers.scheduling_lcm.LCMScheduler.step
# (epsilon prediction, no clipping/thresholding; the step index is the loop index and every
# coefficient is a precomputed float, so there is no host sync; returns (prev_sample, denoised))
def lcm_step(model_output: torch.Tensor, sample: torch.Tensor, coeffs: tuple[float, ...],
             noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One LCM step. ``noise`` is None on the last step (no noise injected there)."""
    sqrt_a_t, sqrt_b_t, c_skip, c_out, sqrt_a_prev, sqrt_b_prev = coeffs
    predicted_original_sample = (sample - sqrt_b_t * model_output) / sqrt_a_t
    denoised = c_out * predicted_original_sample + c_skip * sample
    if noise is None:
        return denoised, denoised
    return sqrt_a_prev * denoised + sqrt_b_prev * noise, denoised


# Copied from diffusers.schedulers.scheduling_euler_ancestral_discrete.EulerAncestralDiscreteScheduler.step
# (epsilon prediction; sigma_down = sigma_to and sigma_up = 0 make it
# EulerDiscreteScheduler.step without churn; coefficients precomputed, no step index, no sync)
def euler_step(model_output: torch.Tensor, sample: torch.Tensor, coeffs: tuple[float, ...],
               noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One Euler (or Euler-ancestral) step; returns ``(prev_sample, denoised)``.

    ``denoised`` is the step's estimate of the clean latents, except on the last step (sigma
    going to 0), where it is ``prev_sample``, the result the stock pipelines return. ``noise``
    is added with ``sigma_up`` (ancestral steps before the last); None adds nothing."""
    sigma, sigma_down, sigma_up = coeffs[:3]
    predicted_original_sample = sample - sigma * model_output
    derivative = (sample - predicted_original_sample) / sigma
    prev_sample = sample + derivative * (sigma_down - sigma)
    if noise is not None and sigma_up:
        prev_sample = prev_sample + noise * sigma_up
    if sigma_down == 0.0 and not sigma_up:
        return prev_sample, prev_sample
    return prev_sample, predicted_original_sample


def denoise(unet: Any, latents: torch.Tensor, schedule: Schedule, prompt_embeds: torch.Tensor,
            generators: Sequence[Any], *, timestep_cond: torch.Tensor | None = None,
            added_cond_kwargs: dict[str, torch.Tensor] | None = None,
            cfg_scale: torch.Tensor | None = None, mark_step: Any = None,
            on_step: Callable[[int, int, torch.Tensor], None] | None = None,
            control: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], dict[str, Any]]
            | None = None, inpaint: Inpaint | None = None) -> torch.Tensor:
    """Run the LCM (or, for an Euler schedule, Euler) steps and return the final ``denoised``
    latents.

    ``on_step(step, steps, denoised)``, when given, is called after each step (1-based) with
    that step's ``denoised`` latents (for previews; it must not modify them).

    Guidance: with ``timestep_cond`` (LCM-distilled UNets with ``time_cond_proj_dim``) it is the
    w-embedding and ``prompt_embeds`` holds one row per sample. With ``cfg_scale`` (LCM-LoRA on a
    base UNet, guidance > 1) ``prompt_embeds`` holds ``[uncond; cond]`` rows and the two halves
    are combined as classifier-free guidance, ``uncond + g * (cond - uncond)`` per sample.
    ``mark_step`` (``torch.compiler.cudagraph_mark_step_begin``) is called before each UNet call
    when the UNet runs as CUDA graphs. ``control(i, model_in, t, prompt_embeds)``, when given
    (a :class:`~.controlnet.Control`), returns extra UNet keyword arguments for step ``i``: a
    ControlNet's residuals, or nothing on steps it does not guide. ``inpaint``, when given
    (:class:`Inpaint`), blends the kept region back after every step; the previews then show
    the blended estimate too.

    The UNet always gets channels-last latents (the layout of the CUDA UNet's weights, and the
    one image-to-image latents inherit from the encoded image): text-to-image noise and the CFG
    ``repeat`` are contiguous, and a compiled UNet guards on input strides, so without this it
    compiled a second graph (on CUDA: a second autotune and CUDA-graph pool) for text-to-image.
    """
    import torch

    dtype = prompt_embeds.dtype
    denoised = latents
    last = len(schedule.timesteps) - 1
    euler = schedule.sampler != "lcm"
    step = euler_step if euler else lcm_step
    for i in range(last + 1):
        latents = latents.to(dtype)
        t = schedule.timesteps_dev[i]
        model_in = latents if cfg_scale is None else latents.repeat(2, 1, 1, 1)
        if euler:
            model_in = model_in * schedule.in_scales[i]
        model_in = model_in.contiguous(memory_format=torch.channels_last)  # no-op when it is
        extra = {} if control is None else control(i, model_in, t, prompt_embeds)
        if mark_step is not None:
            mark_step()
        pred = unet(model_in, t, encoder_hidden_states=prompt_embeds, timestep_cond=timestep_cond,
                    added_cond_kwargs=added_cond_kwargs, return_dict=False, **extra)[0]
        if cfg_scale is not None:
            uncond, cond = pred.chunk(2)
            pred = uncond + cfg_scale * (cond - uncond)
        # LCM injects noise on every step but the last; Euler never, Euler-ancestral like LCM
        noisy = i != last and schedule.sampler != "euler"
        noise = randn(tuple(latents.shape), generators, latents.device, dtype) if noisy else None
        latents, denoised = step(pred, latents, schedule.coeffs[i], noise)
        if inpaint is not None:
            # the last step's latents are its denoised result: blended with the clean image
            latents = inpaint.blend(latents, schedule.renoise[i])
            if i == last:
                denoised = latents
            elif on_step is not None:  # the preview's estimate, with the kept region
                denoised = inpaint.blend(denoised, (1.0, 0.0))
        if on_step is not None:
            on_step(i + 1, last + 1, denoised)
    return denoised.to(dtype)


def decode_latents(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    """VAE-decode scaled latents to ``(B, 3, H, W)`` pixels in about [-1, 1].

    The latents go in channels-last, as in the stock pipelines (whose latents inherit the
    channels-last strides of the encoded image); the decoded pixels then come out channels-last,
    which makes :func:`pixels_to_uint8`'s HWC permute free.
    """
    import torch

    x = (latents / vae.config.scaling_factor).contiguous(memory_format=torch.channels_last)
    return vae.decode(x, return_dict=False)[0]
