"""Named models :class:`~lcm_widgets.backends.local.LocalLCM` knows how to load.

The names match fal's ``model_name`` enum (the base model plus the LCM-LoRA fal implies) and
add ``lcm-dreamshaper-v7`` (a fully LCM-distilled SD1.5) and ``tiny`` (random weights, built
offline; see :mod:`.tiny`). Anything else is passed to ``from_pretrained`` as a Hugging Face id
or a local folder.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRESETS", "Preset", "resolve_preset"]


@dataclass(frozen=True)
class Preset:
    """How to load one named model.

    ``repo`` is the Hugging Face id (``None`` for ``tiny``); ``lora`` an LCM-LoRA fused into the
    UNet after loading; ``family`` is ``"sd"`` or ``"sdxl"``; ``taesd`` the tiny autoencoder for
    ``vae="taesd"``; ``size`` the native square side.
    """

    name: str
    repo: str | None
    family: str = "sd"
    lora: str | None = None
    taesd: str = "madebyollin/taesd"
    size: int = 512


PRESETS: dict[str, Preset] = {
    "lcm-dreamshaper-v7": Preset("lcm-dreamshaper-v7", "SimianLuo/LCM_Dreamshaper_v7"),
    "runwayml/stable-diffusion-v1-5": Preset(
        "runwayml/stable-diffusion-v1-5", "runwayml/stable-diffusion-v1-5",
        lora="latent-consistency/lcm-lora-sdv1-5"),
    "stabilityai/stable-diffusion-xl-base-1.0": Preset(
        "stabilityai/stable-diffusion-xl-base-1.0", "stabilityai/stable-diffusion-xl-base-1.0",
        family="sdxl", lora="latent-consistency/lcm-lora-sdxl", taesd="madebyollin/taesdxl",
        size=1024),
    "tiny": Preset("tiny", None),
}


def resolve_preset(model: str) -> Preset:
    """The preset called ``model``, or an ad-hoc one that loads ``model`` as an id or folder."""
    if model in PRESETS:
        return PRESETS[model]
    return Preset(model, model)
