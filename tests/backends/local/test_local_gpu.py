"""LocalLCM on a CUDA device: the checks ``scripts/gpu_check.sh`` runs on the GPU host.

Every test is marked ``gpu`` and skips where torch sees no CUDA device. They use the full-size
SD1.5 architecture with random weights (``lcm_widgets.models.arch``, built on the GPU), in fp16,
so the kernels do the real work; ``tests/backends/local/test_local_loading.py`` holds the full
VAE parity check.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.gpu

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():  # pragma: no cover - the CPU suite
    pytest.skip("needs a CUDA device; torch sees none", allow_module_level=True)


@pytest.fixture(scope="module")
def sd15(model_cache: str) -> str:
    from lcm_widgets.models.arch import ensure_arch

    return str(ensure_arch("sd15", "float16", device="cuda"))


def sketch() -> bytes:
    import numpy as np

    from lcm_widgets.images import encode_image

    arr = np.full((512, 512, 3), 230, np.uint8)
    arr[128:384, 96:416] = (40, 90, 200)
    return encode_image(arr, "jpeg", quality=90)


def frame(**kw: Any) -> dict[str, Any]:
    return {"prompt": "a cat", "seed": 3, "num_inference_steps": 4, "strength": 0.5,
            "image_url": sketch(), **kw}


def test_lean_matches_stock_with_taesd_on_cuda(sd15: str) -> None:
    """With TAESD in fp16 the lean loop's final latents match the stock pipeline's (rel. L2
    < 1e-2), image-to-image and text-to-image."""
    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.backends.local.reference import final_latents

    lcm = LocalLCM(sd15, device="cuda", dtype="float16", vae="taesd", compile=False,
                   progress=False, warmup=False)
    for inp in (frame(), {"prompt": "a cat", "seed": 3, "num_inference_steps": 4}):
        lean = final_latents(lcm, inp).float()
        ref = final_latents(lcm, inp, reference=True).float()
        assert float((lean - ref).norm() / ref.norm()) < 1e-2


def test_no_recompile_on_cuda_when_params_change(sd15: str) -> None:
    """Compiled on CUDA (dynamo's graph capture and guards), the UNet is captured once: steps,
    strength, seed, guidance, prompt and img2img vs txt2img change no guard."""
    from torch._dynamo.utils import counters

    from lcm_widgets.backends.local import LocalLCM

    torch._dynamo.reset()
    counters.clear()
    try:
        lcm = LocalLCM(sd15, device="cuda", dtype="float16", compile_backend="eager",
                       progress=False, warmup=False)
        frames = [frame(), frame(num_inference_steps=6), frame(strength=0.8),
                  frame(seed=9, guidance_scale=2.0), frame(prompt="a dog"),
                  {"prompt": "a cat", "seed": 3, "num_inference_steps": 4}]
        lcm.generate_sync(frames[0])
        graphs = counters["stats"]["unique_graphs"]
        for f in frames[1:]:
            lcm.generate_sync(f)
            assert counters["stats"]["unique_graphs"] == graphs, f
    finally:
        torch._dynamo.reset()


def test_pinned_transfers_on_cuda(sd15: str) -> None:
    """On CUDA the uint8 frames cross through page-locked buffers, reused frame after frame,
    and the image is the one plain pageable copies give (PNG, so no JPEG rounding hides a
    difference: at most one 8-bit level apart)."""
    import io

    import numpy as np
    from PIL import Image

    from lcm_widgets.backends.local import LocalLCM

    def pixels(data: bytes) -> Any:
        return np.asarray(Image.open(io.BytesIO(data)), dtype=np.int16)

    lcm = LocalLCM(sd15, device="cuda", dtype="float16", compile=False, progress=False,
                   warmup=False)
    pinned = lcm._pinned
    assert pinned is not None
    first = lcm.generate_sync(frame(format="png")).images[0].data()
    held = pinned.buffers()
    assert len(held) == 2 and all(b.is_pinned() for b in held)
    lcm.generate_sync(frame(format="png"))
    assert [b.data_ptr() for b in pinned.buffers()] == [b.data_ptr() for b in held]
    lcm._pinned = None  # plain pageable copies
    try:
        plain = lcm.generate_sync(frame(format="png")).images[0].data()
    finally:
        lcm._pinned = pinned
    assert int(np.abs(pixels(first) - pixels(plain)).max()) <= 1
