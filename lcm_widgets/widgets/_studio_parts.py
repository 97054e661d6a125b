"""The Studio's small parts: its constructor's argument check, its history entries, PNG export.

Kept apart from :mod:`.studio` so that the widget module reads as the frame flow only.
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..schema import ALIASES, Output

__all__ = ["INIT_PARAMS", "HistoryEntry", "Shown", "check_init_kwargs", "mask_fields",
           "params_text", "save_png"]

#: The Studio constructor's own keyword parameters.
INIT_PARAMS = ("source", "prompt", "negative_prompt", "steps", "strength", "guidance_scale",
               "seed", "image_size", "frame_size", "debounce", "ack_timeout", "result_window",
               "history_size", "sketchpad")
#: The constructor's name for an Input field, where it differs from the field's.
_INIT_NAME = {"num_inference_steps": "steps"}


def _init_aliases() -> dict[str, str]:
    """Other names the constructor accepts for its params: the schema's aliases and the full
    field names (``guidance`` → ``guidance_scale``, ``num_inference_steps`` → ``steps``)."""
    out: dict[str, str] = {}
    for alias, fld in [*ALIASES.items(), *((f, f) for f in _INIT_NAME)]:
        param = _INIT_NAME.get(fld, fld)
        if alias != param and param in INIT_PARAMS:
            out[alias] = param
    return out


INIT_ALIASES = _init_aliases()


def check_init_kwargs(extra: dict[str, Any], settings: tuple[str, ...],
                      given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Resolve the constructor's ``**kwargs``.

    Aliases of Studio params are taken out of ``extra`` and merged into ``given`` (the named
    params as passed, compared with ``defaults`` to tell what was set); ``extra`` keeps the
    Sketchpad ``settings``. Anything else, or an alias and its param both set to different
    values, raises :class:`InvalidInput` naming it and the valid names. Returns ``given``.
    """
    given = dict(given)
    for name in list(extra):
        if name in INIT_ALIASES:
            param, value = INIT_ALIASES[name], extra.pop(name)
            if param not in given or (given[param] != defaults.get(param)
                                      and given[param] != value):
                raise InvalidInput(f"{name}: is another name for {param}; pass one of them, "
                                   f"got {name}={value!r} and {param}={given.get(param)!r}",
                                   field=name)
            given[param] = value
        elif name not in settings:
            valid = [*INIT_PARAMS, *INIT_ALIASES, *settings]
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidInput(
                f"{name}: not a Studio argument; {hint}use one of {', '.join(INIT_PARAMS)}, "
                f"the aliases {', '.join(f'{a} (= {c})' for a, c in INIT_ALIASES.items())}, "
                f"or a Sketchpad setting: {', '.join(settings)}", field=name)
    return given


@dataclass(frozen=True)
class Shown:
    """What the Studio's render produced: the output and the image it shows."""

    output: Output
    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    params: dict[str, Any]


@dataclass(frozen=True)
class HistoryEntry:
    """One generated result: the frame it answered, the params used, and the backend's output."""

    frame: bytes = field(repr=False)
    params: dict[str, Any]
    output: Output = field(repr=False)

    @property
    def image_bytes(self) -> bytes:
        """The encoded result image."""
        return self.output.images[0].data()

    def image(self) -> Any:
        """The result as a PIL image."""
        from PIL import Image

        return Image.open(io.BytesIO(self.image_bytes))


def mask_fields(image: bytes, mask: bytes | None) -> dict[str, Any]:
    """The request fields a frame's inpainting mask adds: ``{"mask_url": mask}``, or nothing
    without a mask (the request stays exactly as before masks existed).

    The mask must be the frame's size (read from both headers; no pixel is decoded): a mask of
    another size raises :class:`InvalidInput` naming ``mask_url`` and both sizes, so the Studio
    shows it as that frame's error and renders the next frame as usual.
    """
    if mask is None:
        return {}
    from ..images import image_header

    _, w, h = image_header(image, field="image_url")
    _, mw, mh = image_header(mask, field="mask_url")
    if (mw, mh) != (w, h):
        raise InvalidInput(f"mask_url: must be {w}x{h} like image_url, got {mw}x{mh}",
                           field="mask_url")
    return {"mask_url": mask}


def params_text(p: dict[str, Any]) -> str:
    """``steps 4 · strength 0.50 · guidance 1.5 · seed 7`` for the status line."""
    return (f"steps {p['num_inference_steps']} · strength {p['strength']:.2f} · "
            f"guidance {p['guidance_scale']:.1f} · seed {p['seed']}")


def save_png(entry: HistoryEntry, path: str | Path, model: str) -> Path:
    """Write ``entry``'s image as PNG with its params in PNG text chunks; returns the path."""
    from PIL import Image, PngImagePlugin

    img = Image.open(io.BytesIO(entry.image_bytes))
    meta = PngImagePlugin.PngInfo()
    p = entry.params
    # "inpainting": made with a mask (the Studio marks those params; js/png.js says the same)
    for key, value in (("prompt", p["prompt"]), ("negative_prompt", p["negative_prompt"]),
                       ("seed", p["seed"]), ("steps", p["num_inference_steps"]),
                       ("strength", p["strength"]), ("guidance_scale", p["guidance_scale"]),
                       ("model", model), *([("inpainting", "mask")] if p.get("inpainting")
                                           else []), ("software", "lcm_widgets")):
        meta.add_text(key, str(value))
    path = Path(path)
    img.save(path, "PNG", pnginfo=meta)
    return path
