"""Full-size model architectures with random weights, built from config: benchmarks offline.

A GPU benchmark needs the real tensor shapes, not the real weights: the kernels run the same
FLOPs whatever the numbers are. This module writes the *full-size* architectures as diffusers
pipeline folders with seeded random weights, so that
``LocalLCM(str(ensure_arch("sd15")), device="cuda", dtype=torch.float16)`` goes through the
real ``from_pretrained`` path without downloading anything.

Architectures (configs copied from the released models' ``config.json`` files):

``sd15``
    ``SimianLuo/LCM_Dreamshaper_v7``: the SD1.5 UNet (859.6 M params with
    ``time_cond_proj_dim=256``, the LCM guidance w-embedding), the SD VAE (83.7 M), the CLIP
    ViT-L/14 text encoder (123.1 M with the full 49 408-row token table), an
    ``LCMScheduler`` with :data:`~.scheduler.LCM_SCHEDULER` (that repository's config), 512x512.
``sdxl``
    ``latent-consistency/lcm-sdxl``: the SDXL base UNet (2 567.5 M params without w-cond) with
    ``time_cond_proj_dim=256`` as in the distilled LCM-SDXL UNet, CLIP ViT-L/14 and OpenCLIP
    ViT-bigG/14 text encoders, the SDXL VAE (same architecture as the SD VAE; configured as
    ``madebyollin/sdxl-vae-fp16-fix``, i.e. ``force_upcast=False``, so fp16 decodes in fp16
    as people run it), the same :data:`~.scheduler.LCM_SCHEDULER`, 1024x1024. LCM-LoRA on
    plain SDXL has the same UNet minus the w-embedding MLP (0.3 M params, negligible FLOPs)
    once the LoRA is fused; an unfused LoRA adds its own small GEMMs, which this arch does not
    model.

Each folder also holds ``taesd/``: TAESD for ``sd15``, TAESDXL for ``sdxl`` (both
``AutoencoderTiny`` with its default config, 2.4 M params).

The tokenizer is the tiny CLIP BPE shipped with the package (``tiny_tokenizer/``, 914 tokens):
its ids are all valid rows of the full 49 408-row embedding table, and prompts still pad to 77
tokens, so the text encoders do exactly the real work.

Layout (the same as the ``tiny`` model's)::

    $LCM_WIDGETS_CACHE/arch-sd15-float16-v1-<hash>/
        pipeline/          model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/
        taesd/             AutoencoderTiny
        lcm_widgets_arch.json   configs, seed, dtype, parameter counts

Building writes about 2.1 GB (``sd15``) or 7 GB (``sdxl``) in fp16 and is done lazily, only
when asked for, in a temporary folder renamed into place under a file lock
(:func:`~.cache.build_once`: two processes asking at once build it once). Initialising
the weights on a GPU is much faster than on a CPU; pass ``device="cuda"``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, ModelLoadError
from .scheduler import LCM_SCHEDULER

__all__ = [
    "ARCHS",
    "ARCH_VERSION",
    "arch_configs",
    "arch_key",
    "build_arch_folder",
    "ensure_arch",
    "normalize_dtype",
    "param_counts",
]

#: Bump when the build recipe changes in a way the configs do not show.
ARCH_VERSION = 1
SEED = 1234

_DTYPES = {"fp16": "float16", "float16": "float16", "half": "float16",
           "bf16": "bfloat16", "bfloat16": "bfloat16",
           "fp32": "float32", "float32": "float32", "float": "float32"}

# --- SD1.5 / LCM_Dreamshaper_v7 -------------------------------------------------------------
_SD15_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": [320, 640, 1280, 1280],
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                         "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                       "CrossAttnUpBlock2D"],
    "cross_attention_dim": 768,
    "attention_head_dim": 8,  # really 8 heads (a historic misnomer): head dims 40/80/160
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "time_cond_proj_dim": 256,  # LCM w-embedding (LCM_Dreamshaper_v7)
}
_SD_VAE: dict[str, Any] = {
    "sample_size": 512,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "act_fn": "silu",
    "scaling_factor": 0.18215,
}
_CLIP_L: dict[str, Any] = {  # openai/clip-vit-large-patch14 text tower
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}

# --- SDXL / lcm-sdxl ------------------------------------------------------------------------
_SDXL_UNET: dict[str, Any] = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": [320, 640, 1280],
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "transformer_layers_per_block": [1, 2, 10],
    "attention_head_dim": [5, 10, 20],
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "time_cond_proj_dim": 256,  # latent-consistency/lcm-sdxl
}
_SDXL_VAE: dict[str, Any] = {**_SD_VAE, "sample_size": 1024, "scaling_factor": 0.13025,
                             "force_upcast": False}
_CLIP_BIGG: dict[str, Any] = {  # laion/CLIP-ViT-bigG-14 text tower (SDXL text_encoder_2)
    "vocab_size": 49408,
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "max_position_embeddings": 77,
    "projection_dim": 1280,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
_TAESD: dict[str, Any] = {  # madebyollin/taesd and taesdxl: AutoencoderTiny defaults
    "in_channels": 3,
    "out_channels": 3,
    "encoder_block_out_channels": [64, 64, 64, 64],
    "decoder_block_out_channels": [64, 64, 64, 64],
    "num_encoder_blocks": [1, 3, 3, 3],
    "num_decoder_blocks": [3, 3, 3, 1],
    "latent_channels": 4,
    "latent_magnitude": 3,
    "latent_shift": 0.5,
    "scaling_factor": 1.0,
    "act_fn": "relu",
    "upsampling_scaling_factor": 2,
    "force_upcast": False,
}

_ARCHS: dict[str, dict[str, Any]] = {
    "sd15": {"pipeline": "LatentConsistencyModelPipeline", "size": 512, "unet": _SD15_UNET,
             "vae": _SD_VAE, "text_encoder": _CLIP_L, "scheduler": LCM_SCHEDULER,
             "taesd": _TAESD, "like": "SimianLuo/LCM_Dreamshaper_v7 + madebyollin/taesd"},
    "sdxl": {"pipeline": "StableDiffusionXLPipeline", "size": 1024, "unet": _SDXL_UNET,
             "vae": _SDXL_VAE, "text_encoder": _CLIP_L, "text_encoder_2": _CLIP_BIGG,
             "scheduler": LCM_SCHEDULER, "taesd": _TAESD,
             "like": "latent-consistency/lcm-sdxl + madebyollin/sdxl-vae-fp16-fix + taesdxl"},
}
#: The architectures :func:`ensure_arch` can build.
ARCHS: tuple[str, ...] = tuple(_ARCHS)


def normalize_dtype(dtype: str) -> str:
    """``"fp16"``/``"float16"``… → the torch dtype name; raises InvalidInput otherwise."""
    name = _DTYPES.get(str(dtype).replace("torch.", "").lower())
    if name is None:
        raise InvalidInput(f"dtype: must be one of fp16, bf16, fp32, got {dtype!r}",
                           field="dtype")
    return name


def arch_configs(arch: str) -> dict[str, Any]:
    """A deep copy of every config ``arch`` is built from (the cache key hashes it)."""
    if arch not in _ARCHS:
        raise InvalidInput(f"arch: must be one of {', '.join(ARCHS)}, got {arch!r}",
                           field="arch")
    return copy.deepcopy({"version": ARCH_VERSION, "seed": SEED, "arch": arch, **_ARCHS[arch]})


def arch_key(configs: dict[str, Any], dtype: str) -> str:
    """The cache folder name: arch, dtype, recipe version and a hash of the configs."""
    blob = json.dumps({**configs, "dtype": dtype}, sort_keys=True).encode()
    return (f"arch-{configs['arch']}-{dtype}-v{ARCH_VERSION}-"
            f"{hashlib.sha256(blob).hexdigest()[:12]}")


def _modules(configs: dict[str, Any], tokenizer: Any = None) -> dict[str, Any]:
    """Instantiate every model of ``configs`` (on the current default device).

    With a ``tokenizer``, the text encoders take its special-token ids (the pooled output is
    read at its end-of-text token) and at least its vocabulary size.
    """
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    seed = int(configs.get("seed", SEED))
    out: dict[str, Any] = {}
    with torch.random.fork_rng(devices=[]):
        for i, name in enumerate(("unet", "vae", "text_encoder", "text_encoder_2", "taesd")):
            if name not in configs:
                continue
            torch.manual_seed(seed + i)  # also seeds the current CUDA device
            cfg = dict(configs[name])
            if name == "unet":
                out[name] = UNet2DConditionModel(**cfg)
            elif name == "vae":
                out[name] = AutoencoderKL(**cfg)
            elif name == "taesd":
                out[name] = AutoencoderTiny(**cfg)
            else:
                ids = {"bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407}
                if tokenizer is not None:
                    cfg["vocab_size"] = max(cfg["vocab_size"], len(tokenizer))
                    ids = {"bos_token_id": tokenizer.bos_token_id,
                           "eos_token_id": tokenizer.eos_token_id,
                           "pad_token_id": tokenizer.pad_token_id}
                klass = CLIPTextModelWithProjection if name == "text_encoder_2" else CLIPTextModel
                out[name] = klass(CLIPTextConfig(**{**ids, **cfg}))
    return out


def param_counts(arch: str | dict[str, Any]) -> dict[str, int]:
    """Parameters per component, counted on the meta device (no memory, well under a second)."""
    import torch

    configs = arch_configs(arch) if isinstance(arch, str) else arch
    with torch.device("meta"):
        mods = _modules(configs)
    return {name: sum(p.numel() for p in m.parameters()) for name, m in mods.items()}


def _model_index(configs: dict[str, Any]) -> dict[str, Any]:
    import diffusers

    index: dict[str, Any] = {
        "_class_name": configs["pipeline"],
        "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", "LCMScheduler"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    if "text_encoder_2" in configs:
        index.update(text_encoder_2=["transformers", "CLIPTextModelWithProjection"],
                     tokenizer_2=["transformers", "CLIPTokenizer"],
                     force_zeros_for_empty_prompt=True)
    else:
        index.update(safety_checker=[None, None], feature_extractor=[None, None],
                     image_encoder=[None, None], requires_safety_checker=False)
    return index


def build_arch_folder(folder: Path, configs: dict[str, Any], dtype: str = "float16",
                      device: str | None = None) -> dict[str, int]:
    """Write the random-weight pipeline for ``configs`` into ``folder``; return param counts.

    Each component is created (seeded), cast to ``dtype``, saved and freed before the next, so
    peak memory is about one fp32 component. ``device`` is where the weights are initialised
    (``"cuda"`` is many times faster than the CPU; the saved files are the same format).
    """
    from .._extras import need

    need("local", "torch", "diffusers", "transformers", what="the random-weight architectures")
    import torch
    from diffusers.utils import logging as dlog

    dtype = normalize_dtype(dtype)
    torch_dtype = getattr(torch, dtype)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    verbosity = dlog.get_verbosity()
    # ModelMixin.to(dtype) warns about fp32-kept modules on every cast; there are none here.
    dlog.set_verbosity_error()
    try:
        return _write(folder, configs, dtype, torch_dtype, dev)
    finally:
        dlog.set_verbosity(verbosity)


def _write(folder: Path, configs: dict[str, Any], dtype: str, torch_dtype: Any,
           dev: str) -> dict[str, int]:
    import torch
    from diffusers import LCMScheduler
    from transformers import CLIPTokenizer

    from ._tiny_bpe import TOKENIZER_DIR

    pipe_dir = folder / "pipeline"
    pipe_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR), model_max_length=77)
    counts: dict[str, int] = {}
    for name in ("unet", "vae", "text_encoder", "text_encoder_2", "taesd"):
        if name not in configs:
            continue
        with torch.device(dev):
            (module,) = _modules({"seed": configs.get("seed", SEED), name: configs[name]},
                                 tokenizer=tokenizer).values()
        counts[name] = sum(p.numel() for p in module.parameters())
        module = module.to(device="cpu", dtype=torch_dtype)
        module.save_pretrained(str(folder / "taesd" if name == "taesd" else pipe_dir / name))
        del module
        if dev.startswith("cuda"):
            torch.cuda.empty_cache()
    tokenizer.save_pretrained(str(pipe_dir / "tokenizer"))
    if "text_encoder_2" in configs:
        tokenizer.save_pretrained(str(pipe_dir / "tokenizer_2"))
    scheduler: Any = LCMScheduler(**configs["scheduler"])
    scheduler.save_pretrained(str(pipe_dir / "scheduler"))
    (pipe_dir / "model_index.json").write_text(json.dumps(_model_index(configs), indent=2))
    meta = {"configs": configs, "dtype": dtype, "init_device": dev, "param_counts": counts}
    (folder / "lcm_widgets_arch.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return counts


def ensure_arch(arch: str, dtype: str = "float16", *, root: Path | None = None,
                device: str | None = None) -> Path:
    """Build the full-size random-weight ``arch`` if it is not cached yet; return its folder.

    Load ``<folder>/pipeline`` with ``from_pretrained`` (or pass the folder to ``LocalLCM``);
    ``<folder>/taesd`` is the matching tiny autoencoder. Safe to call from several processes.
    Raises :class:`~lcm_widgets.errors.ModelLoadError` when the build fails (disk full…).
    """
    from .cache import build_once, cache_root

    dtype = normalize_dtype(dtype)
    configs = arch_configs(arch)
    root = cache_root() if root is None else root

    def build(tmp: Path) -> None:
        try:
            build_arch_folder(tmp, configs, dtype, device)
        except (OSError, RuntimeError) as exc:
            raise ModelLoadError(f"arch {arch}: could not build the random-weight model in "
                                 f"{root} ({exc})") from exc

    return build_once(root / arch_key(configs, dtype), build,
                      lambda folder: (folder / "lcm_widgets_arch.json").is_file(), f"arch {arch}")
