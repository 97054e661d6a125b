"""Named ControlNets :class:`~lcm_widgets.backends.local.LocalLCM` knows how to load, and the
``tiny-controlnet`` (random weights, for tests and offline demos).

``LocalLCM(model, controlnet=...)`` takes one of :data:`CONTROLNETS`' names, a Hugging Face id
or a local folder (a diffusers ``ControlNetModel``, ``config.json`` + weights). Each preset names
the preprocessing that turns a control image into what the ControlNet was trained on
(:mod:`lcm_widgets.backends.local.control_image`):

* ``"scribble"`` (``lllyasviel/control_v11p_sd15_scribble``): the sketch's ink as white lines on
  black, which is how that ControlNet's scribbles look;
* ``"canny"`` (``lllyasviel/control_v11p_sd15_canny``): Canny edges (thresholds 100 and 200, as
  the ControlNet 1.1 annotator uses);
* ``"tiny-controlnet"``: a random-weight ControlNet for the ``tiny`` model, scribble
  preprocessing.

An id or a folder gets no preprocessing (``"none"``): the control image is used as given.
Both SD1.5 ControlNets fit SD1.5 models (``lcm-dreamshaper-v7``, ``runwayml/stable-diffusion-
v1-5`` with its LCM-LoRA); loading one for another base model fails with an error naming both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cache import build_once, cache_root

__all__ = ["CONTROLNETS", "PREPROCESSORS", "ControlNetPreset", "ensure_tiny_controlnet",
           "resolve_controlnet"]

#: The preprocessing steps a ControlNet may name.
PREPROCESSORS = ("scribble", "canny", "none")

TINY_CONTROLNET_VERSION = 1
_SEED = 100


@dataclass(frozen=True)
class ControlNetPreset:
    """How to load one ControlNet: ``repo`` (None for the tiny one) and ``preprocess`` (one of
    :data:`PREPROCESSORS`)."""

    name: str
    repo: str | None
    preprocess: str = "none"


CONTROLNETS: dict[str, ControlNetPreset] = {
    "scribble": ControlNetPreset("scribble", "lllyasviel/control_v11p_sd15_scribble",
                                 "scribble"),
    "canny": ControlNetPreset("canny", "lllyasviel/control_v11p_sd15_canny", "canny"),
    "tiny-controlnet": ControlNetPreset("tiny-controlnet", None, "scribble"),
}


def resolve_controlnet(name: str) -> ControlNetPreset:
    """The preset called ``name``, or one that loads ``name`` as an id or folder as is."""
    if name in CONTROLNETS:
        return CONTROLNETS[name]
    return ControlNetPreset(name, name, "none")


def _tiny_config() -> dict[str, Any]:
    from .tiny import _UNET

    return {"version": TINY_CONTROLNET_VERSION, "seed": _SEED, "unet": _UNET,
            "conditioning_embedding_out_channels": [8, 8, 8, 8]}


def ensure_tiny_controlnet(root: Path | None = None) -> Path:
    """Build the ``tiny-controlnet`` into the model cache if it is not there; return its folder
    (a ``ControlNetModel.from_pretrained`` folder). Safe to call from several processes."""
    cfg = _tiny_config()
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]
    root = cache_root() if root is None else root
    return build_once(root / f"tiny-controlnet-v{TINY_CONTROLNET_VERSION}-{key}", _build,
                      lambda f: (f / "config.json").is_file(), "tiny ControlNet")


def _build(folder: Path) -> None:
    """A ControlNet shaped like the tiny UNet (``ControlNetModel.from_unet``), with every weight
    random: a fresh ControlNet's zero convolutions would make it have no effect at all."""
    from .._extras import need

    need("local", "torch", "diffusers", what="the tiny ControlNet")
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    cfg = _tiny_config()
    unet_cfg = {k: v for k, v in cfg["unet"].items() if k != "time_cond_proj_dim"}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        unet = UNet2DConditionModel(**unet_cfg)
        net = ControlNetModel.from_unet(
            unet, conditioning_embedding_out_channels=tuple(
                cfg["conditioning_embedding_out_channels"]))
        torch.manual_seed(_SEED + 1)
        with torch.no_grad():
            for module in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
                for p in module.parameters():
                    p.copy_(torch.randn_like(p) * 0.2)
            # The conditioning embedding: He-scaled weights and no bias (its zero conv_out and
            # a bias would make it a constant), so that the control image matters.
            ce = net.controlnet_cond_embedding
            for conv in [ce.conv_in, *ce.blocks, ce.conv_out]:
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn_like(conv.weight) * 1.5 * (2.0 / fan_in) ** 0.5)
                conv.bias.zero_()
    net.save_pretrained(folder)
