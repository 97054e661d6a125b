"""Batched grid cells equal unbatched ones: LocalLCM("tiny") on CPU, same seeds."""

from __future__ import annotations

import io
from typing import Any

import pytest

pytest.importorskip("torch", reason="LocalLCM needs torch (pip install 'lcm-widgets[local]')")
pytest.importorskip("diffusers", reason="LocalLCM needs diffusers")
import numpy as np
from PIL import Image

from lcm_widgets.backends import local
from lcm_widgets.runtime.loop import run_sync
from lcm_widgets.schema import Input
from lcm_widgets.sweep import expand, plan_batches, validate_cells

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(model_cache: str) -> Any:
    backend = local.LocalLCM("tiny", device="cpu", progress=False, warmup=False, max_batch=8)
    yield backend
    run_sync(backend.aclose())


def _source() -> bytes:
    """A 128x128 drawing: small, so tiny runs quickly on two CPU cores."""
    img = Image.new("RGB", (128, 128), "white")
    img.paste((200, 40, 40), (20, 20, 90, 100))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_batched_cells_equal_unbatched_cells_with_the_same_seed(tiny: Any) -> None:
    """The planner batches seed x guidance; each batched image equals its own single call."""
    sweep = expand({"seed": [3, 4], "guidance": [1.0, 2.5]}, backend=tiny)
    base = {"prompt": "a red square", "num_inference_steps": 4, "strength": 0.5,
            "format": "png"}
    checked = validate_cells(sweep, base, image=_source())
    plan = plan_batches(sweep.cells, checked, [tiny.info])
    assert [g.cells for g in plan] == [(0, 1, 2, 3)]  # one call for the whole grid
    inputs = [c for c in checked if isinstance(c, Input)]
    batched = run_sync(tiny.generate_batch(inputs))
    for inp, out in zip(inputs, batched, strict=True):
        single = run_sync(tiny.generate(inp))
        assert out.seed == single.seed == inp.seed
        a, b = _pixels(out.images[0].data()), _pixels(single.images[0].data())
        assert a.shape == b.shape == (128, 128, 3)
        # fp32 on CPU: batched convolutions may round differently by one 8-bit level.
        assert int(np.abs(a - b).max()) <= 2
    # Different seeds and guidance really give different images (the test can fail).
    assert np.abs(_pixels(batched[0].images[0].data()) -
                  _pixels(batched[3].images[0].data())).max() > 2


def test_compare_grid_on_tiny_uses_one_batch_and_matches_single_calls(tiny: Any) -> None:
    """Compare runs the 2x2 grid as one generate_batch call; each cell equals a single call."""
    pytest.importorskip("ipywidgets")
    from lcm_widgets.widgets.compare import Compare

    c = Compare(backend=tiny, sketchpad=False, prompt="a red square", steps=4, strength=0.5,
                format="png", seed=[3, 4], guidance=[1.0, 2.5])
    try:
        results = c.run(_source(), timeout=600)
    finally:
        c.close()
    assert [r["batch_size"] for r in results] == [4, 4, 4, 4]
    assert all(not r["error"] for r in results)
    for r in results:
        inp = Input(prompt="a red square", num_inference_steps=4, strength=0.5, format="png",
                    seed=r["params"]["seed"], guidance_scale=r["params"]["guidance_scale"],
                    image_url=c.source)
        single = run_sync(tiny.generate(inp))
        diff = np.abs(_pixels(r["image"]) - _pixels(single.images[0].data())).max()
        assert int(diff) <= 2, r["label"]


def test_bench_compare_command_prints_both_modes_and_the_ratio(
        tiny: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """``lcm-widgets bench-compare`` runs both modes in one run and prints their ratio."""
    from lcm_widgets.cli import main

    assert main(["bench-compare", "--frames", "1", "--warmup", "0", "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert "| batched | 1 |" in out and "| cell by cell | 9 |" in out
    assert "batched / cell-by-cell grid-frames per second: **" in out
    assert "largest pixel difference between the modes' images" in out
