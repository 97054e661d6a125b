"""The lean loop on the other model families, with tiny random pipelines built in the test:

* SD with a plain UNet (no ``time_cond_proj_dim``), as an LCM-LoRA model is once fused:
  guidance is classifier-free guidance with the negative prompt;
* SDXL (two text encoders, pooled embeddings and ``time_ids``), with the w-embedding as in
  LCM-SDXL and without it (LCM-LoRA SDXL, CFG).

Each is saved with ``save_pretrained`` and loaded by ``LocalLCM(folder)``; the lean loop must
match the stock ``StableDiffusion[XL][Img2Img]Pipeline`` with the same seed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from lcm_widgets.backends.local import LocalLCM  # noqa: E402
from lcm_widgets.backends.local.reference import final_latents, reference_output  # noqa: E402
from lcm_widgets.images import encode_image  # noqa: E402
from lcm_widgets.models import tiny  # noqa: E402
from lcm_widgets.models._tiny_bpe import TOKENIZER_DIR  # noqa: E402
from lcm_widgets.models.scheduler import LCM_SCHEDULER  # noqa: E402


def _tokenizer() -> Any:
    return transformers.CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR), model_max_length=77)


def _text_config(tok: Any, **kw: Any) -> Any:
    return transformers.CLIPTextConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                       eos_token_id=tok.eos_token_id,
                                       pad_token_id=tok.pad_token_id, **{**tiny._TEXT, **kw})


def build_sd_cfg(folder: Path) -> Path:
    """A tiny SD pipeline whose UNet has no w-embedding (guidance = CFG)."""
    torch.manual_seed(0)
    tok = _tokenizer()
    unet = diffusers.UNet2DConditionModel(**{k: v for k, v in tiny._UNET.items()
                                             if k != "time_cond_proj_dim"})
    pipe = diffusers.StableDiffusionPipeline(
        vae=diffusers.AutoencoderKL(**tiny._VAE), unet=unet,
        text_encoder=transformers.CLIPTextModel(_text_config(tok)), tokenizer=tok,
        scheduler=diffusers.LCMScheduler(**LCM_SCHEDULER), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def build_sdxl(folder: Path, *, time_cond: bool) -> Path:
    """A tiny SDXL pipeline (two text encoders, text_time added conditioning)."""
    torch.manual_seed(0)
    tok = _tokenizer()
    unet_cfg = {**tiny._UNET, "cross_attention_dim": 64, "addition_embed_type": "text_time",
                "addition_time_embed_dim": 8, "projection_class_embeddings_input_dim": 6 * 8 + 32,
                "transformer_layers_per_block": 1, "sample_size": 128}
    if not time_cond:
        unet_cfg.pop("time_cond_proj_dim")
    pipe = diffusers.StableDiffusionXLPipeline(
        vae=diffusers.AutoencoderKL(**tiny._VAE), unet=diffusers.UNet2DConditionModel(**unet_cfg),
        text_encoder=transformers.CLIPTextModel(_text_config(tok)), tokenizer=tok,
        text_encoder_2=transformers.CLIPTextModelWithProjection(_text_config(tok)),
        tokenizer_2=tok, scheduler=diffusers.LCMScheduler(**LCM_SCHEDULER))
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def sketch() -> bytes:
    arr = np.full((256, 256, 3), 240, np.uint8)
    arr[40:120, 60:200] = (200, 60, 30)
    return encode_image(arr, "png")


def pixels(data: bytes) -> np.ndarray[Any, Any]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def check_lean_matches_stock(lcm: LocalLCM, inp: dict[str, Any]) -> None:
    lean = final_latents(lcm, inp)
    ref = final_latents(lcm, inp, reference=True)
    assert lean.shape == ref.shape
    assert float((lean - ref).norm() / ref.norm()) < 1e-2
    ours = lcm.generate_sync({**inp, "format": "png"})
    theirs = reference_output(lcm, {**inp, "format": "png"})
    for a, b in zip(ours.images, theirs.images, strict=True):
        assert np.abs(pixels(a.data()) - pixels(b.data())).max() <= 2


def test_sd_cfg_family(tmp_path: Path, sketch: bytes) -> None:
    """A plain-UNet SD model: CFG with the negative prompt, lean == stock, batch == single."""
    lcm = LocalLCM(str(build_sd_cfg(tmp_path / "sd")), warmup=False, progress=False)
    assert lcm.info.extra["guidance"] == "cfg" and lcm.info.extra["family"] == "sd"
    base = {"prompt": "a house", "seed": 3, "num_inference_steps": 4,
            "image_size": {"width": 256, "height": 256}}
    check_lean_matches_stock(lcm, {**base, "guidance_scale": 2.0, "negative_prompt": "dark"})
    check_lean_matches_stock(lcm, {**base, "guidance_scale": 1.0})
    check_lean_matches_stock(lcm, {**base, "image_url": sketch, "strength": 0.5,
                                   "guidance_scale": 1.8, "num_images": 2})
    # With CFG the negative prompt matters.
    a = lcm.generate_sync({**base, "guidance_scale": 2.0, "negative_prompt": "dark"})
    b = lcm.generate_sync({**base, "guidance_scale": 2.0, "negative_prompt": "bright"})
    assert a.images[0].content != b.images[0].content


def test_sd_cfg_batch_mixes_guidance(tmp_path: Path, sketch: bytes) -> None:
    """A batch mixing guidance 1 and 0.5 (no CFG alone) with 2 (CFG) equals the single calls:
    rows at or below 1 keep their unguided result inside a CFG batch."""
    import asyncio

    from lcm_widgets.schema import Input

    lcm = LocalLCM(str(build_sd_cfg(tmp_path / "sd")), warmup=False, progress=False)
    cells = [Input(prompt=p, negative_prompt=n, seed=s, guidance_scale=g, image_url=sketch,
                   strength=0.5, num_inference_steps=4, format="png")
             for p, n, s, g in [("a", "", 1, 1.0), ("b", "dark", 2, 2.0), ("a", "x", 3, 1.5),
                                ("c", "dark", 4, 0.5)]]
    before = lcm.batch_sizes
    batched = asyncio.run(lcm.generate_batch(cells))
    assert lcm.batch_sizes - before == {4: 1}  # one batch
    for cell, out in zip(cells, batched, strict=True):
        single = lcm.generate_sync(cell)
        assert np.abs(pixels(out.images[0].data()) - pixels(single.images[0].data())).max() <= 2


@pytest.mark.parametrize("time_cond", [True, False], ids=["lcm-sdxl", "lora-sdxl"])
def test_sdxl_family(tmp_path: Path, sketch: bytes, time_cond: bool) -> None:
    """SDXL: pooled embeddings and time_ids reach the UNet; lean == stock."""
    lcm = LocalLCM(str(build_sdxl(tmp_path / "xl", time_cond=time_cond)), warmup=False,
                   progress=False)
    assert lcm.info.extra["family"] == "sdxl" and lcm.native_size == 1024
    base = {"prompt": "a house", "seed": 4, "num_inference_steps": 4, "guidance_scale": 1.7,
            "image_size": {"width": 256, "height": 192}}
    check_lean_matches_stock(lcm, base)
    check_lean_matches_stock(lcm, {**base, "image_url": sketch, "strength": 0.5})
