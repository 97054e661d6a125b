"""The tiny model: shipped tokenizer, deterministic build, atomic cache, stock loading."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from lcm_widgets.models._tiny_bpe import TOKENIZER_DIR, render_files
from lcm_widgets.models.tiny import cache_root, ensure_tiny_model, tiny_configs


def test_tokenizer_files_match_generator() -> None:
    """The committed vocab.json/merges.txt are exactly what _tiny_bpe writes."""
    for name, text in render_files().items():
        assert (TOKENIZER_DIR / name).read_text(encoding="utf-8") == text, name
    vocab = json.loads((TOKENIZER_DIR / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["<|endoftext|>"] == len(vocab) - 1 and len(vocab) > 512


def test_tokenizer_is_tracked_package_data() -> None:
    """The tokenizer files are in git and not ignored, so hatch puts them in the wheel."""
    repo = Path(__file__).resolve().parents[2]
    for name in ("vocab.json", "merges.txt"):
        rel = (TOKENIZER_DIR / name).relative_to(repo)
        ignored = subprocess.run(["git", "check-ignore", "-q", str(rel)], cwd=repo)
        assert ignored.returncode == 1, f"{rel} is git-ignored: hatch would leave it out"


def test_tokenizer_loads_with_transformers() -> None:
    """CLIPTokenizer reads the shipped files and pads to 77 tokens."""
    transformers = pytest.importorskip("transformers")
    tok = transformers.CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR), model_max_length=77)
    ids = tok("a photo of a cat", padding="max_length", max_length=77).input_ids
    assert len(ids) == 77 and ids[0] == tok.bos_token_id
    assert tok.convert_ids_to_tokens(ids[1:4]) == ["a</w>", "photo</w>", "of</w>"]


def test_cache_root_follows_env(model_cache: str) -> None:
    """$LCM_WIDGETS_CACHE decides where the tiny model lives."""
    assert cache_root() == Path(model_cache)


def test_plain_diffusers_loads_the_folder(model_cache: str) -> None:
    """The tiny folder is a normal diffusers pipeline: LatentConsistencyModelPipeline loads it."""
    diffusers = pytest.importorskip("diffusers")
    folder = ensure_tiny_model()
    assert folder.parent == Path(model_cache)
    pipe = diffusers.LatentConsistencyModelPipeline.from_pretrained(folder / "pipeline")
    assert pipe.unet.config.time_cond_proj_dim == tiny_configs()["unet"]["time_cond_proj_dim"]
    assert pipe.vae_scale_factor == 8 and pipe.safety_checker is None
    assert type(pipe.scheduler).__name__ == "LCMScheduler"
    taesd = diffusers.AutoencoderTiny.from_pretrained(folder / "taesd")
    assert taesd.config.latent_channels == 4
    assert ensure_tiny_model() == folder  # second call: the cached folder, no rebuild


def _build_into(root: str) -> str:
    return str(ensure_tiny_model(Path(root)))


def test_concurrent_builds_agree_and_weights_are_seeded(tmp_path: Path,
                                                        model_cache: str) -> None:
    """Two processes building at once both return one complete folder, with the same weights
    as a build elsewhere (seeded init)."""
    pytest.importorskip("diffusers")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        a, b = pool.map(_build_into, [str(tmp_path)] * 2)
    assert a == b
    entries = sorted(p.name for p in tmp_path.iterdir())
    assert entries == [f".{Path(a).name}.lock", Path(a).name], entries  # no temp folders
    mine = Path(a) / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors"
    theirs = ensure_tiny_model() / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors"
    from safetensors.numpy import load_file

    x, y = load_file(str(mine)), load_file(str(theirs))
    assert x.keys() == y.keys() and all((x[k] == y[k]).all() for k in x)


def test_tiny_is_importable_without_torch() -> None:
    """tiny_configs/cache_root need no torch (the build imports it lazily)."""
    code = ("import sys; from lcm_widgets.models.tiny import tiny_configs; tiny_configs(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
