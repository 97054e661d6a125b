"""The Studio's controls, generated from the schema of the backend's app.

Every slider takes its range from the field's ``ge``/``le`` metadata and its description from
the schema, so the controls, the server's validation and the error messages agree. The schema
is that of the app the backend speaks (:func:`lcm_widgets.apps.backend_schema`): the LCM one,
:class:`lcm_widgets.schema.Input`, or the turbo one (steps 1 to 4); fields an app's schema
lacks (our ControlNet extension) take :class:`~lcm_widgets.schema.Input`'s. Only the fields a
live session needs get a control; the rest keep their schema defaults.
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as W
from pydantic import BaseModel

from ..schema import IMAGE_SIZE_PRESETS, MAX_SEED, Input

__all__ = ["CONTROLLED", "EXTENSION_PARAMS", "NUMERIC", "STUDIO_DEFAULTS", "Controls",
           "field_range", "parse_typed", "random_seed", "start_values"]

#: Input fields that get a control, in display order.
CONTROLLED = ("prompt", "negative_prompt", "num_inference_steps", "strength", "guidance_scale",
              "seed", "image_size")

#: Fields with a slider and a text entry next to it.
NUMERIC = ("num_inference_steps", "strength", "guidance_scale")
_WHOLE = ("num_inference_steps", "seed")

#: Our extension fields (:mod:`lcm_widgets.schema_extensions`) a Studio param may set
#: (``Studio.update``); the ControlNet selector and scale slider are shown when the backend has
#: ControlNets (``info.extra["controlnets"]``).
EXTENSION_PARAMS = ("controlnet", "controlnet_conditioning_scale", "control_guidance_start",
                    "control_guidance_end", "loras")

_STEP = {"strength": 0.05, "guidance_scale": 0.1, "guidance_rescale": 0.05,
         "controlnet_conditioning_scale": 0.05}
#: Where a Studio on the LCM app starts when these are not given: fewer steps than the
#: schema's 6, for a live frame rate. A Studio on another app starts from that app's schema
#: defaults (:func:`start_values`; the turbo app: 2 steps, guidance 1).
STUDIO_DEFAULTS: dict[str, Any] = {"num_inference_steps": 4, "guidance_scale": 1.5}

_LABELS = {"prompt": "prompt", "negative_prompt": "negative", "num_inference_steps": "steps",
           "strength": "strength", "guidance_scale": "guidance", "seed": "seed",
           "image_size": "size"}


def _field(name: str, model: type[BaseModel]) -> Any:
    """``model``'s field ``name``, else :class:`Input`'s (a field the app's schema lacks)."""
    return model.model_fields.get(name) or Input.model_fields[name]


def field_range(name: str, model: type[BaseModel] = Input) -> tuple[float, float]:
    """``(ge, le)`` of field ``name`` of ``model`` (an app's input schema) from its metadata."""
    lo = hi = None
    for m in _field(name, model).metadata:
        lo = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else lo
        hi = getattr(m, "le", None) if getattr(m, "le", None) is not None else hi
    if lo is None or hi is None:
        raise KeyError(f"{name}: the schema gives no ge/le range")
    return lo, hi


def start_values(model: type[BaseModel]) -> dict[str, Any]:
    """What a Studio on the app with input schema ``model`` starts from for steps and guidance
    when they are not given: :data:`STUDIO_DEFAULTS` on the LCM app, else that schema's own
    defaults."""
    if model is Input:
        return dict(STUDIO_DEFAULTS)
    return {name: _field(name, model).default for name in STUDIO_DEFAULTS}


def _limits(name: str, model: type[BaseModel] = Input) -> tuple[float, float]:
    return (0, min(MAX_SEED, 2**53 - 1)) if name == "seed" else field_range(name, model)


def _text(name: str, value: Any) -> str:
    """How an entry shows ``value``."""
    return str(int(value)) if name in _WHOLE else f"{float(value):g}"


def _plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def parse_typed(name: str, text: str, model: type[BaseModel] = Input) -> int | float:
    """The value typed into ``name``'s entry, or ValueError naming the field, the limit (of the
    app's schema ``model``) and the value (``steps: must be a whole number between 1 and 50,
    got '80'``)."""
    lo, hi = _limits(name, model)
    label = _LABELS[name]
    whole = name in _WHOLE
    kind = "a whole number" if whole else "a number"
    limit = f"{int(lo)} and {int(hi)}" if whole else f"{lo:g} and {hi:g}"
    error = ValueError(f"{label}: must be {kind} between {limit}, got {text.strip()!r}")
    try:
        value: int | float = int(text.strip()) if whole else float(text.strip())
    except ValueError:
        raise error from None
    if not (lo <= value <= hi) or value != value:  # NaN fails both
        raise error
    return value


def random_seed() -> int:
    """A fresh seed (kept below 2**32 so JavaScript numbers hold it exactly)."""
    return random.randrange(2**32)


def _layout(**kw: Any) -> W.Layout:
    return W.Layout(**kw)


class Controls:
    """The control widgets and their values as Input fields.

    ``on_change(name, value)`` is called when the user edits a control (not when Python sets
    it through :meth:`set`). ``box`` is the container to display. ``model`` is the input
    schema of the backend's app: the sliders' ranges and the typed values' limits are its.
    """

    def __init__(self, values: dict[str, Any], *, model_text: str,
                 on_change: Callable[[str, Any], None],
                 on_new_seed: Callable[[], object],
                 on_invalid: Callable[[str, str], None] | None = None,
                 controlnets: tuple[str, ...] = (),
                 model: type[BaseModel] = Input) -> None:
        self._on_change = on_change
        self._model = model
        self._on_invalid = on_invalid
        self._muted = False
        desc = {n: _field(n, model).description or _LABELS[n] for n in CONTROLLED}
        style = {"description_width": "70px"}
        # 100% less the 2 px margins ipywidgets gives each side: fits any container width
        wide = _layout(width="calc(100% - 4px)")
        self.widgets: dict[str, W.Widget] = {}
        self.widgets["prompt"] = W.Textarea(
            value=values["prompt"], description="prompt", placeholder=desc["prompt"],
            rows=2, continuous_update=True, layout=wide, style=style)
        self.widgets["negative_prompt"] = W.Text(
            value=values["negative_prompt"], description="negative", continuous_update=True,
            placeholder="what to avoid", layout=wide, style=style)
        lo, hi = field_range("num_inference_steps", model)
        self.widgets["num_inference_steps"] = W.IntSlider(
            value=values["num_inference_steps"], min=int(lo), max=int(hi), description="steps",
            continuous_update=True, readout=False, layout=_layout(flex="1 1 auto"),
            style=style)
        for name in ("strength", "guidance_scale"):
            lo, hi = field_range(name, model)
            self.widgets[name] = W.FloatSlider(
                value=values[name], min=lo, max=hi, step=_STEP[name], description=_LABELS[name],
                continuous_update=True, readout=False, layout=_layout(flex="1 1 auto"),
                style=style)
        # Typed values go through a text entry checked here, never clamped by a widget: a bad
        # one is shown next to its control, naming the limit and the value.
        self.widgets["seed"] = W.Text(
            value=str(values["seed"]), description="seed", continuous_update=False,
            layout=_layout(width="220px", max_width="calc(100% - 4px)"), style=style)
        self.entries: dict[str, W.Text] = {"seed": self.widgets["seed"]}
        self.errors: dict[str, W.HTML] = {}
        for name in (*NUMERIC, "seed"):
            if name != "seed":
                self.entries[name] = W.Text(value=_text(name, values[name]),
                                            continuous_update=False,
                                            layout=_layout(width="64px"))
                self.entries[name].add_class(f"lcm-entry-{name.replace('_', '-')}")
            self.errors[name] = W.HTML(value="", layout=_layout(margin="0 0 0 8px"))
            self.errors[name].add_class("lcm-control-error")
            self.entries[name].observe(lambda ch, name=name: self._typed(name, ch["new"]),
                                       names="value")
        self.lock = W.ToggleButton(
            value=True, description="seed locked", icon="lock",
            tooltip="Locked: every frame uses this seed, so the image does not flicker while "
                    "you draw. Unlocked: every frame gets a new random seed.",
            layout=_layout(width="130px"))
        self.new_seed = W.Button(description="new seed", icon="random",
                                 tooltip="Pick a new random seed and re-render",
                                 layout=_layout(width="110px"))
        self.new_seed.on_click(lambda _b: on_new_seed())
        size_options: list[tuple[str, Any]] = [("as drawn", "")]  # "" stands for None
        size_options += [(f"{k} ({w}x{h})", k) for k, (w, h) in IMAGE_SIZE_PRESETS.items()]
        self.widgets["image_size"] = W.Dropdown(
            options=size_options, value=values.get("image_size") or "", description="size",
            layout=_layout(width="300px", max_width="calc(100% - 4px)"), style=style)
        self.model = W.HTML(value=f"<b>model</b> {model_text}",
                            layout=_layout(margin="0 0 0 12px"))
        control_row: list[W.Widget] = []
        if controlnets:
            # The schema's ControlNet fields: which loaded ControlNet ("none" for off) and its
            # conditioning scale, with the range the schema gives.
            self.widgets["controlnet"] = W.Dropdown(
                options=[("off", "none"), *((n, n) for n in controlnets)],
                value=values.get("controlnet") or controlnets[0], description="controlnet",
                description_tooltip=Input.model_fields["controlnet"].description,
                layout=_layout(width="300px", max_width="calc(100% - 4px)"), style=style)
            lo, hi = field_range("controlnet_conditioning_scale")
            self.widgets["controlnet_conditioning_scale"] = W.FloatSlider(
                value=values.get("controlnet_conditioning_scale", 1.0), min=lo, max=hi,
                step=_STEP["controlnet_conditioning_scale"], description="control",
                description_tooltip=Input.model_fields[
                    "controlnet_conditioning_scale"].description,
                continuous_update=True, readout_format=".2f", layout=wide, style=style)
            control_row = [self.widgets["controlnet"],
                           self.widgets["controlnet_conditioning_scale"]]
        for name, w in self.widgets.items():
            w.add_class(f"lcm-control-{name.replace('_', '-')}")
            w.observe(lambda ch, name=name: self._changed(name, ch["new"]), names="value")
        self.lock.add_class("lcm-control-seed-lock")
        self.new_seed.add_class("lcm-control-new-seed")
        self.lock.observe(self._lock_changed, names="value")
        row = W.HBox([self.widgets["seed"], self.lock, self.new_seed,
                      self.widgets["image_size"], self.model],
                     layout=_layout(flex_flow="row wrap", align_items="center"))
        numeric = [W.HBox([self.widgets[n], self.entries[n], self.errors[n]],
                          layout=_layout(width="100%", align_items="center"))
                   for n in NUMERIC]
        self.box = W.VBox([self.widgets["prompt"], self.widgets["negative_prompt"], *numeric,
                           *control_row, row, self.errors["seed"]],
                          layout=_layout(width="100%", max_width="720px"))
        self.box.add_class("lcm-studio-controls")

    @property
    def seed_locked(self) -> bool:
        return bool(self.lock.value)

    def values(self) -> dict[str, Any]:
        """The controlled fields' current values."""
        out = {name: w.value for name, w in self.widgets.items()}
        out["image_size"] = out["image_size"] or None
        out["seed"] = int(out["seed"])
        return out

    @property
    def invalid(self) -> dict[str, str]:
        """The controls showing an error now: ``{field: message}``."""
        return {name: _plain(w.value) for name, w in self.errors.items() if w.value}

    def set(self, **values: Any) -> None:
        """Show new values without calling ``on_change`` (clears their errors)."""
        self._muted = True
        try:
            for name, value in values.items():
                if name in self.widgets:
                    self.widgets[name].value = "" if name == "image_size" and value is None \
                        else str(value) if name == "seed" else value
                if name in self.entries:
                    self.entries[name].value = _text(name, value)
                if name in self.errors:
                    self.errors[name].value = ""
        finally:
            self._muted = False

    def close(self) -> None:
        for w in [*self.widgets.values(), *self.entries.values(), *self.errors.values(),
                  self.lock, self.new_seed, self.model]:
            w.close()
        self.box.close()

    def _changed(self, name: str, value: Any) -> None:
        if name == "image_size":
            value = value or None
        if name == "seed" or self._muted:
            return  # the seed is typed: _typed checks it
        if name in self.entries:  # a slider moved: its entry follows, its error goes
            self.set(**{name: value})
        self._on_change(name, value)

    def _typed(self, name: str, text: str) -> None:
        """A value typed into ``name``'s entry: checked against the schema's range."""
        if self._muted:
            return
        try:
            value = parse_typed(name, text, self._model)
        except ValueError as exc:
            self.errors[name].value = f"<span style='color:var(--jp-error-color1,#d32f2f)'>" \
                                      f"{html.escape(str(exc))}</span>"
            if self._on_invalid is not None:
                self._on_invalid(name, str(exc))
            return
        self.set(**{name: value})
        self._on_change(name, value)

    def _lock_changed(self, change: dict[str, Any]) -> None:
        self.lock.description = "seed locked" if change["new"] else "seed unlocked"
        self.lock.icon = "lock" if change["new"] else "unlock"
        if not self._muted:
            self._on_change("seed_locked", change["new"])
