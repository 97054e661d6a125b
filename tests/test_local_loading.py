"""Loading: lazy imports, missing dependencies, offline errors, compile, and a CUDA check."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from lcm_widgets.errors import BackendUnavailable, ModelLoadError


def run_py(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def test_import_local_does_not_import_torch() -> None:
    """import lcm_widgets / lcm_widgets.backends.local loads neither torch nor diffusers."""
    proc = run_py("""
        import sys
        import lcm_widgets
        import lcm_widgets.backends.local
        import lcm_widgets.backends.tiny, lcm_widgets.backends.presets
        import lcm_widgets.commands.generate
        lcm_widgets.LocalLCM
        bad = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
        print("loaded:", bad)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "loaded: []" in proc.stdout


def test_missing_diffusers_gives_backend_unavailable() -> None:
    """With diffusers unimportable, LocalLCM raises BackendUnavailable with the pip hint."""
    proc = run_py("""
        import sys
        sys.modules["diffusers"] = None  # makes `import diffusers` raise ImportError
        from lcm_widgets.backends.local import LocalLCM
        from lcm_widgets.errors import BackendUnavailable
        try:
            LocalLCM("tiny")
        except BackendUnavailable as exc:
            assert isinstance(exc, ImportError)
            print("MESSAGE:", exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "lcm-widgets[local]"' in proc.stdout
    assert "diffusers" in proc.stdout


def test_offline_missing_model_gives_model_load_error(model_cache: str) -> None:
    """An id that is not cached, with HF_HUB_OFFLINE=1, says how to get it."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM

    with pytest.raises(ModelLoadError) as e:
        LocalLCM("lcm-widgets-tests/not-a-real-model", warmup=False, progress=False)
    msg = str(e.value)
    assert "'lcm-widgets-tests/not-a-real-model'" in msg and "HF_HUB_OFFLINE" in msg
    assert "hf download" in msg


def test_folder_that_is_not_a_pipeline(tmp_path: object, model_cache: str) -> None:
    """A local folder without model_index.json is a ModelLoadError naming it."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM

    folder = os.path.join(str(tmp_path), "empty")
    os.makedirs(folder)
    with pytest.raises(ModelLoadError, match="could not load"):
        LocalLCM(folder, warmup=False, progress=False)


def test_lora_preset_without_peft_or_weights(model_cache: str) -> None:
    """LCM-LoRA presets fail clearly offline: missing weights or missing peft."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM

    with pytest.raises((ModelLoadError, BackendUnavailable), match="runwayml"):
        LocalLCM("runwayml/stable-diffusion-v1-5", device="cpu", warmup=False, progress=False)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("LCM_WIDGETS_SLOW_TESTS"),
                    reason="inductor compiles the tiny UNet+VAE on CPU for minutes; "
                           "set LCM_WIDGETS_SLOW_TESTS=1 to run")
def test_compile_on_cpu_works_or_fails_clearly(model_cache: str) -> None:
    """compile=True on CPU either runs the tiny model or raises a ModelLoadError saying so."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM

    try:
        lcm = LocalLCM("tiny", compile=True, progress=False, warmup=True)
    except ModelLoadError as exc:
        assert "compile" in str(exc) and "compile=False" in str(exc)
        return
    assert lcm.compile_mode == "default" and lcm.compile_seconds is not None
    out = lcm.generate_sync({"prompt": "x", "seed": 1, "num_inference_steps": 2})
    eager = LocalLCM("tiny", warmup=False, progress=False).generate_sync(
        {"prompt": "x", "seed": 1, "num_inference_steps": 2, "format": "png"})
    assert out.images[0].width == eager.images[0].width == 512


@pytest.mark.gpu
def test_lean_matches_stock_on_cuda(model_cache: str) -> None:
    """On CUDA fp16 the lean loop matches the stock pipeline (full-size SD1.5-LCM if the
    bench's random architecture builder exists, else tiny)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device; torch sees none")
    import numpy as np

    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.images import encode_image

    try:
        from lcm_widgets.backends._arch import ensure_arch
    except ImportError:
        model = "tiny"
    else:
        model = str(ensure_arch("sd15", "float16", device="cuda"))
    lcm = LocalLCM(model, device="cuda", dtype="float16", compile=False, progress=False)
    sketch = encode_image(np.full((512, 512, 3), 200, np.uint8), "png")
    for inp in ({"prompt": "a cat", "seed": 3, "num_inference_steps": 4},
                {"prompt": "a cat", "seed": 3, "num_inference_steps": 4, "strength": 0.5,
                 "image_url": sketch}):
        lean = lcm.denoise_latents(inp).float()
        ref = lcm.denoise_latents(inp, reference=True).float()
        assert float((lean - ref).norm() / ref.norm()) < 1e-2
