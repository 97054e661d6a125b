"""The Studio: draw, and watch an LCM redraw it, in one notebook cell.

A :class:`Studio` is an ipywidgets ``VBox`` holding a :class:`~.sketchpad.Sketchpad` (the input
canvas, the output canvas and the status line) and controls generated from the schema (prompt,
negative prompt, steps, strength, guidance, seed with a lock and a "new seed" button, output
size, the model in use). Frames go through one :class:`~lcm_widgets.runtime.engine.Engine` per
Studio, on the library's loop: it paces them (:mod:`lcm_widgets.pacing`), calls the backend
one request at a time and sends each result back. Backend errors appear in the status line in
plain words and the session goes on. docs/architecture.md follows one frame through it.

    from lcm_widgets import LocalLCM, Studio
    studio = Studio(LocalLCM("tiny"), prompt="a cabin in the woods", steps=4, strength=0.5)
    studio

Instead of the Sketchpad's canvas, an ``ipycanvas.Canvas(..., sync_image_data=True)`` can be
the source (``Studio(backend, source=canvas)``); the results still show in the Studio.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..apps import backend_schema
from ..backends.base import Backend
from ..errors import BackendError, BackendUnavailable, InvalidInput
from ..protocol.widget import Ack
from ..runtime.engine import Engine, Job, ResultRecord
from ..schema import ALIASES, Output, parse_input
from ..stats import spread
from ._controls import CONTROLLED, EXTENSION_PARAMS, Controls, random_seed, start_values
from ._sources import CanvasSource, ImageView, image_to_jpeg, to_jpeg
from ._studio_parts import (
    HistoryEntry,
    Shown,
    check_init_kwargs,
    mask_fields,
    params_text,
    save_png,
)
from .sketchpad import Sketchpad

if TYPE_CHECKING:
    from ..backends.local.loading import LoadProgress

__all__ = ["HistoryEntry", "Studio"]

HISTORY_SIZE = 32
STATUS_INTERVAL = 0.5  # seconds between status-line refreshes
#: With the seed unlocked, seconds between writes of the seed field (each is a comm message
#: to every view); the last write always comes, so the field ends on the seed shown.
SEED_FIELD_INTERVAL = 0.25
#: Sketchpad traits the Studio drives itself (not settable through the Studio).
_STUDIO_OWNED = ("status", "stats", "error", "activity", "stale", "paused")
#: The params each result carries to the browser (its caption, history strip and download).
_SHOWN_PARAMS = ("prompt", "negative_prompt", "seed", "num_inference_steps", "strength",
                 "guidance_scale", "image_size")
#: What the activity part of the status line says while a frame is in flight, and while a
#: backend given as a function loads.
GENERATING = "generating"
LOADING = "loading the model"
#: A frame still generating after this long (s) shows GENERATING. A faster one never touches
#: the trait: at display rate two trait changes per frame would be two more comm messages per
#: frame (kernel, server and page work) for a word no one could read.
GENERATING_AFTER = 0.15


def _model_text(backend: Any) -> str:
    """``model (device)`` of a backend, for the status line and the controls."""
    info = getattr(backend, "info", None)
    return f"{info.model} ({info.device})" if info is not None else type(backend).__name__


def _sketchpad_settings() -> tuple[str, ...]:
    """The Sketchpad's own traits a Studio passes through (``brush_size``, ``display_size``...)."""
    return tuple(sorted(n for n in Sketchpad.class_own_traits() if n not in _STUDIO_OWNED))


class Studio(W.VBox):  # type: ignore[misc]
    """Live sketch-to-image: a Sketchpad, schema-generated controls and a status line.

    Parameters
    ----------
    backend:
        Any :class:`~lcm_widgets.backends.base.Backend` (``LocalLCM``, ``RealtimeBackend``,
        ``EchoBackend``...), or a function of no arguments that makes one
        (``lambda: LocalLCM("lcm-dreamshaper-v7")``): the Studio shows at once and loads it on
        a thread, its status line saying ``loading the model…`` with the seconds so far and,
        for a ``LocalLCM``, the step it is at (``loading the model: unet (4/7)``, heard with
        :func:`~lcm_widgets.backends.local.loading.load_progress`); frames drawn meanwhile are
        rendered once it is loaded. The Studio does not close it.
    source:
        None (draw on the Studio's own canvas) or an ``ipycanvas.Canvas`` created with
        ``sync_image_data=True``.
    prompt, negative_prompt, steps, strength, guidance_scale, image_size:
        Initial generation params (``steps`` is ``num_inference_steps``; the short names of
        :data:`lcm_widgets.schema.ALIASES` such as ``guidance`` and ``negative`` are accepted,
        as in :meth:`update`); checked against the schema of the backend's app at once
        (:func:`lcm_widgets.apps.backend_schema`: a turbo backend allows 1 to 4 steps, and its
        sliders show that range): a bad value raises
        :class:`~lcm_widgets.errors.InvalidInput` naming the field, the limit and the value.
        ``steps`` and ``guidance_scale`` left out: 4 and 1.5 on the LCM app, the app schema's
        defaults on another (turbo: 2 and 1). A backend given as a function is not known
        yet: its Studio uses the LCM schema.
    seed:
        None picks one at random; it stays the same while you draw until you press "new seed"
        (or unlock it).
    frame_size:
        Width and height of the frames the canvas sends (default 512).
    debounce:
        Seconds of quiet after a param edit before the newest frame is re-rendered.
    ack_timeout:
        Seconds to wait for the browser to paint a result before giving up on its ack.
    result_window:
        The most results sent to the browser and not yet painted (default 2: the browser
        decodes and paints one while the next travels; 1: each result waits for the one
        before to be painted). Newer results wait in one slot, the newest wins.
    history_size:
        How many results :attr:`history` keeps (default 32; oldest dropped first).
    sketchpad:
        An existing :class:`~.sketchpad.Sketchpad` to use (else one is made).
    sketchpad_kwargs:
        Sketchpad settings (``brush_size``, ``brush_color``, ``tool``, ``display_size``,
        ``jpeg_quality``, ``show_output``, ``frame_width``, ``frame_height``), applied to the
        Sketchpad (made or given). Any other name raises
        :class:`~lcm_widgets.errors.InvalidInput` naming it and listing the valid ones.
    """

    def __init__(self, backend: Backend | Callable[[], Backend], *, source: Any = None, prompt: str = "",
                 negative_prompt: str = "", steps: int | None = None, strength: float = 0.5,
                 guidance_scale: float | None = None, seed: int | None = None,
                 image_size: str | None = None, frame_size: int = 512, debounce: float = 0.1,
                 ack_timeout: float = 2.0, result_window: int = 2,
                 history_size: int = HISTORY_SIZE,
                 sketchpad: Sketchpad | None = None, **sketchpad_kwargs: Any) -> None:
        loader: Callable[[], Backend] | None = None
        if backend is not None and not hasattr(backend, "generate") and callable(backend):
            loader = backend
        elif backend is None or not hasattr(backend, "generate"):
            raise TypeError("backend: expected a Backend such as LocalLCM('tiny') or "
                            "EchoBackend(), or a function that makes one, got "
                            f"{type(backend).__name__}")
        if history_size < 1:
            raise InvalidInput(f"history_size: must be at least 1, got {history_size}",
                               field="history_size")
        if (isinstance(result_window, bool) or not isinstance(result_window, int)
                or not 1 <= result_window <= 16):
            raise InvalidInput("result_window: must be a whole number from 1 to 16, got "
                               f"{result_window!r}", field="result_window")
        defaults = {"negative_prompt": "", "guidance_scale": None, "steps": None,
                    "image_size": None}
        given = check_init_kwargs(sketchpad_kwargs, _sketchpad_settings(),
                                  {"negative_prompt": negative_prompt,
                                   "guidance_scale": guidance_scale, "steps": steps,
                                   "image_size": image_size}, defaults)
        self.backend: Backend | None = None if loader is not None else backend  # type: ignore[assignment]
        self._loaded: concurrent.futures.Future[Backend] = concurrent.futures.Future()
        # A backend given as a loader is not known yet: its ControlNets get no controls.
        info = getattr(self.backend, "info", None)
        extra = getattr(info, "extra", None) or {}
        controlnets = tuple(n for n in str(extra.get("controlnets", "")).split(",") if n)
        self._app = backend_schema(self.backend)  # its limits and defaults; LCM for a loader
        start = start_values(self._app.input_model)
        if given["steps"] is None:
            given["steps"] = start["num_inference_steps"]
        if given["guidance_scale"] is None:
            given["guidance_scale"] = start["guidance_scale"]
        self._params: dict[str, Any] = self._validated({
            "prompt": prompt, "negative_prompt": given["negative_prompt"],
            "num_inference_steps": given["steps"], "strength": strength,
            "guidance_scale": given["guidance_scale"],
            "seed": random_seed() if seed is None else seed, "image_size": given["image_size"],
            **({"controlnet": controlnets[0], "controlnet_conditioning_scale": 1.0}
               if controlnets else {})})
        self._seed_locked = True
        self._history: deque[HistoryEntry] = deque(maxlen=history_size)
        self._browser_seq = 0
        self._status_at = 0.0
        self._seed_shown_at = 0.0  # the seed field's last write (unlocked seed)
        self._seed_timer: asyncio.TimerHandle | None = None
        self._error = ""
        self._invalid: dict[str, str] = {}  # controls showing a bad typed value
        self._paused = False
        self._paused_edits = False  # params changed while paused
        self._model_text = "loading the model" if loader is not None \
            else _model_text(backend)

        self.source: CanvasSource | None = None
        self.sketchpad: Sketchpad | None = None
        self._view: Any
        if source is None:
            if sketchpad is None:
                sketchpad = Sketchpad(**{"frame_width": frame_size, "frame_height": frame_size,
                                         **sketchpad_kwargs})
            else:
                for name, value in sketchpad_kwargs.items():
                    setattr(sketchpad, name, value)
            self.sketchpad = self._view = sketchpad
        else:
            self.source = CanvasSource(source, self._on_canvas_png)
            self._view = ImageView(int(source.width), int(source.height),
                                   int(sketchpad_kwargs.get("display_size", 384)))
        self.controls = Controls(self._params, model_text=self._model_text,
                                 on_change=self._control_changed, on_new_seed=self.new_seed,
                                 on_invalid=self._control_invalid, controlnets=controlnets,
                                 model=self._app.input_model)
        # An ipycanvas source has no browser view that acks: results count as shown at once.
        self.engine: Engine[Shown] = Engine(
            self._render, deliver=self._deliver, params=self._snapshot,
            on_result=self._on_result, on_error=self._show_error, debounce=debounce,
            ack_timeout=ack_timeout, result_window=result_window,
            auto_ack=self.sketchpad is None)
        children: list[W.Widget]
        if self.sketchpad is not None:
            self.sketchpad.on_frame(self._on_frame)
            self.sketchpad.on_ack(self._on_ack)
            self.sketchpad.on_restore(self._on_restore)
            self.sketchpad.observe(self._paused_changed, names="paused")
            children = [self.sketchpad, self.controls.box]
        else:
            children = [W.HBox([source, self._view.box]), self.controls.box]
        super().__init__(children)
        self.add_class("lcm-studio")
        self._view.status = f"{self._model_text} · {params_text(self._params)}"
        if loader is None:
            self._loaded.set_result(backend)  # type: ignore[arg-type]
        else:
            self._view.activity = LOADING
            threading.Thread(target=self._load, args=(loader,), daemon=True,
                             name="lcm-widgets-studio-load").start()

    # ------------------------------------------------------------------ public API
    @property
    def params(self) -> dict[str, Any]:
        """The current generation params, as :class:`~lcm_widgets.schema.Input` fields."""
        return dict(self._params)

    def update(self, **fields: Any) -> None:
        """Change params (``prompt=``, ``steps=``, ``strength=``, ``seed=``...) and re-render
        the newest frame. Raises :class:`~lcm_widgets.errors.InvalidInput` for a bad value
        (field, limit and value named); nothing changes then."""
        new = dict(self._params)
        for name, value in fields.items():
            key = ALIASES.get(name, name)
            if key not in CONTROLLED and key not in EXTENSION_PARAMS:
                raise InvalidInput(f"{name}: not a Studio param; use one of "
                                   f"{', '.join((*CONTROLLED, *EXTENSION_PARAMS))}",
                                   field=name)
            new[key] = value
        new = self._validated(new)
        self._params = new
        self.controls.set(**{k: v for k, v in new.items() if k in self.controls.widgets})
        self._params_changed()

    def new_seed(self) -> int:
        """Pick a new random seed, show it, re-render; returns it."""
        seed = random_seed()
        self._params = {**self._params, "seed": seed}
        self.controls.set(seed=seed)
        self._params_changed()
        return seed

    @property
    def seed_locked(self) -> bool:
        """True (default): every frame uses :attr:`params` ``["seed"]``; False: a fresh seed
        per frame."""
        return self._seed_locked

    @seed_locked.setter
    def seed_locked(self, value: bool) -> None:
        self._seed_locked = bool(value)
        self.controls.lock.value = bool(value)

    @property
    def paused(self) -> bool:
        """True while live mode is paused (the toolbar's pause button, or set here): drawing
        and param edits render nothing until resumed; then the newest drawing is rendered."""
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        if self.sketchpad is not None:
            self.sketchpad.paused = bool(value)  # _paused_changed follows
        else:
            self._set_paused(bool(value))

    def submit_image(self, image: Any, *, wait: bool = True,
                     timeout: float | None = 120.0) -> Output | None:
        """Feed an image as a frame, as if it had been drawn: a PIL image, an HxWx3/4 uint8
        array, encoded bytes or a path; it is resized to the frame size and shown in the input
        canvas (undoable there).

        With ``wait`` (default) block until the Studio is idle and return the newest output
        (None when there is none); the error is raised if this frame's request failed.
        """
        w, h = int(self._view.frame_width), int(self._view.frame_height)
        jpeg = image_to_jpeg(image, (w, h))
        seq = None
        if self.sketchpad is not None:
            seq = self.sketchpad.load_frame(jpeg, width=w, height=h).seq
            self._browser_seq = max(self._browser_seq, seq)
        key = self.engine.post_frame(jpeg, mime="image/jpeg", width=w, height=h,
                                     t_input=time.time() * 1000, browser_seq=seq,
                                     reason="api")
        if not wait:
            return None
        if not self.engine.wait_idle(timeout):
            raise TimeoutError(f"timeout: no result within {timeout} s")
        err = self.engine.last_error
        last = self.engine.last_result
        if err is not None and err[0] >= key and (last is None or last.frame.key < err[0]):
            raise err[1]
        return last.value.output if last is not None else None

    def wait(self, timeout: float | None = 120.0) -> bool:
        """Block until no request is in flight, waiting or due (a param edit's re-render);
        False on timeout."""
        return self.engine.wait_idle(timeout)

    @property
    def mask(self) -> Any:
        """The inpainting mask of the newest frame (a greyscale PIL image, 255 = repaint) or
        None; :attr:`Sketchpad.mask <.sketchpad.Sketchpad.mask>` (docs/studio.md, "The mask
        brush"). Frames with a mask are requested with it as ``mask_url``."""
        return self.sketchpad.mask if self.sketchpad is not None else None

    @property
    def history(self) -> list[HistoryEntry]:
        """The last ``history_size`` results (default 32), oldest first."""
        return list(self._history)

    @property
    def stats(self) -> dict[str, Any]:
        """Kernel-side figures: fps, latency p50/p95 (frame received → result sent), the
        browser's stroke→pixels p50/p95 (from acks of painted results; results the browser
        dropped as stale are left out), per-stage ms, the pacer's counters (frames in,
        results, dropped, skipped, max_in_flight, max_pending...), and two limits measured
        outside the pacer: ``backend_max_concurrency`` (the most ``backend.generate`` calls
        of this Studio running at once) and ``max_unacked_results`` (the most results sent
        to the browser and neither acked nor given up after ``ack_timeout`` at once).
        Percentiles use the project's one definition (:func:`lcm_widgets.stats.percentile`)."""
        e = self.engine
        return {
            "fps": round(e.stats.fps(time.monotonic()), 2),
            "latency_ms": spread(e.stats.samples("kernel")),
            "stroke_to_pixels_ms": spread(e.stats.samples("e2e")),
            "stages_ms": e.stats.summary(),
            **e.pacer.counters.as_dict(),
            "backend_max_concurrency": e.max_concurrency,
            "max_unacked_results": e.max_unacked,
            "error": self._error,
        }

    def save(self, path: str | Path) -> Path:
        """Write the newest result as PNG, with prompt, negative prompt, seed, steps, strength,
        guidance and model in PNG text chunks; returns the path."""
        if not self._history:
            raise ValueError("save: there is no result yet; draw something first")
        return save_png(self._history[-1], path, self._model_text)

    def export_timelapse(self, path: str | Path, *, fps: float = 4.0,
                         height: int | None = None, progress: bool = True) -> Path:
        """Write :attr:`history` (the last ``history_size`` results) as a timelapse: each
        frame sent beside its result, one picture per result, as a GIF, or an MP4 when
        imageio's ffmpeg writer is installed (``pip install "imageio[ffmpeg]"``), chosen by
        ``path``'s suffix; a progress bar unless ``progress=False``. Returns the path."""
        from ._timelapse import write_timelapse

        return write_timelapse(list(self._history), path, fps=fps, height=height,
                               progress=progress)

    def close(self) -> None:
        """Stop rendering and close the widgets (the backend stays open). Safe to call twice,
        and on a Studio whose constructor failed (``__del__`` calls it)."""
        pad = getattr(self, "sketchpad", None)
        if pad is not None:
            pad.on_frame(self._on_frame, remove=True)
            pad.on_ack(self._on_ack, remove=True)
            pad.on_restore(self._on_restore, remove=True)
        for part in ("engine", "source", "controls", "_view"):
            obj = getattr(self, part, None)
            if obj is not None:
                obj.close()
        super().close()

    def wait_loaded(self, timeout: float | None = 600.0) -> Backend:
        """Block until the backend is loaded (at once when one was given) and return it;
        raises what loading raised (as :class:`~lcm_widgets.errors.BackendUnavailable`), or
        TimeoutError."""
        try:
            return self._loaded.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"timeout: the model did not load within {timeout} s") from None

    def _load(self, loader: Callable[[], Backend]) -> None:
        """On a thread of its own: make the backend, then show it (or why it failed)."""
        from ..backends.local.loading import load_progress

        try:
            with load_progress(self._load_step):
                backend = loader()
            if not hasattr(backend, "generate"):
                raise TypeError(f"backend: the function returned {type(backend).__name__}, "
                                "not a Backend")
        except Exception as exc:
            err = BackendUnavailable(f"could not load the model: {exc}")
            self._loaded.set_exception(err)
            self._view.activity = ""
            self._show_error(str(err))
            return
        self.backend = backend
        self._model_text = _model_text(backend)
        self.controls.model.value = f"<b>model</b> {self._model_text}"
        self._view.status = f"{self._model_text} · {params_text(self._params)}"
        self._loaded.set_result(backend)
        self._view.activity = ""

    def _load_step(self, event: LoadProgress) -> None:
        """A step of a ``LocalLCM`` load made by the loader: ``loading the model: unet (4/7)``
        in the status line (the views keep counting the seconds from the first step; they parse
        the ``(k/n)`` into a bar, js/status.js)."""
        if event.step != "loaded" and not self._loaded.done():
            self._view.activity = f"{LOADING}: {event.text}"

    # ------------------------------------------------------------------ params
    def _validated(self, params: dict[str, Any]) -> dict[str, Any]:
        inp = self._app.validate({**params, "image_url": b"\0"})
        out = {k: getattr(inp, k) for k in CONTROLLED}
        for k in EXTENSION_PARAMS:  # ours, only when set (docs/models.md)
            if k in params:
                v = getattr(inp, k)
                out[k] = [w.model_dump() for w in v] if k == "loras" and v is not None else v
        return out

    def _control_changed(self, name: str, value: Any) -> None:
        if name == "seed_locked":
            self._seed_locked = bool(value)
        else:
            self._params = {**self._params, name: value}
        if self._invalid.pop(name, None) is not None:
            self._show_stale()
        self._params_changed()

    def _control_invalid(self, name: str, message: str) -> None:
        """A bad value was typed into a control: shown there; the output is marked stale."""
        self._invalid[name] = message
        self._show_stale()

    def _params_changed(self) -> None:
        self._view.status = f"{self._model_text} · {params_text(self._params)}"
        if self._paused:
            self._paused_edits = True
            self._show_stale()
            return
        self.engine.post_params_changed()

    def _paused_changed(self, change: dict[str, Any]) -> None:
        self._set_paused(bool(change["new"]))

    def _set_paused(self, paused: bool) -> None:
        was, self._paused = self._paused, paused
        if was and not paused and self._paused_edits:
            self._paused_edits = False
            self.engine.post_params_changed()
        self._show_stale()

    def _show_stale(self) -> None:
        """Say on the output why it no longer matches the params (``""``: it does)."""
        why = ""
        if self._invalid:
            why = "invalid settings: " + "; ".join(self._invalid.values())
        elif self._error:
            why = self._error
        elif self._paused and self._paused_edits:
            why = "paused: the settings changed since this image"
        if self.sketchpad is not None:
            self.sketchpad.stale = why

    def _on_restore(self, restore: Any) -> None:
        """The person clicked a result in the history strip: use its params and seed again
        (the seed gets locked, or the restored seed would be replaced at once)."""
        fields = {k: v for k, v in restore.params.items() if k in CONTROLLED}
        try:
            self.update(**fields)
        except InvalidInput as exc:
            self._show_error(f"could not restore that result: {exc}")
            return
        if "seed" in fields and not self._seed_locked:
            self.seed_locked = True

    def _snapshot(self) -> dict[str, Any]:
        p = dict(self._params)
        if not self._seed_locked:
            p["seed"] = random_seed()
        return p

    # ------------------------------------------------------------------ frames in (any thread)
    def _on_frame(self, frame: Any) -> None:
        self._browser_seq = max(self._browser_seq, int(frame.seq))
        self.engine.post_frame(frame.data, mime=frame.mime, width=frame.width,
                               height=frame.height, t_input=frame.t_input or None,
                               browser_seq=frame.seq, reason=frame.reason, mask=frame.mask)

    def _on_canvas_png(self, data: bytes, width: int, height: int) -> None:
        self.engine.post_frame(data, mime="image/png", width=width, height=height,
                               t_input=time.time() * 1000, reason="ipycanvas")

    def _on_ack(self, ack: Ack) -> None:
        # A result the browser dropped as stale returns the credit but is left out of
        # stroke→pixels; a browser that sent no result id (-1) acks whatever is awaited.
        self.engine.post_ack(ack.rid if ack.rid >= 0 else None,
                             None if ack.dropped else float(ack.t_paint))

    # ------------------------------------------------------------------ the engine's side (loop)
    async def _render(self, job: Job) -> Shown:
        f = job.frame
        jpeg = f.data
        if f.mime != "image/jpeg":  # an ipycanvas PNG: decode and re-encode off the loop
            size = (int(self._view.frame_width), int(self._view.frame_height))
            jpeg = await asyncio.to_thread(to_jpeg, f.data, f.mime, size)
        masked = mask_fields(jpeg, f.mask)  # {} without a mask
        inp = parse_input({**job.params, "image_url": jpeg, "format": "jpeg", **masked})
        # loaded: no hop through the loop (wrap_future would take one even for a done future)
        backend = self._loaded.result() if self._loaded.done() else \
            await asyncio.wrap_future(self._loaded)
        shown: list[bool] = []

        def busy() -> None:
            shown.append(True)
            self._view.activity = GENERATING

        later = asyncio.get_running_loop().call_later(GENERATING_AFTER, busy)
        try:
            output = await backend.generate(inp)
        finally:
            later.cancel()
            if shown:
                self._view.activity = ""
        if not output.images:
            raise BackendError(f"{type(backend).__name__} returned no image")
        image = output.images[0]
        return Shown(output, image.data(), image.content_type or "image/jpeg",
                     image.width or f.width, image.height or f.height,
                     {**job.params, "seed": output.seed,
                      **({"inpainting": True} if masked else {})})

    def _deliver(self, rec: ResultRecord[Shown]) -> None:
        s = rec.value
        seq = rec.frame.browser_seq if rec.frame.browser_seq is not None else self._browser_seq
        # the engine's monotonic times, on the epoch-ms clock the browser's Date.now() shares
        mono, epoch = time.monotonic(), time.time() * 1000

        def ms(t: float) -> float:
            return round(epoch - (mono - t) * 1000, 2)

        if not self._seed_locked:  # the seed field shows the seed of the image on screen
            self._params = {**self._params, "seed": s.params["seed"]}
            self._show_seed()
        self._view.send_result(seq, s.data, rid=rec.rid, mime=s.mime, width=s.width,
                               height=s.height, timings_ms=rec.timings_ms,
                               params={**{k: s.params.get(k) for k in _SHOWN_PARAMS},
                                       **({"inpainting": True} if s.params.get("inpainting")
                                          else {}),
                                       "model": self._model_text},
                               t_kernel={"recv": ms(rec.frame.received),
                                         "start": ms(rec.job.started), "done": ms(rec.finished)})
        now = time.monotonic()
        if now - self._status_at >= STATUS_INTERVAL:
            self._status_at = now
            # after the engine has timed this delivery (it does once deliver returns)
            asyncio.get_running_loop().call_soon(self._push_stats)

    def _show_seed(self) -> None:
        """On the loop: write :attr:`params` ``["seed"]`` into the seed field now, or once
        :data:`SEED_FIELD_INTERVAL` has passed since the last write (one trailing write
        shows the newest): a write per result would be a comm message per result."""
        if self._seed_timer is not None:
            return
        wait = self._seed_shown_at + SEED_FIELD_INTERVAL - time.monotonic()
        if wait > 0:
            self._seed_timer = asyncio.get_running_loop().call_later(wait, self._seed_due)
            return
        self._seed_shown_at = time.monotonic()
        self.controls.set(seed=self._params["seed"])

    def _seed_due(self) -> None:
        self._seed_timer = None
        if not self.engine.closed:
            self._show_seed()

    def _on_result(self, rec: ResultRecord[Shown]) -> None:
        s = rec.value
        for stage, seconds in s.output.timings.items():
            rec.timings_ms[f"model_{stage}"] = round(seconds * 1000, 1)
        self._history.append(HistoryEntry(rec.frame.data, s.params, s.output))

    def _push_stats(self) -> None:
        """The kernel's medians for the status line (docs/studio.md, "The status line"); the
        browser adds what it measures itself (results shown, results/s, stroke→pixels)."""
        summary = self.engine.stats.summary()
        flat: dict[str, Any] = {}
        for stage, key in (("generate", "model_ms"), ("queue", "queue_ms"),
                           ("deliver", "deliver_ms"), ("kernel", "kernel_ms")):
            if stage in summary:
                flat[key] = summary[stage]["p50"]
        if "generate" in summary:
            flat["samples"] = int(summary["generate"]["n"])
        self._view.stats = flat

    def _show_error(self, text: str) -> None:
        self._error = text
        self._view.error = text
        self._show_stale()
        if not text:
            self._push_stats()
