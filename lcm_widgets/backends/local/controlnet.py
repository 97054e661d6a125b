"""ControlNets in the lean loop: loading, the per-request control image, the per-step residuals.

:class:`~.backend.LocalLCM` loads each ControlNet once (``ControlNetModel.from_pretrained``) next
to its UNet. Per request, :func:`make_control` prepares the control image (the request's
``control_image_url``, else its source image; resized to the output size, then the ControlNet's
preprocessing of :mod:`.control_image`) and returns a :class:`Control` that
:func:`~.loop.denoise` calls before each UNet call: it runs the ControlNet on the same latents,
timestep and prompt embeddings and gives the UNet its residuals, as diffusers'
``StableDiffusionControlNetPipeline`` does, without that pipeline.

* ``controlnet_conditioning_scale`` multiplies the residuals; at 0 the ControlNet is not run at
  all, so the image is exactly the one without it.
* ``control_guidance_start``/``_end``: step ``i`` of ``n`` is guided unless ``i / n < start`` or
  ``(i + 1) / n > end`` (diffusers' rule); on the other steps the ControlNet is not run.
* With classifier-free guidance (an LCM-LoRA base UNet, guidance > 1) the control image is
  repeated for both halves of the batch, as diffusers does outside its ``guess_mode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BackendUnavailable, InvalidInput, ModelLoadError
from ...models.controlnets import CONTROLNETS, ControlNetPreset, resolve_controlnet

__all__ = ["OFF", "Control", "LoadedControlNet", "load_controlnet", "make_control"]

#: The ``controlnet`` field's value for "no ControlNet".
OFF = "none"


@dataclass
class LoadedControlNet:
    """One loaded ControlNet: the name it was asked for, its preset and the model."""

    name: str
    preset: ControlNetPreset
    model: Any


def load_controlnet(spec: str, unet: Any, *, base: str, family: str, device: Any, dtype: Any,
                    dtype_kwarg: str) -> LoadedControlNet:
    """Load ``spec`` (a :data:`~lcm_widgets.models.controlnets.CONTROLNETS` name, an id or a
    folder) for the UNet ``unet`` of model ``base``; ModelLoadError names both when they do not
    fit."""
    from diffusers import ControlNetModel

    from .loading import _load_error

    if not isinstance(spec, str) or not spec or spec == OFF:
        raise InvalidInput(f"controlnet: must be one of {', '.join(CONTROLNETS)}, a model id or "
                           f"a folder, got {spec!r}", field="controlnet")
    if family != "sd":
        raise ModelLoadError(f"controlnet: {spec!r} needs a Stable Diffusion 1.5 model; "
                             f"{base!r} is {family.upper()}")
    preset = resolve_controlnet(spec)
    if preset.repo is None:
        from ...models.controlnets import ensure_tiny_controlnet

        where = str(ensure_tiny_controlnet())
    else:
        where = preset.repo
        if spec not in CONTROLNETS and "/" not in spec and not Path(spec).expanduser().exists():
            raise InvalidInput(f"controlnet: must be one of {', '.join(CONTROLNETS)}, a model "
                               f"id (owner/name) or a folder, got {spec!r}", field="controlnet")
    try:
        model = ControlNetModel.from_pretrained(where, **{dtype_kwarg: dtype})
    except ImportError as exc:
        raise BackendUnavailable(f"controlnet {spec!r}: a dependency is missing ({exc})") from exc
    except Exception as exc:
        raise _load_error(f"controlnet {spec!r}", where, exc, known=spec in CONTROLNETS) from exc
    mine, theirs = model.config, unet.config
    for key in ("cross_attention_dim", "block_out_channels", "in_channels"):
        a, b = getattr(mine, key, None), getattr(theirs, key, None)
        if a is not None and b is not None and list(_as_list(a)) != list(_as_list(b)):
            raise ModelLoadError(
                f"controlnet: {spec!r} is for another base model than {base!r} (its "
                f"{key} is {_as_list(a)}, the model's is {_as_list(b)}); pick a ControlNet "
                "trained for this model's family")
    model.to(device).eval().requires_grad_(False)
    return LoadedControlNet(spec, preset, model)


def _as_list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple)) else [v]


@dataclass
class Control:
    """The ControlNet work of one batch: ``__call__`` gives the UNet's extra keyword arguments
    for step ``i`` (empty when the ControlNet does not act on that step)."""

    model: Any
    cond: Any  # (B, 3, H, W) in [0, 1]
    scale: float
    active: tuple[bool, ...]
    calls: int = 0

    def __call__(self, i: int, model_in: Any, t: Any, prompt_embeds: Any) -> dict[str, Any]:
        if not self.active[i]:
            return {}
        cond = self.cond
        if model_in.shape[0] != cond.shape[0]:  # classifier-free guidance: [uncond; cond]
            cond = cond.repeat(model_in.shape[0] // cond.shape[0], 1, 1, 1)
        down, mid = self.model(model_in, t, encoder_hidden_states=prompt_embeds,
                               controlnet_cond=cond, conditioning_scale=self.scale,
                               return_dict=False)
        self.calls += 1
        return {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}


def active_steps(n: int, start: float, end: float) -> tuple[bool, ...]:
    """Which of ``n`` steps the ControlNet acts on (diffusers' ``controlnet_keep`` rule)."""
    return tuple(not (i / n < start or (i + 1) / n > end) for i in range(n))


def control_arrays(net: LoadedControlNet, inp: Any, source: Any, size: tuple[int, int]) -> Any:
    """The preprocessed ``(H, W, 3)`` uint8 control image of ``inp`` at ``size`` (its
    ``control_image_url``, else ``source``: the decoded source image at the output size), or
    None when it has neither."""
    import numpy as np

    from ...images import load_image
    from .control_image import prepare

    if inp.control_image_url is not None:
        img = load_image(inp.control_image_url, field="control_image_url", allow_files=False)
        if img.size != size:
            from PIL import Image

            img = img.resize(size, Image.Resampling.BICUBIC)
        arr = np.asarray(img, dtype=np.uint8)
    elif source is not None:
        arr = source
    else:
        return None
    return prepare(arr, net.preset.preprocess)


def make_control(net: LoadedControlNet, group: Sequence[Any], sources: Any, rows: Sequence[int],
                 size: tuple[int, int], steps: int, device: Any, dtype: Any) -> Control | None:
    """The :class:`Control` of one batch, or None when the ControlNet does nothing for it
    (scale 0, no guided step, or no control image).

    ``group`` are the batch's inputs (equal in every ControlNet field, by the batch rule);
    ``sources`` the decoded source images (:class:`~.frames.Sources` ``pixels``: None, one
    ``(H, W, 3)`` array or a ``(U, H, W, 3)`` stack) and ``rows[k]`` the source of image ``k``.
    """
    import numpy as np
    import torch

    first = group[0]
    scale = float(first.controlnet_conditioning_scale)
    active = active_steps(steps, first.control_guidance_start, first.control_guidance_end)
    if scale == 0.0 or not any(active):
        return None
    if first.control_image_url is not None:
        one = control_arrays(net, first, None, size)
        stack = one[None]
        index = [0] * len(rows)
    elif sources is None:
        return None
    else:
        srcs = sources[None] if sources.ndim == 3 else sources
        stack = np.stack([control_arrays(net, first, s, size) for s in srcs])
        index = list(rows)
    t = torch.from_numpy(np.ascontiguousarray(stack)).to(device)
    t = t.permute(0, 3, 1, 2).to(dtype).div_(255.0)
    if index != list(range(t.shape[0])):
        t = t.index_select(0, torch.tensor(index, dtype=torch.long, device=device))
    return Control(net.model, t, scale, active)
