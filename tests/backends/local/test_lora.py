"""User LoRAs on LocalLCM: tiny random peft LoRAs (saved in diffusers' format, loaded from
their .safetensors files) on the tiny model; hot-swapped without reloading the base model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from local_helpers import i2i, pixels  # noqa: E402

from lcm_widgets.backends.local import LocalLCM  # noqa: E402
from lcm_widgets.errors import InvalidInput, ModelLoadError  # noqa: E402
from lcm_widgets.models.tiny_lora import ensure_tiny_lora  # noqa: E402

SMALL = {"width": 128, "height": 128}


@pytest.fixture(scope="module")
def loras(model_cache: str) -> list[Path]:
    """Three different tiny LoRAs (folders with pytorch_lora_weights.safetensors)."""
    return [ensure_tiny_lora(seed) for seed in range(3)]


@pytest.fixture(scope="module")
def lm(model_cache: str) -> LocalLCM:
    """A tiny LocalLCM that keeps at most two LoRAs loaded."""
    return LocalLCM("tiny", progress=False, warmup=False, max_loras=2)


def _req(src: bytes, **kw: Any) -> dict[str, Any]:
    return i2i(src, image_size=SMALL, format="png", **kw)


def _bytes(lm: LocalLCM, src: bytes, **kw: Any) -> bytes:
    data = lm.generate_sync(_req(src, **kw)).images[0].content
    assert data is not None
    return data


def _base_weights(lm: LocalLCM) -> dict[str, Any]:
    """The UNet's base (non-LoRA) parameters: name -> (storage pointer, a copy)."""
    return {n: (p.data_ptr(), p.detach().clone()) for n, p in lm.components.unet.named_parameters()
            if "lora_" not in n}


def test_scale_zero_is_the_base_and_scales_differ(lm: LocalLCM, lcm: LocalLCM, sketch: bytes,
                                                  loras: list[Path]) -> None:
    """A loaded LoRA at scale 0 gives the very bytes of the base model (and of a LocalLCM that
    never loaded a LoRA); scale 1 differs, scale 0.5 differs from both, another LoRA differs."""
    base = _bytes(lcm, sketch)
    name = lm.load_lora(loras[0], scale=0.0)
    assert name == str(loras[0]) and lm.loras == [{"path": name, "scale": 0.0}]
    assert _bytes(lm, sketch) == base
    assert _bytes(lm, sketch, loras=[]) == base
    one = pixels(_bytes(lm, sketch, loras=[{"path": name, "scale": 1.0}]))
    half = pixels(_bytes(lm, sketch, loras=[{"path": name, "scale": 0.5}]))
    other = pixels(_bytes(lm, sketch, loras=[{"path": lm.load_lora(loras[1], activate=False),
                                              "scale": 1.0}]))
    b = pixels(base)
    assert np.abs(one - b).mean() > 1 and np.abs(half - b).mean() > 0.5
    assert np.abs(half - one).mean() > 0.5 and np.abs(other - one).mean() > 1
    assert _bytes(lm, sketch, loras=[{"path": name, "scale": 0}]) == base


def test_ten_swaps_never_reload_the_base_and_stay_bounded(lm: LocalLCM, sketch: bytes,
                                                          loras: list[Path]) -> None:
    """Switching among three LoRAs and scales ten times while generating: the base model is
    loaded once, its weights are the same tensors with the same values, at most max_loras (2)
    adapters are in the model, and each LoRA image is the same every time it comes back."""
    names = [lm.load_lora(p, activate=False) for p in loras]
    before = _base_weights(lm)
    params_bound = None
    seen: dict[tuple[str, float], bytes] = {}
    for k in range(10):
        pick = (names[k % 3], (0.5, 1.0)[k % 2])
        data = _bytes(lm, sketch, loras=[{"path": pick[0], "scale": pick[1]}])
        assert seen.setdefault(pick, data) == data
        assert len(lm.loaded_loras) <= 2
        count = sum(p.numel() for p in lm.components.unet.parameters())
        params_bound = count if params_bound is None else params_bound
        assert count <= params_bound  # never more than two adapters' worth
    assert lm.load_counts["model"] == 1
    assert lm.load_counts["lora"] >= 3  # the bound of 2 made some LoRAs load again
    after = _base_weights(lm)
    assert after.keys() == before.keys()
    for n, (ptr, value) in before.items():
        assert after[n][0] == ptr and torch.equal(after[n][1], value), n


def test_two_loras_at_once(lm: LocalLCM, sketch: bytes, loras: list[Path]) -> None:
    """Two LoRAs in one request differ from either alone."""
    a, b = (lm.load_lora(p, activate=False) for p in loras[:2])
    both = pixels(_bytes(lm, sketch, loras=[{"path": a, "scale": 1}, {"path": b, "scale": 1}]))
    only_a = pixels(_bytes(lm, sketch, loras=[{"path": a, "scale": 1}]))
    assert np.abs(both - only_a).mean() > 0.5


def test_bad_loras_are_clear_errors_and_the_session_keeps_working(
        lm: LocalLCM, sketch: bytes, loras: list[Path], tmp_path: Path) -> None:
    """Unknown LoRA in a request, a pickle file, a file that only claims to be safetensors, a
    LoRA for another base model, an id not in the offline cache: each error names the field and
    the value (both models for the misfit); the next request still runs."""
    with pytest.raises(InvalidInput) as info:
        lm.generate_sync(_req(sketch, loras=[{"path": "nobody/style", "scale": 1}]))
    assert info.value.field == "loras.0.path"
    assert str(info.value).startswith("loras.0.path: no LoRA 'nobody/style' is loaded")
    pickle = tmp_path / "style.bin"
    pickle.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(InvalidInput, match=r"lora: '.*style\.bin' is not a safetensors file"):
        lm.load_lora(pickle)
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(InvalidInput, match=r"lora: '.*fake\.safetensors' is not a safetensors"):
        lm.load_lora(fake)
    wide = ensure_tiny_lora(0, base="wide")
    with pytest.raises(ModelLoadError) as misfit:
        lm.load_lora(wide)
    assert str(misfit.value).startswith(f"lora: {str(wide)!r} does not fit the model 'tiny': "
                                        "it was made for another base model")
    with pytest.raises(ModelLoadError, match="lora: could not load 'nobody/no-such-lora'"):
        lm.load_lora("nobody/no-such-lora")
    with pytest.raises(InvalidInput, match=r"loras\.0\.scale: must be between 0\.0 and 4\.0, got 5"):
        lm.generate_sync(_req(sketch, loras=[{"path": str(loras[0]), "scale": 5}]))
    assert len(lm.loaded_loras) <= 2
    assert _bytes(lm, sketch, loras=[{"path": lm.load_lora(loras[0], activate=False),
                                      "scale": 1}])


def test_requests_may_load_new_loras_only_when_allowed(model_cache: str, sketch: bytes,
                                                       loras: list[Path]) -> None:
    """With lora_from_requests=True a request may name a LoRA file never loaded before."""
    lm2 = LocalLCM("tiny", progress=False, warmup=False, lora_from_requests=True)
    path = str(loras[2] / "pytorch_lora_weights.safetensors")
    out = lm2.generate_sync(_req(sketch, loras=[{"path": path, "scale": 1}]))
    assert out.images[0].content and lm2.loaded_loras and lm2.load_counts["lora"] == 1


def test_compare_sweeps_the_lora_scale(lm: LocalLCM, lcm: LocalLCM, sketch: bytes,
                                       loras: list[Path]) -> None:
    """A real Compare grid over lora_scale=[0, 1] with one fixed LoRA: the scale-0 cell is the
    base model's image, the scale-1 cell differs from it."""
    pytest.importorskip("ipywidgets")
    from lcm_widgets.widgets.compare import Compare

    name = lm.load_lora(loras[0], activate=False)
    c = Compare(backend=lm, sketchpad=False, prompt="a house", steps=4, strength=0.5, seed=1,
                format="png", image_size=SMALL, loras=[{"path": name, "scale": 1.0}],
                lora_scale=[0, 1])
    try:
        results = c.run(sketch)
    finally:
        c.close()
    assert [r["error"] for r in results] == ["", ""]
    base = pixels(_bytes(lcm, sketch))
    assert np.abs(pixels(results[0]["image"]) - base).max() <= 2
    assert np.abs(pixels(results[1]["image"]) - base).mean() > 1


def test_style_lora_on_a_fused_lcm_lora_model(model_cache: str, loras: list[Path]) -> None:
    """A model loaded the way the LCM-LoRA presets are (a LoRA fused into the UNet, then
    unloaded) takes a style LoRA as an adapter: the fused weights stay, scale 0 is exactly the
    fused model, scale 1 differs."""
    from lcm_widgets.backends.local.loading import load_components
    from lcm_widgets.backends.local.lora import LoraSet
    from lcm_widgets.models.presets import Preset

    c = load_components(Preset("tiny", None, lora=str(loras[1])), device=torch.device("cpu"),
                        dtype=torch.float32, safety_checker=False, vae=None, progress=False)
    unet = c.unet
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    emb = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1))
    w = torch.zeros(1, unet.config.time_cond_proj_dim)

    def run() -> Any:
        with torch.no_grad():
            return unet(x, 500, encoder_hidden_states=emb, timestep_cond=w).sample

    fused = run()
    assert not getattr(unet, "peft_config", None)  # fused and unloaded: no adapter left
    ls = LoraSet(c.pipe, base="tiny + LCM-LoRA")
    name = ls.load(loras[0])
    ls.apply([(name, 0.0)], allow_new=False)
    assert torch.equal(run(), fused)
    ls.apply([(name, 1.0)], allow_new=False)
    assert (run() - fused).abs().mean() > 1e-3


def test_load_lora_scale_out_of_range(lm: LocalLCM, loras: list[Path]) -> None:
    """load_lora(scale=9): the request rule's error (field, range, value); nothing loaded."""
    before = lm.load_counts["lora"]
    with pytest.raises(InvalidInput, match=r"loras\.0\.scale: must be between 0\.0 and 4\.0, "
                                           r"got 9"):
        lm.load_lora(loras[0], scale=9)
    assert lm.load_counts["lora"] == before


def test_lora_with_a_compiled_unet(lm: LocalLCM, model_cache: str, sketch: bytes,
                                   loras: list[Path]) -> None:
    """A LoRA loaded into a fullgraph-compiled UNet (dynamo's eager backend) and switched on
    and off: the same pixels as the uncompiled model."""
    m = LocalLCM("tiny", progress=False, warmup=False, compile_backend="eager")
    name = m.load_lora(loras[0], scale=1.0)
    ref = lm.load_lora(loras[0], activate=False)
    for mine, theirs in (([{"path": name, "scale": 1.0}], [{"path": ref, "scale": 1.0}]),
                         ([], [])):
        got = pixels(_bytes(m, sketch, loras=mine))
        want = pixels(_bytes(lm, sketch, loras=theirs))
        assert np.abs(got - want).max() <= 1
