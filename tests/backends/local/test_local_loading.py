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
    """import lcm_widgets / lcm_widgets.backends.local / lcm_widgets.models loads neither torch
    nor diffusers."""
    proc = run_py("""
        import sys
        import lcm_widgets
        import lcm_widgets.backends.local
        import lcm_widgets.models.tiny, lcm_widgets.models.presets, lcm_widgets.models.arch
        import lcm_widgets.models.scheduler
        from lcm_widgets.backends.local import LocalLCM
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


def test_compile_warmup_logs_instead_of_printing(model_cache: str,
                                                 caplog: pytest.LogCaptureFixture,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """With compile on, warm-up logs the compile notice and the first frame's time at INFO on
    the lcm_widgets logger and prints nothing; its progress bar says it is compiling."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import logging

    from lcm_widgets.backends.local import LocalLCM

    torch._dynamo.reset()
    try:
        lcm = LocalLCM("tiny", compile_backend="eager", warmup=False, progress=False)
        capsys.readouterr()
        with caplog.at_level(logging.INFO, logger="lcm_widgets"):
            lcm.warmup(steps=2)
        messages = [r.getMessage() for r in caplog.records if r.name.startswith("lcm_widgets")]
        assert any("compiling the UNet and VAE with torch.compile(mode='default', "
                   "backend='eager')" in m for m in messages), messages
        assert any(m.startswith("first compiled frame took ") for m in messages), messages
        assert lcm.compile_seconds is not None
        printed = capsys.readouterr()
        assert "compiling" not in printed.out + printed.err
        lcm.progress = True
        lcm.warmup(steps=2)
        assert "lcm-widgets warm-up: compiling" in capsys.readouterr().err
    finally:
        torch._dynamo.reset()


def test_compile_does_not_recompile_when_params_change(model_cache: str) -> None:
    """The UNet compiled as compile= does it, but with dynamo's eager backend (tracing and
    guards without inductor's minutes of code generation): after the first frame, changing
    steps (4 -> 6 -> 8, with strengths giving 2, 3, 4, 7 and 3 UNet calls), strength, seed,
    guidance_scale and prompt, or switching to text-to-image, compiles nothing more, and the
    UNet forward holds exactly one compiled entry. (A new image size or batch size may
    recompile; that is allowed.) Compiled frames equal eager ones.

    Counted with dynamo's global counters and cache entries, not ``error_on_recompile``: dynamo's
    config is thread-local in torch 2.13 and the frames run on LocalLCM's worker thread.
    """
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import numpy as np
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list
    from torch._dynamo.utils import counters

    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.backends.local.reference import final_latents
    from lcm_widgets.images import encode_image

    arr = np.full((128, 128, 3), 255, np.uint8)
    arr[30:90, 20:100] = (30, 90, 200)
    sketch = encode_image(arr, "png")
    base = {"prompt": "a house", "seed": 1, "num_inference_steps": 4,
            "image_size": {"width": 128, "height": 128}}
    i2i = dict(base, image_url=sketch, strength=0.5)
    frames = [i2i,
              dict(i2i, num_inference_steps=6),
              dict(i2i, num_inference_steps=8),
              dict(i2i, num_inference_steps=8, strength=0.9),
              dict(i2i, strength=0.75, seed=9),
              dict(i2i, guidance_scale=3.0),
              dict(i2i, prompt="a boat"),
              base,
              dict(base, num_inference_steps=2, seed=5, guidance_scale=1.5, prompt="a tree")]

    torch._dynamo.reset()
    try:
        lcm = LocalLCM("tiny", compile_backend="eager", warmup=False, progress=False)
        assert (lcm.compile_backend, lcm.compile_mode) == ("eager", "default")
        assert lcm.info.extra["compile_backend"] == "eager"
        unet_code = lcm._c.unet.forward.__code__  # the frame dynamo compiles for the UNet

        def unet_entries() -> int:
            return len(_debug_get_cache_entry_list(unet_code))

        lcm.generate_sync(frames[0])
        graphs = counters["stats"]["unique_graphs"]  # UNet, VAE encoder, VAE decoder
        assert graphs >= 3 and unet_entries() == 1
        for frame in frames[1:]:
            lcm.generate_sync(frame)
            assert (counters["stats"]["unique_graphs"], unet_entries()) == (graphs, 1), frame
        eager = LocalLCM("tiny", warmup=False, progress=False)
        for frame in (frames[3], frames[-1]):
            torch.testing.assert_close(final_latents(lcm, frame), final_latents(eager, frame))
        assert counters["stats"]["unique_graphs"] == graphs
    finally:
        torch._dynamo.reset()


@pytest.mark.gpu
def test_lean_matches_stock_on_cuda(model_cache: str) -> None:
    """On CUDA fp16 the lean loop matches the stock pipeline (full-size SD1.5-LCM if the
    bench's random architecture builder exists, else tiny)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device; torch sees none")
    import numpy as np

    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.backends.local.reference import final_latents
    from lcm_widgets.images import encode_image

    try:
        from lcm_widgets.models.arch import ensure_arch
    except ImportError:
        model = "tiny"
    else:
        model = str(ensure_arch("sd15", "float16", device="cuda"))
    lcm = LocalLCM(model, device="cuda", dtype="float16", compile=False, progress=False)
    sketch = encode_image(np.full((512, 512, 3), 200, np.uint8), "png")
    for inp in ({"prompt": "a cat", "seed": 3, "num_inference_steps": 4},
                {"prompt": "a cat", "seed": 3, "num_inference_steps": 4, "strength": 0.5,
                 "image_url": sketch}):
        lean = final_latents(lcm, inp).float()
        ref = final_latents(lcm, inp, reference=True).float()
        assert float((lean - ref).norm() / ref.norm()) < 1e-2
