"""LocalLCM: Latent Consistency Models on this machine's GPU (or CPU) with diffusers.

>>> from lcm_widgets.backends.local import LocalLCM
>>> lcm = LocalLCM("tiny")                      # doctest: +SKIP
>>> out = lcm.generate_sync({"prompt": "a cat", "seed": 1, "num_inference_steps": 4})
>>> out.images[0].content[:3]                   # doctest: +SKIP
b'\\xff\\xd8\\xff'

Importing this module imports neither torch nor diffusers; constructing a :class:`LocalLCM`
does (and raises :class:`~lcm_widgets.errors.BackendUnavailable` naming
``pip install "lcm-widgets[local]"`` when they are missing).

Behaviour, field by field (the schema is :class:`~lcm_widgets.schema.Input`):

* ``image_url`` given → image-to-image: the source is resized to the output size and
  ``int(num_inference_steps * strength)`` UNet evaluations run, the last ones of the
  ``num_inference_steps``-step LCM schedule (see :func:`._lcm_loop.make_schedule`). Without it,
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
* negative prompts only matter for LCM-LoRA models with ``guidance_scale > 1`` (see
  :mod:`._conditioning`).

Two Studios may share one LocalLCM: all model work runs on the instance's one worker thread,
under a lock, one request (or batch) at a time, never on an event loop. One thread, not a pool:
torch keeps an OpenMP team per calling thread, and on a busy CPU several teams spin against
each other (measured here: 2-3x slower frames).
"""

from __future__ import annotations

import asyncio
import functools
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import BackendError, GenerationFailed, InvalidInput, LCMWidgetsError, ModelLoadError
from ..schema import Input, Output, parse_input
from ._frames import PinnedFrames, load_source, make_output, progress_bar
from .base import BackendInfo
from .presets import PRESETS, resolve_preset

__all__ = ["LocalLCM"]

T = TypeVar("T")

_BATCH_AXES = ("seed", "guidance_scale", "prompt", "negative_prompt")
SCHEDULE_CACHE_SIZE = 64  # (steps, strength) schedules kept; older ones are rebuilt on demand


class LocalLCM:
    """A diffusers LCM in this process, run by our own lean loop.

    Parameters
    ----------
    model:
        ``"lcm-dreamshaper-v7"`` (``SimianLuo/LCM_Dreamshaper_v7``), ``"runwayml/stable-diffusion-
        v1-5"`` / ``"stabilityai/stable-diffusion-xl-base-1.0"`` (with the LCM-LoRA fused),
        ``"tiny"`` (random weights, offline), another Hugging Face id, or a local folder (a
        diffusers pipeline, or a folder holding ``pipeline/`` and optionally ``taesd/``).
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

    Raises :class:`~lcm_widgets.errors.BackendUnavailable` (torch/diffusers/peft or the device
    missing) or :class:`~lcm_widgets.errors.ModelLoadError`.
    """

    def __init__(self, model: str = "lcm-dreamshaper-v7", *, device: str | None = None,
                 dtype: str | Any | None = None, safety_checker: bool = True,
                 warmup: bool = True, compile: bool | str | None = None,
                 vae: str | None = None, progress: bool = True, max_batch: int = 8,
                 jpeg_quality: int = 90,
                 compile_backend: str | Callable[..., Any] | None = None) -> None:
        from ._conditioning import LRU, PromptCache
        from ._loading import import_torch, load_components, resolve_device_dtype
        from ._noise import NoiseTapes

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
                                  safety_checker=safety_checker, vae=vae, progress=progress)
        self._lock = threading.Lock()
        self._closed = False
        self._thread_name = f"lcm-widgets-model-{id(self):x}"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_name)
        self.prompts = PromptCache(self._c.pipe, time_cond=self._c.time_cond,
                                   family=self._c.family, device=self.device, dtype=self.dtype)
        # Seeded noise, recorded once per seed and replayed (a fixed seed while drawing).
        self._noise = NoiseTapes(self._torch)
        # Keyed by client-chosen (steps, strength): bounded, as a server runs for days.
        self._schedules: LRU[tuple[int, float | None], Any] = LRU(SCHEDULE_CACHE_SIZE)
        # Reused per-size buffers: the source image's (1, 3, H, W) pixels (keyed by H, W and
        # dtype) and the CPU uint8 conversion's scratch ("out", B, H, W); a few sizes at most,
        # only the worker thread touches them, under the model lock.
        self._pixel_buffers: LRU[tuple[Any, ...], Any] = LRU(8)
        # The last decoded source frame's array, reused for the next frame of the same size.
        self._decode_buffer: Any = None
        # Pinned host buffers for the uint8 frames' H2D/D2H copies, on CUDA only.
        self._pinned = PinnedFrames(self._torch) if self.device.type == "cuda" else None
        self._unet = self._c.unet
        self._mark_step: Any = None
        self.compile_mode: str | None = None
        self.compile_backend: str | None = None
        self.compile_seconds: float | None = None
        want = (self.device.type == "cuda" or compile_backend is not None) if compile is None \
            else compile
        if want:
            self._compile(want, compile_backend)
        self._info = BackendInfo(
            name="local", model=model, device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."), can_batch=True,
            batch_axes=_BATCH_AXES, max_batch=max_batch,
            extra={"source": self._c.source, "vae": "taesd" if self._c.taesd else "full",
                   "family": self._c.family, "compile": str(self.compile_mode),
                   "compile_backend": str(self.compile_backend),
                   "guidance": "w-embedding" if self._c.time_cond else "cfg"})
        if warmup:
            self.warmup()

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

    async def generate(self, inp: Input) -> Output:
        """Run one request in a worker thread under the model lock."""
        inp = self._check(parse_input(inp))
        return (await self._in_worker(lambda: self._run([inp])))[0]  # type: ignore[no-any-return]

    async def generate_batch(self, inputs: list[Input]) -> list[Output]:
        """Run ``inputs``; those sharing steps, strength, size and source image run as one
        batched UNet call (up to ``max_batch`` images). The i-th output answers the i-th input;
        each output's ``timings`` are those of the batch it ran in."""
        inputs = [self._check(parse_input(i)) for i in inputs]
        outputs: list[Output | None] = [None] * len(inputs)
        for group in self._plan(inputs):
            cells = [inputs[i] for i in group]
            done = await self._in_worker(functools.partial(self._run, cells))
            for i, out in zip(group, done, strict=True):
                outputs[i] = out
        return [o for o in outputs if o is not None]

    def generate_sync(self, inp: Input | dict[str, Any]) -> Output:
        """Blocking :meth:`generate` for a cell or a script; accepts a dict of fields too."""
        inp = self._check(parse_input(inp))
        return self._on_worker(lambda: self._run([inp]))[0]  # type: ignore[no-any-return]

    def generate_reference(self, inp: Input | dict[str, Any]) -> Output:
        """The same request through the stock diffusers pipeline ``__call__`` (slow; for tests
        and the bench). Same seed → the same image as :meth:`generate` up to float rounding."""
        from ._reference import reference_images

        inp = self._check(parse_input(inp))
        seed = _seed(inp)
        t0 = time.perf_counter()
        arrays = self._on_worker(lambda: reference_images(self, inp, seed, "np"))
        return self._output(inp, seed, arrays, [False] * len(arrays),
                            {"total": time.perf_counter() - t0})

    def denoise_latents(self, inp: Input | dict[str, Any], *, reference: bool = False) -> Any:
        """The final denoised latents (a tensor, one row per image) of the lean loop or, with
        ``reference=True``, of the stock pipeline; ``seed`` must be set. For tests and the bench.
        """
        from ._reference import reference_images

        inp = self._check(parse_input(inp))
        seed = inp.seed
        if seed is None:
            raise InvalidInput("seed: must be set to compare latents, got None", field="seed")
        if reference:
            return self._on_worker(lambda: reference_images(self, inp, seed, "latent"))
        return self._on_worker(lambda: self._run([inp], latents_only=True))

    def warmup(self, steps: int = 4, strength: float = 0.5) -> float:
        """Run one image-to-image and one text-to-image frame at the native size (this is when
        ``compile`` compiles); returns the seconds it took."""
        import numpy as np

        from ..images import encode_image

        size = self.native_size
        sketch = np.full((size, size, 3), 255, np.uint8)
        sketch[size // 4: size // 2, size // 4: 3 * size // 4] = (40, 90, 200)
        base = {"prompt": "warm-up", "seed": 0, "num_inference_steps": steps, "format": "jpeg",
                "image_size": {"width": size, "height": size}}
        jobs = [dict(base, image_url=encode_image(sketch, "png"), strength=strength), base]
        if self.compile_mode:
            print(f"lcm-widgets: compiling the UNet and VAE with torch.compile(mode="
                  f"{self.compile_mode!r}, backend={self.compile_backend!r}); the first frame "
                  "takes a while (minutes on a GPU)", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        bar = progress_bar(len(jobs), "lcm-widgets warm-up", self.progress)
        try:
            for i, job in enumerate(jobs):
                try:
                    cell = parse_input(job)
                    self._on_worker(functools.partial(self._run, [cell]))
                except GenerationFailed as exc:
                    if self.compile_mode and i == 0:
                        raise ModelLoadError(
                            f"compile: torch.compile(mode={self.compile_mode!r}) failed on "
                            f"{self.device} ({exc.__cause__ or exc}); pass compile=False") from exc
                    raise
                if i == 0 and self.compile_mode:
                    self.compile_seconds = time.perf_counter() - t0
                    print(f"lcm-widgets: first compiled frame took {self.compile_seconds:.1f} s",
                          file=sys.stderr, flush=True)
                bar.update(1)
        finally:
            bar.close()
        return time.perf_counter() - t0

    async def aclose(self) -> None:
        """Drop the model and free device memory. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._c = None  # type: ignore[assignment]
            self._unet = None
            self.prompts._cache.clear()
            self._schedules.clear()
            self._noise.clear()
            self._pixel_buffers.clear()
            self._decode_buffer = None
            if self._pinned is not None:
                self._pinned.clear()
            if self.device.type == "cuda":
                self._torch.cuda.empty_cache()
        self._executor.shutdown(wait=False)

    # --- the work ---------------------------------------------------------------------------

    def _compile(self, want: bool | str, backend: str | Callable[..., Any] | None) -> None:
        torch = self._torch
        backend = "inductor" if backend is None else backend
        inductor = backend == "inductor"
        mode = want if isinstance(want, str) else (
            "max-autotune" if self.device.type == "cuda" and inductor else None)
        self.compile_mode = mode or "default"
        self.compile_backend = backend if isinstance(backend, str) else getattr(
            backend, "__name__", repr(backend))
        try:
            self._unet = torch.compile(self._c.unet, mode=mode, fullgraph=True, backend=backend)
            vae = self._c.vae
            for part in ("encoder", "decoder"):
                setattr(vae, part, torch.compile(getattr(vae, part), mode=mode, backend=backend))
        except Exception as exc:  # compile is lazy; this only catches bad arguments
            raise ModelLoadError(f"compile: torch.compile(mode={mode!r}, backend="
                                 f"{self.compile_backend!r}) failed ({exc}); "
                                 "pass compile=False") from exc
        if self.device.type == "cuda" and inductor and mode in {"max-autotune",
                                                                "reduce-overhead"}:
            # CUDA graphs overwrite their outputs on the next replay; mark each UNet call as a
            # new step (PERF.md §6).
            self._mark_step = torch.compiler.cudagraph_mark_step_begin

    def _check(self, inp: Input) -> Input:
        if self._closed:
            raise BackendError("LocalLCM is closed; create a new one")
        wanted = PRESETS.get(inp.model_name) if inp.model_name is not None else None
        if inp.model_name is not None and inp.model_name != self.model and (
                wanted is None or wanted.repo is None or wanted.repo != self._preset.repo):
            raise InvalidInput(f"model_name: this LocalLCM has {self.model!r} loaded, got "
                               f"{inp.model_name!r}; leave model_name out or load that model",
                               field="model_name")
        if inp.expand_prompt:
            raise InvalidInput("expand_prompt: not supported by the local backend, got True; "
                               "set it to false", field="expand_prompt")
        return inp

    def _plan(self, inputs: list[Input]) -> list[list[int]]:
        """Group indices of compatible inputs, each group at most ``max_batch`` images."""
        groups: dict[Any, list[list[int]]] = {}
        for i, inp in enumerate(inputs):
            key = (inp.num_inference_steps, inp.strength if inp.is_img2img else None,
                   inp.image_size, inp.image_url)
            bins = groups.setdefault(key, [[]])
            used = sum(inputs[j].num_images for j in bins[-1])
            if bins[-1] and used + inp.num_images > self.max_batch:
                bins.append([])
            bins[-1].append(i)
        return [b for bins in groups.values() for b in bins]

    def _job(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under the model lock in inference mode; foreign errors become
        :class:`GenerationFailed` (cause chained)."""
        with self._lock:
            if self._closed:
                raise BackendError("LocalLCM is closed; create a new one")
            try:
                with self._torch.inference_mode():
                    return fn()
            except LCMWidgetsError:
                raise
            except Exception as exc:
                raise GenerationFailed(f"local model {self.model!r} failed: "
                                       f"{type(exc).__name__}: {exc}") from exc

    def _submit(self, fn: Callable[[], T]) -> Future[T]:
        try:
            return self._executor.submit(self._job, fn)
        except RuntimeError as exc:  # submit after shutdown: closed meanwhile
            raise BackendError("LocalLCM is closed; create a new one") from exc

    def _on_worker(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the model thread and wait (directly, when already on it)."""
        if threading.current_thread().name.startswith(self._thread_name):
            return self._job(fn)
        return self._submit(fn).result()

    async def _in_worker(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the model thread without blocking the event loop."""
        return await asyncio.wrap_future(self._submit(fn))

    def _schedule(self, steps: int, strength: float | None) -> Any:
        from ._lcm_loop import make_schedule

        return self._schedules.get_or_make(
            (steps, strength),
            lambda: make_schedule(self._c.pipe.scheduler, steps, strength, self.device))

    def _source(self, inp: Input) -> tuple[Any, tuple[int, int]]:
        """The source image as an HWC uint8 array at the output size (None for txt2img).

        A colour JPEG is decoded into the previous frame's array when the size is the same
        (that array is dead by then: the frame it held was consumed under the model lock)."""
        arr, size = load_source(inp, self.native_size, out=self._decode_buffer)
        if arr is not None and arr.flags.writeable and arr.flags.owndata:
            self._decode_buffer = arr
        return arr, size

    def _pixel_buffer(self, h: int, w: int, dtype: Any) -> Any:
        """The reused source-pixel buffer for this size (the previous frame's pixels are dead
        by the time the next frame fills it: the VAE encode has consumed them)."""
        from ._lcm_loop import pixels_buffer

        return self._pixel_buffers.get_or_make(
            (h, w, dtype), lambda: pixels_buffer((1, 3, h, w), self.device, dtype))

    def _scratch(self, shape: tuple[int, ...]) -> Any:
        """Reused buffers for the decoded frames' uint8 conversion on the CPU (their previous
        contents were encoded before the last frame returned)."""
        from ._lcm_loop import uint8_scratch

        b, _, h, w = shape
        return self._pixel_buffers.get_or_make(("out", b, h, w),
                                               lambda: uint8_scratch((b, h, w, 3)))

    def _tick(self, stamps: dict[str, float], stage: str, since: float) -> float:
        if self.precise_timings and self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        stamps[stage] = now - since
        return now

    def _run(self, group: list[Input], *, latents_only: bool = False) -> Any:
        """Generate a compatible group (same steps, strength, size, source image) as one batch."""
        from . import _lcm_loop as loop

        c = self._c
        t0 = time.perf_counter()
        stamps: dict[str, float] = {}
        first = group[0]
        pin = self._pinned  # CUDA only (untested without a GPU: tests/test_local_loading.py -m gpu)
        arr, (w, h) = self._source(first)
        t = self._tick(stamps, "decode", t0)
        seeds = [_seed(inp) for inp in group]
        rows = [(inp.prompt, inp.negative_prompt, inp.guidance_scale)
                for inp in group for _ in range(inp.num_images)]
        gen_device = self.device if self.device.type == "cuda" else "cpu"
        gens = [self._noise.cursor((s + k) % 2**64, gen_device)
                for inp, s in zip(group, seeds, strict=True) for k in range(inp.num_images)]
        cond = self.prompts.conditioning(rows, (w, h), c.unet.config.time_cond_proj_dim)
        t = self._tick(stamps, "encode_prompt", t)
        schedule = self._schedule(first.num_inference_steps,
                                  first.strength if first.is_img2img else None)
        shape = (len(gens), c.unet.config.in_channels, h // 8, w // 8)
        image_latents = None
        if arr is not None:
            vae_dtype = next(c.vae.parameters()).dtype
            pixels = loop.uint8_to_pixels(
                arr, self.device, vae_dtype, out=self._pixel_buffer(h, w, vae_dtype),
                upload=None if pin is None else functools.partial(pin.upload,
                                                                  device=self.device))
            image_latents = loop.encode_image(c.vae, pixels, gens)
        latents = loop.initial_latents(schedule, image_latents, shape, gens, self.device,
                                       self.dtype)
        t = self._tick(stamps, "encode_image", t)
        denoised = loop.denoise(self._unet, latents, schedule, cond.prompt_embeds, gens,
                                timestep_cond=cond.timestep_cond,
                                added_cond_kwargs=cond.added_cond_kwargs,
                                cfg_scale=cond.cfg_scale, mark_step=self._mark_step)
        if latents_only:
            return denoised.clone()
        t = self._tick(stamps, "denoise", t)
        vae_dtype = next(c.vae.parameters()).dtype
        images = loop.decode_latents(c.vae, denoised.to(vae_dtype))
        nsfw = self._safety(images, group)
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

    def _safety(self, images: Any, group: list[Input]) -> list[bool]:
        flags = [False] * images.shape[0]
        if not self._c.has_safety_checker or not any(i.enable_safety_checker for i in group):
            return flags
        _, found = self._c.pipe.run_safety_checker(images, self.device, self.dtype)
        k = 0
        for inp in group:
            for _ in range(inp.num_images):
                flags[k] = bool(found[k]) and inp.enable_safety_checker if found else False
                if flags[k]:
                    images[k] = -1.0  # black, as the stock pipeline returns flagged images
                k += 1
        return flags

    def _output(self, inp: Input, seed: int, arrays: list[Any], nsfw: list[bool],
                timings: dict[str, float]) -> Output:
        return make_output(inp, seed, arrays, nsfw, timings, quality=self.jpeg_quality)


def _seed(inp: Input) -> int:
    return inp.seed if inp.seed is not None else random.randrange(2**32)
