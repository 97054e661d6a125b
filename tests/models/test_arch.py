"""Full-size random-weight architectures: configs, parameter counts, the folder they build."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lcm_widgets.errors import InvalidInput
from lcm_widgets.models.arch import (
    ARCHS,
    arch_configs,
    arch_key,
    build_arch_folder,
    ensure_arch,
    normalize_dtype,
    param_counts,
)

pytest.importorskip("diffusers")

# The released models' sizes (millions of parameters), as listed in docs/gpu.md and in the
# docstring of lcm_widgets.models.arch.
EXPECTED_M = {
    "sd15": {"unet": 859.6, "vae": 83.7, "text_encoder": 123.1, "taesd": 2.4},
    "sdxl": {"unet": 2567.5, "vae": 83.7, "text_encoder": 123.1, "text_encoder_2": 694.7,
             "taesd": 2.4},
}


@pytest.mark.parametrize("arch", ARCHS)
def test_param_counts_match_released_models(arch: str) -> None:
    """Counted on the meta device, every component has the released model's size."""
    counts = param_counts(arch)
    assert set(counts) == set(EXPECTED_M[arch])
    for name, millions in EXPECTED_M[arch].items():
        assert counts[name] / 1e6 == pytest.approx(millions, abs=0.4), name


def test_sd15_unet_is_lcm_dreamshaper_v7() -> None:
    """The SD1.5 UNet carries LCM's w-embedding: 859.6 M with it, 82 k more than without."""
    with_w = param_counts("sd15")["unet"]
    cfg = arch_configs("sd15")
    cfg["unet"]["time_cond_proj_dim"] = None
    without = param_counts({"seed": 0, "unet": cfg["unet"]})["unet"]
    assert with_w / 1e6 == pytest.approx(859.6, abs=0.05)
    assert without / 1e6 == pytest.approx(859.52, abs=0.01)
    assert 80_000 < with_w - without < 85_000


def test_configs_are_copies_and_keys_differ() -> None:
    """arch_configs returns a private copy; the cache key depends on arch, dtype and configs."""
    a = arch_configs("sd15")
    a["unet"]["block_out_channels"][0] = 1
    assert arch_configs("sd15")["unet"]["block_out_channels"][0] == 320
    b = arch_configs("sd15")
    keys = {arch_key(b, "float16"), arch_key(b, "float32"),
            arch_key(arch_configs("sdxl"), "float16")}
    assert len(keys) == 3
    assert arch_key(b, "float16").startswith("arch-sd15-float16-v")
    assert arch_configs("sdxl")["text_encoder_2"]["max_position_embeddings"] == 77


@pytest.mark.parametrize(("given", "name"), [("fp16", "float16"), ("float16", "float16"),
                                             ("bf16", "bfloat16"), ("fp32", "float32"),
                                             ("torch.float32", "float32")])
def test_normalize_dtype(given: str, name: str) -> None:
    """dtype aliases map to torch names."""
    assert normalize_dtype(given) == name


def test_bad_arch_and_dtype_are_clear_errors() -> None:
    """Unknown arch or dtype raise InvalidInput naming the allowed values."""
    with pytest.raises(InvalidInput, match="arch: must be one of sd15, sdxl, got 'sd3'"):
        arch_configs("sd3")
    with pytest.raises(InvalidInput, match="dtype: must be one of fp16, bf16, fp32"):
        normalize_dtype("int8")
    with pytest.raises(InvalidInput, match="arch"):
        ensure_arch("nope", root=Path("/nonexistent"))


def _shrunk(arch: str) -> dict[str, Any]:
    """The same recipe (block types, w-cond, SDXL text-time embedding) with tiny widths."""
    cfg = copy.deepcopy(arch_configs(arch))
    small_clip = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "projection_dim": 32}
    cfg["text_encoder"].update(small_clip)
    cfg["vae"].update(block_out_channels=[8, 8, 16, 16], norm_num_groups=8,
                      layers_per_block=1)
    cfg["taesd"].update(encoder_block_out_channels=[8] * 4, decoder_block_out_channels=[8] * 4,
                        num_encoder_blocks=[1] * 4, num_decoder_blocks=[1] * 4)
    if arch == "sd15":
        cfg["unet"].update(block_out_channels=[32, 32, 64, 64], norm_num_groups=8,
                           layers_per_block=1, cross_attention_dim=32)
    else:
        cfg["text_encoder_2"].update(small_clip)
        cfg["unet"].update(block_out_channels=[32, 64, 64], norm_num_groups=8,
                           layers_per_block=1, transformer_layers_per_block=[1, 1, 1],
                           attention_head_dim=[2, 4, 4], cross_attention_dim=64,
                           addition_time_embed_dim=8,
                           projection_class_embeddings_input_dim=8 * 6 + 32)
    return cfg


@pytest.mark.parametrize(("arch", "family"), [("sd15", "sd"), ("sdxl", "sdxl")])
def test_built_folder_loads_through_local_lcm(tmp_path: Path, arch: str, family: str) -> None:
    """A (shrunk) build loads with LocalLCM through from_pretrained, TAESD included, and
    generates; the folder records its configs and parameter counts."""
    from lcm_widgets.backends.local import LocalLCM

    cfg = _shrunk(arch)
    counts = build_arch_folder(tmp_path, cfg, "fp32", device="cpu")
    meta = json.loads((tmp_path / "lcm_widgets_arch.json").read_text())
    assert meta["param_counts"] == counts and meta["dtype"] == "float32"
    index = json.loads((tmp_path / "pipeline" / "model_index.json").read_text())
    assert index["scheduler"] == ["diffusers", "LCMScheduler"]
    lcm = LocalLCM(str(tmp_path), device="cpu", dtype="float32", warmup=False, progress=False,
                   vae="taesd", safety_checker=False)
    assert lcm.info.extra["family"] == family
    assert lcm.info.extra["vae"] == "taesd"
    unet = lcm.components.unet
    assert unet.config.time_cond_proj_dim == 256
    assert sum(p.numel() for p in unet.parameters()) == counts["unet"]
    out = lcm.generate_sync({"prompt": "a cat", "seed": 1, "num_inference_steps": 2,
                             "image_size": {"width": 64, "height": 64}})
    assert out.images[0].data()[:3] == b"\xff\xd8\xff"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("LCM_WIDGETS_FULL_ARCH"),
                    reason="writes ~2 GB; set LCM_WIDGETS_FULL_ARCH=1 to run")
def test_full_sd15_build(tmp_path: Path) -> None:
    """The real full-size SD1.5 (fp16, about 2 GB, ~1 minute on 2 CPU cores) builds and loads
    with from_pretrained at the expected sizes."""
    import torch
    from diffusers import AutoencoderTiny, DiffusionPipeline

    folder = ensure_arch("sd15", "fp16", root=tmp_path, device="cpu")
    assert ensure_arch("sd15", "fp16", root=tmp_path) == folder  # cached
    pipe = DiffusionPipeline.from_pretrained(str(folder / "pipeline"), torch_dtype=torch.float16)
    taesd = AutoencoderTiny.from_pretrained(str(folder / "taesd"))
    sizes = {"unet": pipe.unet, "vae": pipe.vae, "text_encoder": pipe.text_encoder,
             "taesd": taesd}
    for name, module in sizes.items():
        n = sum(p.numel() for p in module.parameters())
        assert n / 1e6 == pytest.approx(EXPECTED_M["sd15"][name], abs=0.4), name
    assert pipe.unet.dtype == torch.float16
