"""Named models :class:`~lcm_widgets.backends.local.LocalLCM` knows how to load.

The names match fal's ``model_name`` enum (the base model plus the LCM-LoRA fal implies) and
add ``lcm-dreamshaper-v7`` (a fully LCM-distilled SD1.5) and ``tiny`` (random weights, built
offline; see :mod:`.tiny`). The turbo presets (``sd-turbo``, ``sdxl-turbo``, ``tiny-turbo``)
are the models of fal's ``fast-turbo-diffusion`` app: adversarially distilled for 1 to 4
steps, no guidance (``guidance_scale`` <= 1), run with their Euler scheduler
(``kind="turbo"``). Anything else is passed to ``from_pretrained`` as a Hugging Face id or a
local folder (an id that is a preset's ``repo`` loads as that preset).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRESETS", "Preset", "resolve_preset"]


@dataclass(frozen=True)
class Preset:
    """How to load one named model.

    ``repo`` is the Hugging Face id (``None`` for ``tiny``); ``lora`` an LCM-LoRA fused into the
    UNet after loading; ``family`` is ``"sd"`` or ``"sdxl"``; ``taesd`` the tiny autoencoder for
    ``vae="taesd"``; ``size`` the native square side; ``kind`` ``"lcm"`` (LCM scheduler) or
    ``"turbo"`` (the Euler scheduler the model ships with, trailing timesteps).
    """

    name: str
    repo: str | None
    family: str = "sd"
    lora: str | None = None
    taesd: str = "madebyollin/taesd"
    size: int = 512
    kind: str = "lcm"


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
    "sd-turbo": Preset("sd-turbo", "stabilityai/sd-turbo", kind="turbo"),
    "sdxl-turbo": Preset("sdxl-turbo", "stabilityai/sdxl-turbo", family="sdxl",
                         taesd="madebyollin/taesdxl", kind="turbo"),
    "tiny-turbo": Preset("tiny-turbo", None, kind="turbo"),
}


def resolve_preset(model: str) -> Preset:
    """The preset called ``model``, or an ad-hoc one that loads ``model`` as an id or folder."""
    if model in PRESETS:
        return PRESETS[model]
    by_repo = [p for p in PRESETS.values() if p.kind == "turbo" and p.repo == model]
    return by_repo[0] if by_repo else Preset(model, model)
