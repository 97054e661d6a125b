"""The ``tiny`` model: a random-weight LCM with the real architecture, for tests and offline demos.

It has every part a real LCM pipeline has, only narrow:

* a :class:`~diffusers.UNet2DConditionModel` with ``time_cond_proj_dim`` (so guidance enters
  through the w-embedding, as in ``SimianLuo/LCM_Dreamshaper_v7``);
* an :class:`~diffusers.AutoencoderKL` with four blocks (scale factor 8: 512x512 pixels ↔
  64x64 latents) and very few channels;
* a two-layer :class:`~transformers.CLIPTextModel` and a :class:`~transformers.CLIPTokenizer`
  whose ``vocab.json``/``merges.txt`` ship inside the package (``tiny_tokenizer/``, written by
  :mod:`._tiny_bpe`);
* an :class:`~diffusers.LCMScheduler` with the one config of :mod:`.scheduler` (as in
  LCM_Dreamshaper_v7);
* no safety checker;
* next to the pipeline, a random :class:`~diffusers.AutoencoderTiny` so that the ``vae="taesd"``
  code path runs offline too.

Weights are initialised from fixed seeds, written once with ``save_pretrained`` as a full
diffusers pipeline folder (``model_index.json`` for ``LatentConsistencyModelPipeline``), and from
then on loaded through the same ``from_pretrained`` path as a downloaded model. The folder lives
in :func:`~.cache.cache_root` (``$LCM_WIDGETS_CACHE``, else the platform's cache folder, e.g.
``~/.cache/lcm_widgets``) under a name keyed by a hash of the configs, and is written by
:func:`~.cache.build_once`: built in a temporary folder and renamed into place under a file
lock, so two processes asking at once build it once.

The images it makes are noise-like colour fields: it exercises the code, not the art.

``tiny-turbo`` (``ensure_tiny_model(kind="turbo")``) is the same recipe shaped like SD-Turbo:
a ``StableDiffusionPipeline`` folder whose UNet has no ``time_cond_proj_dim`` (guidance, when
above 1, is classifier-free) and whose scheduler is the
:data:`~.scheduler.TURBO_SCHEDULER` Euler config (trailing timesteps). Its cache folder is
keyed by its own configs, so the ``tiny`` folder is unchanged.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ._tiny_bpe import TOKENIZER_DIR
from .cache import build_once, cache_root
from .scheduler import LCM_SCHEDULER, TURBO_SCHEDULER

__all__ = ["TINY_VERSION", "cache_root", "ensure_tiny_model", "tiny_configs",
           "tiny_turbo_configs"]

#: Bump when the build recipe changes in a way the configs do not show.
TINY_VERSION = 1
SEED = 0

_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
    "time_cond_proj_dim": 32,
}
_VAE: dict[str, Any] = {
    "sample_size": 512,
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [4, 4, 8, 8],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 4,
    "scaling_factor": 0.18215,
    "mid_block_add_attention": True,
}
_TAESD: dict[str, Any] = {
    "encoder_block_out_channels": [8, 8, 8, 8],
    "decoder_block_out_channels": [8, 8, 8, 8],
    "num_encoder_blocks": [1, 1, 1, 1],
    "num_decoder_blocks": [1, 1, 1, 1],
    "latent_channels": 4,
}
_TEXT: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "projection_dim": 32,
    "hidden_act": "quick_gelu",
}


def tiny_configs() -> dict[str, Any]:
    """Every config the tiny model is built from (the cache key hashes this)."""
    tok = {name: (TOKENIZER_DIR / name).read_text(encoding="utf-8")
           for name in ("vocab.json", "merges.txt")}
    return {"version": TINY_VERSION, "seed": SEED, "unet": _UNET, "vae": _VAE, "taesd": _TAESD,
            "text_encoder": _TEXT, "scheduler": LCM_SCHEDULER,
            "tokenizer_sha256": hashlib.sha256(json.dumps(tok, sort_keys=True).encode()
                                               ).hexdigest()}


def tiny_turbo_configs() -> dict[str, Any]:
    """The configs of ``tiny-turbo``: the tiny model's, with a UNet without the w-embedding
    and the turbo Euler scheduler."""
    configs = tiny_configs()
    configs["unet"] = {k: v for k, v in _UNET.items() if k != "time_cond_proj_dim"}
    configs["scheduler"] = TURBO_SCHEDULER
    configs["kind"] = "turbo"
    return configs


def _key(kind: str = "lcm") -> str:
    configs = tiny_turbo_configs() if kind == "turbo" else tiny_configs()
    blob = json.dumps(configs, sort_keys=True).encode()
    name = "tiny-turbo" if kind == "turbo" else "tiny"
    return f"{name}-v{TINY_VERSION}-{hashlib.sha256(blob).hexdigest()[:12]}"


def ensure_tiny_model(root: Path | None = None, *, kind: str = "lcm") -> Path:
    """Build the tiny model (``kind="turbo"``: ``tiny-turbo``) if it is not in the cache yet;
    return its folder.

    The folder holds ``pipeline/`` (load with ``DiffusionPipeline.from_pretrained``: an
    ``LatentConsistencyModelPipeline``, or a ``StableDiffusionPipeline`` for ``tiny-turbo``)
    and ``taesd/`` (``AutoencoderTiny.from_pretrained``). Safe to call from several processes.
    """
    if kind not in ("lcm", "turbo"):
        raise ValueError(f"kind: must be 'lcm' or 'turbo', got {kind!r}")
    root = cache_root() if root is None else root
    build = (lambda folder: _build(folder, kind="turbo")) if kind == "turbo" else _build
    return build_once(root / _key(kind), build, _complete,
                      "tiny-turbo model" if kind == "turbo" else "tiny model")


def _complete(folder: Path) -> bool:
    return (folder / "pipeline" / "model_index.json").is_file()


def _build(folder: Path, kind: str = "lcm") -> None:
    """Create the random-weight components and save them under ``folder``."""
    from .._extras import need

    need("local", "torch", "diffusers", "transformers", what="the tiny model")
    import torch
    from diffusers import (
        AutoencoderKL,
        AutoencoderTiny,
        EulerDiscreteScheduler,
        LatentConsistencyModelPipeline,
        LCMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    turbo = kind == "turbo"
    configs = tiny_turbo_configs() if turbo else tiny_configs()
    tokenizer = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR), model_max_length=77)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        unet = UNet2DConditionModel(**configs["unet"])
        torch.manual_seed(SEED + 1)
        vae = AutoencoderKL(**_VAE)
        torch.manual_seed(SEED + 2)
        text_cfg = CLIPTextConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id,
                                  pad_token_id=tokenizer.pad_token_id, **_TEXT)
        text_encoder = CLIPTextModel(text_cfg)
        torch.manual_seed(SEED + 3)
        taesd: Any = AutoencoderTiny(**_TAESD)
    cls: Any = StableDiffusionPipeline if turbo else LatentConsistencyModelPipeline
    scheduler: Any = (EulerDiscreteScheduler(**TURBO_SCHEDULER) if turbo
                      else LCMScheduler(**LCM_SCHEDULER))
    pipe: Any = cls(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                    scheduler=scheduler, safety_checker=None, feature_extractor=None,
                    requires_safety_checker=False)
    pipe.save_pretrained(folder / "pipeline")
    taesd.save_pretrained(folder / "taesd")
    (folder / "lcm_widgets_tiny.json").write_text(json.dumps(configs, indent=1,
                                                             sort_keys=True))
