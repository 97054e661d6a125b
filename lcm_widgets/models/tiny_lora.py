"""Tiny random LoRAs for the ``tiny`` model (tests, the bench): real peft LoRA weights saved in
diffusers' LoRA format (``pytorch_lora_weights.safetensors``), loaded like any downloaded one.

``ensure_tiny_lora(seed)`` gives a LoRA on the tiny UNet's attention projections; different
seeds give different LoRAs. ``ensure_tiny_lora(seed, base="wide")`` gives one made for a UNet
whose text features are twice as wide (``cross_attention_dim`` 64): a LoRA for another base
model, whose shapes do not fit ``tiny``. Built once into the model cache (:mod:`.cache`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .cache import build_once, cache_root

__all__ = ["ensure_tiny_lora"]

TINY_LORA_VERSION = 1
_BASES = ("tiny", "wide")


def _config(seed: int, base: str) -> dict[str, Any]:
    from .tiny import _UNET

    unet = dict(_UNET)
    if base == "wide":
        unet["cross_attention_dim"] = 64
    return {"version": TINY_LORA_VERSION, "seed": seed, "unet": unet, "rank": 4,
            "targets": ["to_q", "to_k", "to_v", "to_out.0"]}


def ensure_tiny_lora(seed: int = 0, *, base: str = "tiny", root: Path | None = None) -> Path:
    """The folder of the tiny LoRA with this ``seed`` (built if missing); ``base="wide"`` for
    one that does not fit the tiny model."""
    if base not in _BASES:
        raise ValueError(f"base: must be one of {', '.join(_BASES)}, got {base!r}")
    cfg = _config(seed, base)
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]
    root = cache_root() if root is None else root
    return build_once(root / f"tiny-lora-{base}-s{seed}-{key}",
                      lambda folder: _build(folder, cfg),
                      lambda f: (f / "pytorch_lora_weights.safetensors").is_file(),
                      "tiny LoRA")


def _build(folder: Path, cfg: dict[str, Any]) -> None:
    from .._extras import need

    need("local", "torch", "diffusers", "peft", what="the tiny LoRA")
    import torch
    from diffusers import LatentConsistencyModelPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the base weights do not matter: only the LoRA is saved
        unet: Any = UNet2DConditionModel(**cfg["unet"])
        torch.manual_seed(1000 + cfg["seed"])
        # init_lora_weights=False: lora_B random too (peft's default zeros would do nothing).
        unet.add_adapter(LoraConfig(r=cfg["rank"], lora_alpha=cfg["rank"],
                                    target_modules=cfg["targets"], init_lora_weights=False))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    LatentConsistencyModelPipeline.save_lora_weights(folder, unet_lora_layers=layers,
                                                     safe_serialization=True)
