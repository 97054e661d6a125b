"""The :class:`LocalLCM` class; the package docstring (:mod:`lcm_widgets.backends.local`) says
what it does with each request field and how it batches."""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...apps.turbo import TURBO_APP_ID
from ...errors import BackendError, GenerationFailed, InvalidInput, ModelLoadError
from ...models.presets import PRESETS, resolve_preset
from ...schema import Input, Output, parse_input
from ..base import BackendInfo, StepPreview, plan_batches
from .frames import PinnedFrames, Sources, load_sources, make_output, progress_bar, safety_flags
from .worker import CLOSED, ModelThread

if TYPE_CHECKING:
    from .loading import LoadProgress

__all__ = ["BATCH_AXES", "SCHEDULE_CACHE_SIZE", "LocalLCM"]

log = logging.getLogger(__name__)

#: The request fields that may differ inside one batch (``BackendInfo.batch_axes``): per row the
#: lean loop varies the seed, guidance, prompts, source image (same output size), inpainting
#: mask, number of images, output format and safety-checker switch; ``guidance_rescale`` and
#: ``safety_checker_version`` it ignores, and ``model_name`` and ``expand_prompt`` it checks
#: (the loaded model; False) before planning. The rest (steps, strength, image_size, and
#: text-to-image vs image-to-image) must match.
BATCH_AXES = ("seed", "guidance_scale", "prompt", "negative_prompt", "image_url", "mask_url",
              "num_images", "format", "enable_safety_checker", "guidance_rescale",
              "safety_checker_version", "model_name", "expand_prompt")
SCHEDULE_CACHE_SIZE = 64  # (steps, strength) schedules kept; older ones are rebuilt on demand


class LocalLCM:
    """A diffusers LCM in this process, run by our own lean loop.

    Parameters
    ----------
    model:
        ``"lcm-dreamshaper-v7"`` (``SimianLuo/LCM_Dreamshaper_v7``), ``"runwayml/stable-diffusion-
        v1-5"`` / ``"stabilityai/stable-diffusion-xl-base-1.0"`` (with the LCM-LoRA fused),
        ``"tiny"`` (random weights, offline), the turbo models ``"sd-turbo"``
        (``stabilityai/sd-turbo``), ``"sdxl-turbo"`` (``stabilityai/sdxl-turbo``) and
        ``"tiny-turbo"`` (random weights, offline), run with Euler steps (:mod:`.loop`), another
        Hugging Face id, or a local folder (a diffusers pipeline, or a folder holding
        ``pipeline/`` and optionally ``taesd/``).
    device, dtype:
        Default CUDA float16 when CUDA is available, else CPU float32.
    safety_checker:
        False skips loading the safety checker at all.
    warmup:
        Run one image-to-image and one text-to-image frame on load (and compile, if asked).
    compile:
        ``torch.compile`` the UNet and the VAE's encoder/decoder. None → True on CUDA, False on
        CPU (unless ``compile_backend`` is given); True → ``mode="max-autotune"`` on CUDA (CUDA
        graphs), inductor's default on CPU; a string → that mode. Shapes are static: a new
        resolution or batch size (including LCM-LoRA models switching between guidance <= 1 and
        > 1, which doubles the UNet batch) recompiles; steps, strength, seed, guidance, prompt
        and image-to-image vs text-to-image do not (timesteps, w-embedding and CFG scale reach
        the UNet as tensors; latents always channels-last).
    compile_backend:
        The ``torch.compile`` backend: None → ``"inductor"``. ``"eager"`` (dynamo tracing and
        guards only, no code generation: seconds instead of inductor's minutes on CPU) is for
        tests and debugging graph breaks or recompiles, e.g. with ``TORCH_LOGS=recompiles``; a
        dynamo backend callable works too. Giving it implies ``compile=True`` when ``compile``
        is left out; with a backend other than inductor, ``compile=True`` passes no mode.
    vae:
        None (the model's VAE) or ``"taesd"`` (``AutoencoderTiny``: ``madebyollin/taesd``,
        ``madebyollin/taesdxl`` for SDXL, a random one for ``tiny``).
    progress:
        Show loading and warm-up progress bars.
    max_batch:
        Most images one UNet call takes in :meth:`generate_batch`.
    controlnet:
        None, or a ControlNet to load next to the UNet: ``"scribble"``, ``"canny"`` (the SD1.5
        ControlNet 1.1 models), ``"tiny-controlnet"`` (for ``tiny``), a Hugging Face id or a
        local folder; or a list of them. Requests pick one with the ``controlnet`` field (the
        first when it is left out, ``"none"`` for none); docs/models.md.
    max_loras:
        Most user LoRAs kept loaded as adapters (least recently used dropped); :meth:`load_lora`.
    lora_from_requests:
        Let a request's ``loras`` name a LoRA that was never loaded (then loaded on the spot).
        False by default, so that requests (a server's) cannot make the process read files or
        download; LoRAs loaded with :meth:`load_lora` can always be named.
    on_progress:
        Called on the loading thread with each step of the load (a
        :class:`~.loading.LoadProgress`: the download, each part of the pipeline, the LCM-LoRA,
        TAESD, the move to the device, each ControlNet, the warm-up; last ``"loaded"`` with
        ``done == total``). :func:`~.loading.load_progress` listens to loads started by others
        (the Studio uses it for ``Studio(lambda: LocalLCM(...))``).

    Raises :class:`~lcm_widgets.errors.BackendUnavailable` (torch/diffusers/peft or the device
    missing) or :class:`~lcm_widgets.errors.ModelLoadError`.
    """

    def __init__(self, model: str = "lcm-dreamshaper-v7", *, device: str | None = None,
                 dtype: str | Any | None = None, safety_checker: bool = True,
                 warmup: bool = True, compile: bool | str | None = None,
                 vae: str | None = None, progress: bool = True, max_batch: int = 8,
                 jpeg_quality: int = 90,
                 compile_backend: str | Callable[..., Any] | None = None,
                 controlnet: str | list[str] | tuple[str, ...] | None = None,
                 max_loras: int = 4, lora_from_requests: bool = False,
                 on_progress: Callable[[LoadProgress], None] | None = None) -> None:
        from .cache import LRU
        from .conditioning import PromptCache
        from .loading import (
            LoadReporter,
            compile_components,
            import_torch,
            load_components,
            resolve_device_dtype,
        )
        from .lora import LoraSet
        from .noise import NoiseTapes

        cn = [] if controlnet is None else [controlnet] if isinstance(controlnet, str) \
            else list(controlnet)
        self._report = LoadReporter(on_progress, later=[
            *(f"controlnet {n}" for i, n in enumerate(cn) if n not in cn[:i]),
            *(["warm-up"] if warmup else [])])
        self._report.step("import torch")
        self._torch, _ = import_torch()
        self.device, self.dtype = resolve_device_dtype(device, dtype)
        if not 1 <= max_batch <= 64:
            raise InvalidInput(f"max_batch: must be between 1 and 64, got {max_batch}",
                               field="max_batch")
        self.model = model
        self.progress = progress
        self.max_batch = max_batch
        self.jpeg_quality = jpeg_quality
        self.precise_timings = False
        self._preset = resolve_preset(model)
        self._c = load_components(self._preset, device=self.device, dtype=self.dtype,
                                  safety_checker=safety_checker, vae=vae, progress=progress,
                                  report=self._report)
        self._worker = ModelThread(self._torch, model, f"lcm-widgets-model-{id(self):x}")
        self.prompts = PromptCache(self._c.pipe, time_cond=self._c.time_cond,
                                   family=self._c.family, device=self.device, dtype=self.dtype)
        #: Loads from disk so far: ``"model"`` (the base pipeline: once), ``"controlnet"``,
        #: ``"lora"`` (a LoRA switched in again after it was dropped counts again).
        self.load_counts: Counter[str] = Counter(model=1)
        self._controlnets = self._load_controlnets(controlnet)
        self.lora_from_requests = lora_from_requests
        self._loras = LoraSet(self._c.pipe, base=model, max_loaded=max_loras,
                              on_text_encoder_change=self.prompts._cache.clear)
        self._default_loras: tuple[tuple[str, float], ...] = ()
        # Seeded noise, recorded once per seed and replayed (a fixed seed while drawing).
        self._noise = NoiseTapes(self._torch)
        # Keyed by client-chosen (steps, strength): bounded, as a server runs for days.
        self._schedules: LRU[tuple[int, float | None], Any] = LRU(SCHEDULE_CACHE_SIZE)
        # Reused per-shape buffers: the source pixels ((U, 3, H, W) by U, H, W and dtype), the
        # uint8 stack of a batch's distinct sources ("stack", U, H, W) and the CPU uint8
        # conversion's scratch ("out", B, H, W); a few shapes at most, only the worker thread
        # touches them, under the model lock.
        self._pixel_buffers: LRU[tuple[Any, ...], Any] = LRU(8)
        # The last decoded source frame's array, reused for the next frame of the same size.
        self._decode_buffer: Any = None
        # Inpainting masks at latent resolution on the device, by (mask_url, image_url's size,
        # output size): while drawing, every frame carries the same mask.
        self._masks: LRU[tuple[Any, ...], Any] = LRU(4)
        # Pinned host buffers for the uint8 frames' H2D/D2H copies, on CUDA only.
        self._pinned = PinnedFrames(self._torch) if self.device.type == "cuda" else None
        self._batch_sizes: Counter[int] = Counter()
        self._stats_lock = threading.Lock()
        self._unet = self._c.unet
        self._mark_step: Any = None
        self.compile_mode: str | None = None
        self.compile_backend: str | None = None
        self.compile_seconds: float | None = None
        want = (self.device.type == "cuda" or compile_backend is not None) if compile is None \
            else compile
        if want:
            compiled = compile_components(self._c, self.device, want, compile_backend)
            self._unet, self._mark_step = compiled.unet, compiled.mark_step
            self.compile_mode, self.compile_backend = compiled.mode, compiled.backend
        self._info = BackendInfo(
            name="local", model=model, device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."), can_batch=True,
            batch_axes=BATCH_AXES, max_batch=max_batch,
            extra={"source": self._c.source, "vae": "taesd" if self._c.taesd else "full",
                   "family": self._c.family, "compile": str(self.compile_mode),
                   "compile_backend": str(self.compile_backend),
                   "guidance": "w-embedding" if self._c.time_cond else "cfg",
                   "scheduler": type(self._c.pipe.scheduler).__name__,
                   "controlnets": ",".join(self._controlnets)},
            app=TURBO_APP_ID if self._preset.kind == "turbo" else "fal-ai/fast-lcm-diffusion")
        if warmup:
            self._report.step("warm-up")
            self.warmup()
        self._report.finish()

    # --- public API -------------------------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        """Name ``"local"``, the model, device, dtype and batching capabilities."""
        return self._info

    @property
    def native_size(self) -> int:
        """The model's native square side in pixels (512 for SD1.5 and tiny, 1024 for SDXL)."""
        return self._c.native_size

    @property
    def components(self) -> Any:
        """The loaded diffusers pipeline (its modules are the ones the lean loop runs)."""
        return self._c.pipe

    @property
    def batch_sizes(self) -> Counter[int]:
        """Images per UNet batch → how many batches of that size the lean loop ran (a copy).

        One batch is one pass of the loop (``steps`` UNet calls) over all the images of a
        :meth:`generate` call, or of one group of a :meth:`generate_batch` call; a ``num_images
        =2`` request alone counts as a batch of 2. Warm-up frames are not counted. A key above 1
        shows that requests were batched, e.g. frames of several sessions on ``serve --batch``.
        """
        with self._stats_lock:
            return Counter(self._batch_sizes)

    @property
    def controlnets(self) -> tuple[str, ...]:
        """The names of the loaded ControlNets, in the order given (the first is the default)."""
        return tuple(self._controlnets)

    def load_lora(self, path: str | Any, scale: float = 1.0, *, name: str | None = None,
                  activate: bool = True) -> str:
        """Load a LoRA (a Hugging Face id, a ``.safetensors`` file or a folder with one) as an
        adapter, unless it is loaded already; the base model is not reloaded. With
        ``activate``, it becomes the LoRA every request without a ``loras`` field gets, at
        ``scale`` (replacing the previous one; :meth:`set_loras` for several). Returns the name
        requests may use in ``loras: [{path, scale}]`` (``name``, else ``path`` as given).

        Raises InvalidInput (not a safetensors file, neither file, folder nor id) or
        ModelLoadError (not found; made for another base model: the message names both)."""
        parse_input({"prompt": "", "loras": [{"path": str(path), "scale": scale}]})  # 0-4
        key: str = self._worker.run(lambda: self._loras.load(path, name=name))
        self._count_lora_loads()
        if activate:
            self.set_loras([{"path": key, "scale": scale}])
        return key

    def set_loras(self, loras: list[dict[str, Any]] | tuple[Any, ...]) -> None:
        """The LoRAs of requests that leave ``loras`` out: ``[{path, scale}]`` of loaded ones
        (``[]`` for none). Takes effect from the next frame; nothing is reloaded."""
        checked = parse_input({"prompt": "", "loras": list(loras)}).loras or ()
        entries = tuple((w.path, w.scale) for w in checked)
        self._worker.run(lambda: self._loras.apply(entries, allow_new=False))
        self._default_loras = entries

    @property
    def loras(self) -> list[dict[str, Any]]:
        """The default LoRAs (:meth:`set_loras`) as ``[{path, scale}]``."""
        return [{"path": p, "scale": s} for p, s in self._default_loras]

    @property
    def loaded_loras(self) -> list[str]:
        """The peft adapters in the model now (bounded by ``max_loras``)."""
        return self._loras.loaded

    async def generate(self, inp: Input) -> Output:
        """Run one request in a worker thread under the model lock."""
        inp = self._check(parse_input(inp))
        out: list[Output] = await self._worker.run_async(lambda: self._run([inp]))
        return out[0]

    async def generate_with_previews(self, inp: Input,
                                     on_preview: Callable[[StepPreview], None]) -> Output:
        """:meth:`generate`, calling ``on_preview`` (on the model thread) after each LCM step
        with a :class:`~..base.StepPreview`: the step's denoised latents mapped straight to
        RGB (:func:`.preview.latents_to_rgb`, 1/8 of the output's size, no VAE) as a JPEG."""
        inp = self._check(parse_input(inp))
        family = self._c.family

        def on_step(step: int, steps: int, denoised: Any) -> None:
            from ...images import encode_image
            from .preview import latents_to_rgb

            rgb = latents_to_rgb(denoised[:1], family)[0]
            on_preview(StepPreview(step=step, steps=steps, data=encode_image(rgb, "jpeg"),
                                   width=int(rgb.shape[1]), height=int(rgb.shape[0])))

        out: list[Output] = await self._worker.run_async(
            lambda: self._run([inp], on_step=on_step))
        return out[0]

    async def generate_batch(self, inputs: list[Input]) -> list[Output]:
        """Run ``inputs``, grouped by the batch rule (:func:`~lcm_widgets.backends.base.
        plan_batches` with :attr:`info`): each group is one UNet batch of up to ``max_batch``
        images, its sources (one size) encoded in one VAE call. The i-th output answers the
        i-th input and equals what :meth:`generate` gives it alone (same seed), up to float
        rounding; each output's ``timings`` are those of the batch it ran in."""
        inputs = [self._check(parse_input(i)) for i in inputs]
        outputs: list[Output | None] = [None] * len(inputs)
        for group in plan_batches(inputs, self._info):
            cells = [inputs[i] for i in group]
            done = await self._worker.run_async(functools.partial(self._run, cells))
            for i, out in zip(group, done, strict=True):
                outputs[i] = out
        return [o for o in outputs if o is not None]

    def generate_sync(self, inp: Input | dict[str, Any]) -> Output:
        """Blocking :meth:`generate` for a cell or a script; accepts a dict of fields too."""
        inp = self._check(parse_input(inp))
        out: list[Output] = self._worker.run(lambda: self._run([inp]))
        return out[0]

    def warmup(self, steps: int = 4, strength: float = 0.5) -> float:
        """Run one image-to-image and one text-to-image frame at the native size (this is when
        ``compile`` compiles); returns the seconds it took."""
        import numpy as np

        from ...images import encode_image

        size = self.native_size
        sketch = np.full((size, size, 3), 255, np.uint8)
        sketch[size // 4: size // 2, size // 4: 3 * size // 4] = (40, 90, 200)
        base = {"prompt": "warm-up", "seed": 0, "num_inference_steps": steps, "format": "jpeg",
                "image_size": {"width": size, "height": size}}
        jobs = [dict(base, image_url=encode_image(sketch, "png"), strength=strength), base]
        desc = "lcm-widgets warm-up"
        if self.compile_mode:
            desc += ": compiling (minutes on a GPU)"
            log.info("compiling the UNet and VAE with torch.compile(mode=%r, backend=%r); the "
                     "first frame takes a while (minutes on a GPU)", self.compile_mode,
                     self.compile_backend)
        t0 = time.perf_counter()
        bar = progress_bar(len(jobs), desc, self.progress)
        try:
            for i, job in enumerate(jobs):
                try:
                    cell = parse_input(job)
                    self._worker.run(functools.partial(self._run, [cell], count=False))
                except GenerationFailed as exc:
                    if self.compile_mode and i == 0:
                        raise ModelLoadError(
                            f"compile: torch.compile(mode={self.compile_mode!r}) failed on "
                            f"{self.device} ({exc.__cause__ or exc}); pass compile=False") from exc
                    raise
                if i == 0 and self.compile_mode:
                    self.compile_seconds = time.perf_counter() - t0
                    log.info("first compiled frame took %.1f s", self.compile_seconds)
                    bar.set_description("lcm-widgets warm-up")
                bar.update(1)
        finally:
            bar.close()
        return time.perf_counter() - t0

    async def aclose(self) -> None:
        """Drop the model and free device memory. Safe to call twice."""
        self._worker.close(self._release)

    # --- the work ---------------------------------------------------------------------------

    def _release(self) -> None:
        """Drop every model reference and cache (under the model lock, once)."""
        self._c = None  # type: ignore[assignment]
        self._unet = None
        self._controlnets.clear()
        self._loras.pipe = None
        self.prompts._cache.clear()
        self._schedules.clear()
        self._noise.clear()
        self._pixel_buffers.clear()
        self._masks.clear()
        self._decode_buffer = None
        if self._pinned is not None:
            self._pinned.clear()
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()

    def _check(self, inp: Input) -> Input:
        if self._worker.closed:
            raise BackendError(CLOSED)
        wanted = PRESETS.get(inp.model_name) if inp.model_name is not None else None
        if inp.model_name is not None and inp.model_name != self.model and (
                wanted is None or wanted.repo is None or wanted.repo != self._preset.repo):
            raise InvalidInput(f"model_name: this LocalLCM has {self.model!r} loaded, got "
                               f"{inp.model_name!r}; leave model_name out or load that model",
                               field="model_name")
        if inp.expand_prompt:
            raise InvalidInput("expand_prompt: not supported by the local backend, got True; "
                               "set it to false", field="expand_prompt")
        if inp.controlnet is not None and inp.controlnet != "none" and \
                inp.controlnet not in self._controlnets:
            loaded = ", ".join(map(repr, self._controlnets)) or "none"
            raise InvalidInput(f"controlnet: must be 'none' or a ControlNet this LocalLCM "
                               f"loaded ({loaded}), got {inp.controlnet!r}; load it with "
                               "LocalLCM(model, controlnet=...)", field="controlnet")
        return inp

    def _load_controlnets(self, spec: str | list[str] | tuple[str, ...] | None) -> dict[str, Any]:
        from .controlnet import load_controlnet
        from .loading import _dtype_kwarg, import_torch

        names = [] if spec is None else [spec] if isinstance(spec, str) else list(spec)
        out: dict[str, Any] = {}
        for name in names:
            if name in out:
                continue
            self._report.step(f"controlnet {name}")
            out[name] = load_controlnet(name, self._c.unet, base=self.model,
                                        family=self._c.family, device=self.device,
                                        dtype=self.dtype, dtype_kwarg=_dtype_kwarg(
                                            import_torch()[1]))
            self.load_counts["controlnet"] += 1
        return out

    def _controlnet_for(self, inp: Input) -> Any:
        if inp.controlnet == "none" or not self._controlnets:
            return None
        name = inp.controlnet if inp.controlnet is not None else next(iter(self._controlnets))
        return self._controlnets[name]

    def _count_lora_loads(self) -> None:
        self.load_counts["lora"] = self._loras.loads

    def _apply_loras(self, inp: Input) -> None:
        entries = self._default_loras if inp.loras is None else tuple(
            (w.path, w.scale) for w in inp.loras)
        try:
            self._loras.apply(entries, allow_new=self.lora_from_requests)
        finally:
            self._count_lora_loads()

    def _schedule(self, steps: int, strength: float | None) -> Any:
        from .loop import make_schedule

        return self._schedules.get_or_make(
            (steps, strength),
            lambda: make_schedule(self._c.pipe.scheduler, steps, strength, self.device))

    def _sources(self, group: list[Input]) -> Sources:
        """The group's source images at the output size (:func:`~.frames.load_sources`).

        The first colour JPEG is decoded into the previous frame's array when the size is the
        same (that array is dead by then: the frame it held was consumed under the model lock);
        the distinct images of a batch are stacked in a reused buffer."""
        import numpy as np

        def stack(u: int, h: int, w: int) -> Any:
            return self._pixel_buffers.get_or_make(
                ("stack", u, h, w), lambda: np.empty((u, h, w, 3), np.uint8))

        src = load_sources(group, self.native_size, out=self._decode_buffer, stack=stack)
        arr = src.decoded
        if arr is not None and arr.flags.writeable and arr.flags.owndata:
            self._decode_buffer = arr
        return src

    def _mask(self, group: list[Input], size: tuple[int, int]) -> Any:
        """The ``(B, 1, h/8, w/8)`` inpainting mask of a group (one row per image), or None
        when it does not inpaint (:func:`~.frames.latent_mask`; each distinct mask decoded
        once and kept, :attr:`_masks`)."""
        if len({inp.is_inpainting for inp in group}) > 1:
            raise InvalidInput("mask_url: one batch must be all inpainting or none, got both; "
                               "send them as separate requests", field="mask_url")
        if not group[0].is_inpainting:
            return None
        from ...images import image_dims
        from .frames import latent_mask

        torch = self._torch
        rows = []
        for inp in group:
            key = (inp.mask_url, image_dims(inp.image_url) if inp.image_url else None, size)
            m = self._masks.get(key)
            if m is None:
                m = self._masks.put(key, torch.from_numpy(latent_mask(inp, size)).to(
                    self.device, self.dtype)[None, None])
            rows.extend([m] * inp.num_images)
        return rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)

    def _pixel_buffer(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """The reused ``(U, 3, H, W)`` source-pixel buffer for this shape (the previous frame's
        pixels are dead by the time the next frame fills it: the VAE encode consumed them)."""
        from .loop import pixels_buffer

        return self._pixel_buffers.get_or_make(
            (*shape, dtype), lambda: pixels_buffer(shape, self.device, dtype))

    def _scratch(self, shape: tuple[int, ...]) -> Any:
        """Reused buffers for the decoded frames' uint8 conversion on the CPU (their previous
        contents were encoded before the last frame returned)."""
        from .loop import uint8_scratch

        b, _, h, w = shape
        return self._pixel_buffers.get_or_make(("out", b, h, w),
                                               lambda: uint8_scratch((b, h, w, 3)))

    def _tick(self, stamps: dict[str, float], stage: str, since: float) -> float:
        if self.precise_timings and self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        stamps[stage] = now - since
        return now

    def _run(self, group: list[Input], *, latents_only: bool = False, count: bool = True,
             on_step: Callable[[int, int, Any], None] | None = None) -> Any:
        """Generate a group that the batch rule allows together (same steps, strength and output
        size) as one batch; with ``latents_only``, return the final latents instead."""
        from . import loop

        c = self._c
        t0 = time.perf_counter()
        stamps: dict[str, float] = {}
        first = group[0]
        pin = self._pinned  # CUDA only (untested without a GPU: test_local_loading.py -m gpu)
        self._apply_loras(first)
        net = self._controlnet_for(first)
        src = self._sources(group)
        w, h = src.size
        mask = self._mask(group, (w, h))
        # With a ControlNet, strength 1 is text-to-image: the frame guides only through it
        # (unless it inpaints: the kept region needs the image's latents).
        txt2img = src.pixels is None or (net is not None and first.strength >= 1.0
                                         and mask is None)
        t = self._tick(stamps, "decode", t0)
        seeds = [_seed(inp) for inp in group]
        rows = [(inp.prompt, inp.negative_prompt, inp.guidance_scale)
                for inp in group for _ in range(inp.num_images)]
        image_rows = [src.rows[i] for i, inp in enumerate(group) for _ in range(inp.num_images)]
        gen_device = self.device if self.device.type == "cuda" else "cpu"
        gens = [self._noise.cursor((s + k) % 2**64, gen_device)
                for inp, s in zip(group, seeds, strict=True) for k in range(inp.num_images)]
        cond = self.prompts.conditioning(rows, (w, h), c.unet.config.time_cond_proj_dim)
        t = self._tick(stamps, "encode_prompt", t)
        schedule = self._schedule(first.num_inference_steps,
                                  None if txt2img else first.strength)
        shape = (len(gens), c.unet.config.in_channels, h // 8, w // 8)
        vae_dtype = next(c.vae.parameters()).dtype
        image_latents = None
        control = None
        if net is not None:
            from .controlnet import make_control

            control = make_control(net, group, src.pixels, image_rows, (w, h),
                                   len(schedule.timesteps), self.device, self.dtype)
            t = self._tick(stamps, "control_image", t)
        if not txt2img:
            u = 1 if src.pixels.ndim == 3 else int(src.pixels.shape[0])
            pixels = loop.uint8_to_pixels(
                src.pixels, self.device, vae_dtype, out=self._pixel_buffer((u, 3, h, w),
                                                                           vae_dtype),
                upload=None if pin is None else functools.partial(pin.upload,
                                                                  device=self.device))
            image_latents = loop.encode_image(c.vae, pixels, gens, image_rows)
        latents, noise = loop.initial_latents_and_noise(schedule, image_latents, shape, gens,
                                                        self.device, self.dtype)
        inpaint = None
        if mask is not None and image_latents is not None:
            inpaint = loop.Inpaint(mask=mask, image_latents=image_latents.to(self.dtype),
                                   noise=noise)
        t = self._tick(stamps, "encode_image", t)
        if count:
            with self._stats_lock:
                self._batch_sizes[len(gens)] += 1
        denoised = loop.denoise(self._unet, latents, schedule, cond.prompt_embeds, gens,
                                timestep_cond=cond.timestep_cond,
                                added_cond_kwargs=cond.added_cond_kwargs,
                                cfg_scale=cond.cfg_scale, mark_step=self._mark_step,
                                on_step=on_step, control=control, inpaint=inpaint)
        if latents_only:
            return denoised.clone()
        t = self._tick(stamps, "denoise", t)
        images = loop.decode_latents(c.vae, denoised.to(vae_dtype))
        nsfw = safety_flags(c, images, group, self.device, self.dtype)
        # On CUDA these are views of a pinned buffer, valid until the next frame: they are encoded
        # below, before the model lock is released.
        arrays = loop.pixels_to_uint8(
            images, None if pin is None else pin.download,
            self._scratch(tuple(images.shape)) if images.device.type == "cpu" else None)
        t = self._tick(stamps, "decode_latents", t)
        outputs, k = [], 0
        for inp, seed in zip(group, seeds, strict=True):
            n = inp.num_images
            outputs.append(self._output(inp, seed, list(arrays[k:k + n]), nsfw[k:k + n], {}))
            k += n
        t = self._tick(stamps, "encode_output", t)
        stamps["total"] = t - t0
        for out in outputs:
            out.timings.update(stamps)
        return outputs

    def _output(self, inp: Input, seed: int, arrays: list[Any], nsfw: list[bool],
                timings: dict[str, float]) -> Output:
        return make_output(inp, seed, arrays, nsfw, timings, quality=self.jpeg_quality)


def _seed(inp: Input) -> int:
    return inp.seed if inp.seed is not None else random.randrange(2**32)
