"""Loading a model for :class:`~.backend.LocalLCM`: imports, presets, errors, ``torch.compile``.

Everything goes through diffusers' ``from_pretrained`` (the tiny model too, from its cache
folder), and every failure becomes a :class:`~lcm_widgets.errors.ModelLoadError` or
:class:`~lcm_widgets.errors.BackendUnavailable` that says what to do.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BackendUnavailable, InvalidInput, ModelLoadError
from ...models.presets import PRESETS, Preset

__all__ = ["Compiled", "Components", "LoadProgress", "LoadReporter", "compile_components",
           "import_torch", "load_components", "load_progress", "resolve_device_dtype"]

INSTALL_HINT = 'pip install "lcm-widgets[local]"'

log = logging.getLogger(__name__)

#: The pipeline's parts in the order they load (people read "tokenizer, text encoder, unet,
#: vae"); parts not named here follow in model_index.json's order.
PART_ORDER = ("tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2", "unet", "vae")


@dataclass(frozen=True)
class LoadProgress:
    """One step of a :class:`~.backend.LocalLCM` load, told when the step starts.

    ``step`` is what loads now, in words (``"tokenizer"``, ``"text encoder"``, ``"unet"``,
    ``"vae"``, ``"taesd"``, ``"lcm-lora"``, ``"to cuda"``, ``"controlnet scribble"``,
    ``"warm-up"``), ``done`` how many steps are finished, ``total`` how many there are. The
    first steps are not counted yet (``total`` None): ``"import torch"``, and ``"download"``
    while a Hugging Face id is fetched or found in the cache, since the parts are only known
    from the model's model_index.json. The last event of a load that succeeded is
    ``step="loaded"`` with ``done == total``. (Bytes of a download are not reported:
    diffusers' ``download`` shows its own bars, with ``progress=True``.)
    """

    step: str
    done: int
    total: int | None

    @property
    def text(self) -> str:
        """``unet (3/5)``: the step and its number, as the Studio's status line shows it."""
        if self.total is None:
            return self.step
        return self.step if self.done >= self.total else (
            f"{self.step} ({self.done + 1}/{self.total})")


ProgressCallback = Callable[[LoadProgress], None]

_listening = threading.local()


@contextlib.contextmanager
def load_progress(callback: ProgressCallback) -> Iterator[None]:
    """Call ``callback`` with every :class:`LoadProgress` of the ``LocalLCM`` loads that run on
    this thread inside the ``with`` (nested listeners all hear them).

    This is how a :class:`~lcm_widgets.widgets.studio.Studio` given ``lambda: LocalLCM(...)``
    hears the load it did not start itself; ``LocalLCM(on_progress=...)`` is the direct way.
    """
    stack: list[ProgressCallback] = getattr(_listening, "stack", [])
    _listening.stack = [*stack, callback]
    try:
        yield
    finally:
        _listening.stack = stack


class LoadReporter:
    """Counts a load's steps and tells the listeners (``LocalLCM``'s ``on_progress`` and those
    of :func:`load_progress` on this thread). ``later`` are the steps that follow the model's
    own (ControlNets, the warm-up): they count in the total from the start. A listener that
    raises is logged and dropped: a progress display must not break the load it shows."""

    def __init__(self, on_progress: ProgressCallback | None = None, *,
                 later: Sequence[str] = ()) -> None:
        self._listeners = [*([on_progress] if on_progress is not None else []),
                           *getattr(_listening, "stack", [])]
        self._total = len(later)
        self._done = 0
        self._planned = False

    def plan(self, steps: int) -> None:
        """The model's own steps are known (``steps`` of them): from now on events carry the
        total."""
        self._total += steps
        self._planned = True

    def step(self, name: str) -> None:
        """Step ``name`` starts (the steps before it are done). Before :meth:`plan` (the
        download) the step is not counted."""
        self._tell(LoadProgress(name, self._done, self._total if self._planned else None))
        if self._planned:
            self._done = min(self._done + 1, self._total)

    def finish(self) -> None:
        """Every step ran: tell ``loaded`` with ``done == total``."""
        self._done = self._total
        self._tell(LoadProgress("loaded", self._done, self._total))

    def _tell(self, event: LoadProgress) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:
                log.exception("a load progress listener failed; it hears no more of this load")
                self._listeners.remove(cb)


class _Quiet(logging.Filter):
    """Drops two log lines every load printed that say nothing to act on: transformers' "X
    requires torchvision (not installed); falling back to XPil" (the PIL image processors are
    what the safety checker's feature extractor needs), and diffusers' "Couldn't connect to the
    Hub ... Will try to load from local cache" (when the cache misses too, the
    :class:`ModelLoadError` carries that cause and says what to do)."""

    QUIET = ("requires torchvision (not installed); falling back to",
             "Couldn't connect to the Hub")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(q in message for q in self.QUIET)


_QUIET = _Quiet()


def import_torch() -> tuple[Any, Any]:
    """Import torch and diffusers, or raise :class:`BackendUnavailable` with the install hint."""
    try:
        import diffusers
        import torch
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "torch/diffusers"
        raise BackendUnavailable(
            f"the local backend needs torch, diffusers and transformers ({missing} is missing); "
            f"install them with: {INSTALL_HINT}") from exc
    for name in ("transformers.utils.import_utils", "diffusers.pipelines.pipeline_utils"):
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
    return torch, diffusers


def resolve_device_dtype(device: str | None, dtype: str | Any | None) -> tuple[Any, Any]:
    """``(torch.device, torch.dtype)``: CUDA fp16 when available, else CPU fp32."""
    torch, _ = import_torch()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInput(f"device: not a torch device, got {device!r}", field="device") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable(f"device: {device!r} was asked for but torch "
                                 f"{torch.__version__} sees no CUDA device")
    if dtype is None:
        dt = torch.float16 if dev.type == "cuda" else torch.float32
    elif isinstance(dtype, str):
        dt = {"float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
              "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
              "float32": torch.float32, "fp32": torch.float32}.get(dtype)
        if dt is None:
            raise InvalidInput("dtype: must be one of float16, bfloat16, float32, got "
                               f"{dtype!r}", field="dtype")
    else:
        dt = dtype
    return dev, dt


@dataclass
class Components:
    """A loaded model: the stock pipeline (reference path, prompt encoding, safety checker) and
    the parts the lean loop uses (possibly with a different VAE and a compiled UNet)."""

    pipe: Any
    unet: Any
    vae: Any
    family: str
    source: str
    taesd: bool
    time_cond: bool
    native_size: int
    has_safety_checker: bool


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[None]:
    """Switch diffusers' and transformers' loading bars off while loading, if asked."""
    if enabled:
        yield
        return
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    was = dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            dlog.enable_progress_bar()
        if was[1]:
            tlog.enable_progress_bar()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors it was raised from (``__cause__``, else ``__context__``)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _text(exc: BaseException) -> str:
    """``Type: the whole message`` on one line (nothing cut: the cause is the useful part)."""
    body = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {body}" if body else type(exc).__name__


def _is(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` or an error it was raised from is of a class called one of ``names``
    (by name: huggingface_hub's error classes are not imported here)."""
    return any(cls.__name__ in names for e in _chain(exc) for cls in type(e).__mro__)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def _load_error(what: str, where: str, exc: BaseException, *, known: bool) -> ModelLoadError:
    """The :class:`ModelLoadError` for a failed ``from_pretrained(where)``.

    ``known`` says ``where`` is an id this package chose (a preset's repo, its LCM-LoRA or
    TAESD), so it exists on the Hub and "not cached" is the only cause worth naming; otherwise
    it is the caller's string, which may be a mistyped preset, a missing folder or an unknown
    id, and the message tells those apart. The whole cause is kept (one line per error in the
    chain that says something new).
    """
    causes = [_text(e) for e in _chain(exc)]
    detail = "; caused by ".join(dict.fromkeys(causes))
    msg = f"{what}: could not load {where!r} ({detail})"
    download = f"`hf download {where}`"
    presets = ", ".join(sorted(PRESETS))
    close = difflib.get_close_matches(where, list(PRESETS), n=1)
    if close and not known:
        presets += f"; did you mean {close[0]!r}?"
    if Path(where).expanduser().exists():
        return ModelLoadError(msg + "; it is a local folder: check that it holds a diffusers "
                              "pipeline (model_index.json and the parts it names)")
    looks_like_path = where.startswith((".", "/", "~")) or where.count("/") > 1 or "\\" in where
    if not known and looks_like_path:
        hint = (f"there is no folder {where!r} (relative to {os.getcwd()!r}); "
                f"pass an existing folder, a Hugging Face id or a preset ({presets})")
    elif not known and _is(exc, "RepositoryNotFoundError", "GatedRepoError"):
        hint = (f"{where!r} is not a preset ({presets}), not a local folder, and the Hugging "
                "Face Hub has no public repository with that id (check the spelling; for a "
                "private or gated one, log in with `hf auth login`)")
    elif _offline():
        head = ("the weights are not in the Hugging Face cache and HF_HUB_OFFLINE is set" if known
                else f"{where!r} is not a preset ({presets}) nor a local folder, and HF_HUB_OFFLINE"
                " is set, so the Hub could not be asked whether the id exists or the weights be "
                "fetched")
        hint = (f"{head}: download them first on a machine with network ({download}, then copy "
                "the Hugging Face cache over), or unset HF_HUB_OFFLINE")
    elif _is(exc, "ConnectError", "ConnectionError", "NetworkError", "TimeoutException",
             "OfflineModeIsEnabled"):
        hint = ("the Hugging Face Hub could not be reached and the weights are not cached: "
                f"check the network (or HF_ENDPOINT), or download them elsewhere with {download}")
        if not known:
            hint += f"; if you meant a preset, the names are {presets}"
    elif known:
        hint = f"download the weights again with {download}"
    else:
        hint = f"check the model id (the presets are {presets}), or download it with {download}"
    return ModelLoadError(f"{msg}; {hint}")


def _source(preset: Preset) -> tuple[str, Path | None]:
    """Where to load the pipeline from, and a TAESD folder next to it if there is one.

    ``tiny`` is built into the cache first. A local folder laid out like the tiny model's
    (``pipeline/`` with ``model_index.json``, and optionally ``taesd/``) loads from
    ``pipeline/``: that is also the layout of the bench's random full-size architectures.
    """
    if preset.name in ("tiny", "tiny-turbo"):
        from ...models.tiny import ensure_tiny_model

        folder = ensure_tiny_model(kind=preset.kind)
        return str(folder / "pipeline"), folder / "taesd"
    assert preset.repo is not None
    folder = Path(preset.repo).expanduser()
    if (folder / "pipeline" / "model_index.json").is_file():
        taesd = folder / "taesd"
        return str(folder / "pipeline"), taesd if taesd.is_dir() else None
    return preset.repo, None


def load_components(preset: Preset, *, device: Any, dtype: Any, safety_checker: bool,
                    vae: str | None, progress: bool,
                    report: LoadReporter | None = None) -> Components:
    """Load ``preset`` onto ``device``/``dtype``; :class:`~.backend.LocalLCM` has the options.
    ``report`` hears each step (:class:`LoadProgress`)."""
    torch, diffusers = import_torch()
    if vae not in (None, "full", "taesd"):
        raise InvalidInput(f"vae: must be None, 'full' or 'taesd', got {vae!r}", field="vae")
    report = report if report is not None else LoadReporter()
    source, tiny_taesd = _source(preset)
    kwargs: dict[str, Any] = {_dtype_kwarg(diffusers): dtype}
    if not safety_checker:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    with _progress(progress):
        try:
            pipe = _load_pipeline(diffusers, source, dtype, kwargs, report,
                                  extra=int(bool(preset.lora)) + int(vae == "taesd") + 1)
        except ImportError as exc:
            raise BackendUnavailable(f"model {preset.name!r}: a dependency is missing ({exc}); "
                                     f"install it with: {INSTALL_HINT}") from exc
        except Exception as exc:
            raise _load_error(f"model {preset.name!r}", source, exc,
                              known=preset.name in PRESETS) from exc
        for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
            if getattr(pipe, part, None) is None:
                raise ModelLoadError(f"model {preset.name!r}: {source!r} is a "
                                     f"{type(pipe).__name__} without a {part}; LocalLCM needs a "
                                     "Stable Diffusion-style pipeline")
        family = "sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd"
        if preset.lora:
            report.step("lcm-lora")
            _fuse_lora(pipe, preset)
        pipe.scheduler = _scheduler(diffusers, pipe.scheduler, preset)
        lean_vae = pipe.vae
        if vae == "taesd":
            report.step("taesd")
            where = str(tiny_taesd) if tiny_taesd is not None else (
                "madebyollin/taesdxl" if family == "sdxl" else preset.taesd)
            try:
                lean_vae = diffusers.AutoencoderTiny.from_pretrained(
                    where, **{_dtype_kwarg(diffusers): dtype})
            except Exception as exc:
                raise _load_error(f"vae 'taesd' for {preset.name!r}", where, exc,
                                  known=True) from exc
    report.step(f"to {device.type}")
    try:
        pipe.to(device)
        lean_vae.to(device)
        if family == "sdxl" and dtype == torch.float16 and vae != "taesd" and getattr(
                pipe.vae.config, "force_upcast", False):
            # The original SDXL VAE overflows in fp16 (its activations exceed 65504: NaNs and
            # black images); its config says force_upcast, and diffusers keeps it in fp32 too.
            pipe.vae.to(torch.float32)
        if device.type == "cuda":
            pipe.unet.to(memory_format=torch.channels_last)
            lean_vae.to(memory_format=torch.channels_last)
    except Exception as exc:
        raise ModelLoadError(f"model {preset.name!r}: could not move it to {device} "
                             f"{dtype} ({exc})") from exc
    for module in (pipe.unet, lean_vae, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)):
        if module is not None:
            module.eval().requires_grad_(False)
    return Components(
        pipe=pipe, unet=pipe.unet, vae=lean_vae, family=family, source=source,
        taesd=vae == "taesd",
        time_cond=getattr(pipe.unet.config, "time_cond_proj_dim", None) is not None,
        native_size=int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor),
        has_safety_checker=getattr(pipe, "safety_checker", None) is not None
        and getattr(pipe, "feature_extractor", None) is not None)


def _load_pipeline(diffusers: Any, source: str, dtype: Any, kwargs: dict[str, Any],
                   report: LoadReporter, *, extra: int) -> Any:
    """``DiffusionPipeline.from_pretrained(source, **kwargs)``, one part at a time so that each
    part is a step ``report`` hears: the files first (a Hugging Face id: diffusers' own
    ``download``, which finds them in the cache or fetches them), then each part of
    model_index.json with its class's ``from_pretrained``, then the pipeline made of the parts
    (diffusers checks their classes). ``extra`` steps of the caller follow."""
    skipped = {name for name, value in kwargs.items() if value is None}
    folder = source
    if not os.path.isdir(source):
        report.step("download")
        folder = str(diffusers.DiffusionPipeline.download(
            source, **{name: None for name in skipped}))
    index = diffusers.DiffusionPipeline.load_config(folder)
    parts = {name: spec for name, spec in index.items()
             if not name.startswith("_") and isinstance(spec, list | tuple) and len(spec) == 2
             and spec[0] is not None and spec[1] is not None and name not in skipped}
    names = sorted(parts, key=lambda n: (PART_ORDER.index(n) if n in PART_ORDER
                                         else len(PART_ORDER), list(parts).index(n)))
    report.plan(len(names) + extra)
    loaded: dict[str, Any] = {}
    for name in names:
        report.step(name.replace("_", " "))
        cls = _part_class(diffusers, *parts[name])
        loaded[name] = cls.from_pretrained(folder, subfolder=name, **_dtype_of(cls, dtype))
    return diffusers.DiffusionPipeline.from_pretrained(folder, **kwargs, **loaded)


def _part_class(diffusers: Any, library: str, class_name: str) -> Any:
    """The class model_index.json names: from ``diffusers``, ``transformers``, or a diffusers
    pipeline module (``["stable_diffusion", "StableDiffusionSafetyChecker"]``)."""
    module_name = library if library in ("diffusers", "transformers") else (
        f"diffusers.pipelines.{library}")
    return getattr(importlib.import_module(module_name), class_name)


def _dtype_of(cls: Any, dtype: Any) -> dict[str, Any]:
    """The dtype keyword for ``cls.from_pretrained``: none for tokenizers, schedulers and
    feature extractors; diffusers' or transformers' spelling (``dtype`` where they deprecate
    ``torch_dtype``) for models."""
    torch, diffusers = import_torch()
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        return {}
    if issubclass(cls, diffusers.ModelMixin):
        return {_dtype_kwarg(diffusers): dtype}
    import transformers
    from packaging.version import Version

    new = Version(transformers.__version__).release >= (4, 56)
    return {"dtype" if new else "torch_dtype": dtype}


def _scheduler(diffusers: Any, shipped: Any, preset: Preset) -> Any:
    """The scheduler the lean loop runs: LCM for LCMs; for turbo presets the Euler or
    Euler-ancestral scheduler the model ships with (Euler if it ships another), with
    ``timestep_spacing="trailing"`` so that one step starts at t=999 (with ``leading``
    spacing one step would start at t=1, on an image that is all noise)."""
    name = type(shipped).__name__
    if preset.kind == "turbo":
        cls = getattr(diffusers, name) if name in ("EulerDiscreteScheduler",
                                                   "EulerAncestralDiscreteScheduler") else (
            diffusers.EulerDiscreteScheduler)
        if cls is type(shipped) and shipped.config.get("timestep_spacing") == "trailing":
            return shipped
        return cls.from_config(shipped.config, timestep_spacing="trailing")
    if name != "LCMScheduler":
        return diffusers.LCMScheduler.from_config(shipped.config)
    return shipped


def _dtype_kwarg(diffusers: Any) -> str:
    """``dtype`` where diffusers deprecates ``torch_dtype`` (it warns), else ``torch_dtype``."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else (
        "torch_dtype")


def _fuse_lora(pipe: Any, preset: Preset) -> None:
    """Load the preset's LCM-LoRA and fuse it into the UNet (no per-step LoRA overhead)."""
    try:
        import peft  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(f"model {preset.name!r} uses the LCM-LoRA {preset.lora!r}, "
                                 "which needs peft: pip install peft") from exc
    try:
        pipe.load_lora_weights(preset.lora)
        pipe.fuse_lora()
        pipe.unload_lora_weights()
    except Exception as exc:
        raise _load_error(f"LCM-LoRA for {preset.name!r}", str(preset.lora), exc,
                          known=True) from exc


@dataclass
class Compiled:
    """What :func:`compile_components` made: the UNet callable the lean loop runs, the mode and
    backend names, and ``mark_step`` (``torch.compiler.cudagraph_mark_step_begin`` when the
    UNet runs as CUDA graphs, else None)."""

    unet: Any
    mode: str
    backend: str
    mark_step: Any = None


def compile_components(c: Components, device: Any, want: bool | str,
                       backend: str | Callable[..., Any] | None) -> Compiled:
    """``torch.compile`` the UNet (``fullgraph``) and the lean VAE's encoder and decoder (in
    place); see :class:`~.backend.LocalLCM` for ``compile``/``compile_backend``. Compilation is
    lazy, so this only fails on bad arguments (ModelLoadError); the first frame compiles."""
    torch, _ = import_torch()
    backend = "inductor" if backend is None else backend
    inductor = backend == "inductor"
    mode = want if isinstance(want, str) else (
        "max-autotune" if device.type == "cuda" and inductor else None)
    name = backend if isinstance(backend, str) else getattr(backend, "__name__", repr(backend))
    try:
        unet = torch.compile(c.unet, mode=mode, fullgraph=True, backend=backend)
        for part in ("encoder", "decoder"):
            setattr(c.vae, part, torch.compile(getattr(c.vae, part), mode=mode,
                                               backend=backend))
    except Exception as exc:
        raise ModelLoadError(f"compile: torch.compile(mode={mode!r}, backend={name!r}) failed "
                             f"({exc}); pass compile=False") from exc
    mark_step = None
    if device.type == "cuda" and inductor and mode in {"max-autotune", "reduce-overhead"}:
        # CUDA graphs replay into the same output memory: without marking each UNet call as a
        # new step, the next replay would overwrite the previous step's output still in use.
        mark_step = torch.compiler.cudagraph_mark_step_begin
    return Compiled(unet=unet, mode=mode or "default", backend=name, mark_step=mark_step)
