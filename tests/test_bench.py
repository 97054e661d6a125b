"""The bench helpers: percentiles, summaries, H100/H200 floors, probes and the report tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lcm_widgets.bench.floors import COMPONENTS, FLOOR_SIZE, frame_floor, gpu_kind
from lcm_widgets.bench.report import analyse, format_tables, to_jsonable
from lcm_widgets.bench.runner import FrameSample, SideResult, make_sketches
from lcm_widgets.stats import Summary, percentile, summarize


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([5.0], 0, 5.0),
    ([5.0], 50, 5.0),
    ([5.0], 100, 5.0),
    ([1, 2, 3, 4], 0, 1.0),
    ([1, 2, 3, 4], 100, 4.0),
    ([1, 2, 3, 4], 50, 2.5),
    ([4, 1, 3, 2], 50, 2.5),  # order does not matter
    ([1, 2, 3, 4, 5], 50, 3.0),
    ([1, 2, 3, 4, 5], 25, 2.0),
    ([0, 10], 95, 9.5),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, 9.55),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, 9.1),
    ([2, 2, 2], 95, 2.0),
])
def test_percentile_matches_linear_interpolation(values: list[float], q: float,
                                                 expected: float) -> None:
    """percentile() interpolates linearly between closest ranks, like numpy's default."""
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_agrees_with_numpy() -> None:
    """On an irregular sample, percentile() equals numpy.percentile for several q."""
    np = pytest.importorskip("numpy")
    xs = [3.1, 0.2, 9.9, 4.4, 4.4, 7.0, 1.5, 12.25, 6.0]
    for q in (0, 5, 33.3, 50, 90, 95, 99, 100):
        assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))


@pytest.mark.parametrize(("values", "q", "message"), [
    ([], 50, "at least one sample"),
    ([1.0], -1, "between 0 and 100"),
    ([1.0], 101, "between 0 and 100"),
    ([1.0, math.nan], 50, "NaN"),
])
def test_percentile_rejects_bad_input(values: list[float], q: float, message: str) -> None:
    """Empty samples, q outside [0, 100] and NaNs raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        percentile(values, q)


def test_summarize_and_scale() -> None:
    """summarize() gives n, p50, p95, mean, min, max; scaled() multiplies each statistic."""
    s = summarize([0.001, 0.002, 0.003, 0.004])
    assert s == Summary(n=4, p50=0.0025, p95=pytest.approx(0.00385), mean=0.0025, min=0.001,
                        max=0.004)
    ms = s.scaled(1000)
    assert (ms.n, ms.p50, ms.min, ms.max) == (4, pytest.approx(2.5), 1.0, 4.0)
    assert ms.to_dict()["p95"] == pytest.approx(3.85)


# docs/gpu.md, "Floors": (gpu, arch, evals, taesd, img2img) → (roofline ms, compute ms)
@pytest.mark.parametrize(("gpu", "arch", "evals", "taesd", "img2img", "roofline", "compute"), [
    ("H100", "sd15", 2, False, True, 7.33, 6.63),
    ("H100", "sd15", 2, True, True, 2.98, 2.37),
    ("H100", "sd15", 4, False, True, 9.95, 8.66),
    ("H100", "sd15", 4, True, True, 5.60, 4.40),
    ("H100", "sd15", 4, True, False, 5.42, 4.25),
    ("H200", "sd15", 2, False, True, 6.96, 6.63),
    ("H200", "sd15", 2, True, True, 2.65, 2.37),
    ("H200", "sd15", 4, False, True, 9.26, 8.66),
    ("H200", "sd15", 4, True, True, 4.96, 4.40),
    ("H100", "sdxl", 2, False, True, 37.67, 36.55),
    ("H100", "sdxl", 2, True, True, 19.22, 18.45),
    ("H100", "sdxl", 4, True, True, 36.98, 35.57),
    ("H200", "sdxl", 2, False, True, 37.17, 36.55),
    ("H200", "sdxl", 2, True, True, 18.90, 18.45),
])
def test_frame_floor_reproduces_perf_md(gpu: str, arch: str, evals: int, taesd: bool,
                                        img2img: bool, roofline: float, compute: float) -> None:
    """Summing the per-component floors gives the per-frame floors of docs/gpu.md, "Floors"."""
    f = frame_floor(gpu, arch, evals=evals, taesd=taesd, img2img=img2img,
                    size=FLOOR_SIZE[arch])
    assert f is not None
    assert f.roofline_ms == pytest.approx(roofline, abs=0.011)
    assert f.compute_ms == pytest.approx(compute, abs=0.011)


@pytest.mark.parametrize(("gpu", "arch", "size"), [
    (None, "sd15", 512),      # not a GPU run
    ("A100", "sd15", 512),    # no floors for other GPUs
    ("H100", None, 512),      # tiny / unknown model
    ("H100", "tiny", 512),
    ("H100", "sd15", 768),    # counted at 512 only
    ("H100", "sdxl", 512),    # counted at 1024 only
])
def test_frame_floor_is_none_without_numbers(gpu: str | None, arch: str | None,
                                             size: int) -> None:
    """Where docs/gpu.md has no counts, there is no floor (never an extrapolated one)."""
    assert frame_floor(gpu, arch, evals=2, taesd=False, img2img=True, size=size) is None


def test_frame_floor_constants_are_consistent() -> None:
    """Every component has both GPUs, and no roofline is below its own compute time."""
    for (arch, part), comp in COMPONENTS.items():
        assert set(comp.roofline_ms) == {"H100", "H200"}, (arch, part)
        for ms in comp.roofline_ms.values():
            assert ms >= comp.gflop / 790.0 * 0.999, (arch, part)


@pytest.mark.parametrize(("name", "kind"), [
    ("NVIDIA H100 80GB HBM3", "H100"),
    ("NVIDIA H100 PCIe", "H100"),
    ("NVIDIA H200", "H200"),
    ("NVIDIA H200 NVL", "H200"),
    ("NVIDIA A100-SXM4-80GB", None),
    ("NVIDIA GeForce RTX 4090", None),
    ("", None),
    (None, None),
])
def test_gpu_kind(name: str | None, kind: str | None) -> None:
    """The floor table is picked from the CUDA device name."""
    assert gpu_kind(name) == kind


def test_probes_time_and_restore_methods() -> None:
    """Probes count and time wrapped calls inside the block and leave the object as it was."""
    torch = pytest.importorskip("torch")
    from lcm_widgets.bench.probes import ModelProbes, ProbeTarget

    lin = torch.nn.Linear(4, 4)

    class Vae:
        def decode(self, x: object) -> object:
            return x

    vae = Vae()
    probes = ModelProbes([ProbeTarget("unet", lin, "forward"),
                          ProbeTarget("vae_decode", vae, "decode"),
                          ProbeTarget("text_encoder", None, "forward")])
    with probes.installed():
        probes.start_frame()
        lin(torch.zeros(1, 4))
        lin(torch.zeros(1, 4))
        assert vae.decode(3) == 3
        wall, gpu, calls = probes.end_frame()
    assert calls == {"unet": 2, "vae_decode": 1}
    assert set(wall) == {"unet", "vae_decode"} and all(v >= 0 for v in wall.values())
    assert gpu == {}
    assert "forward" not in lin.__dict__ and "decode" not in vae.__dict__
    probes.start_frame()
    lin(torch.zeros(1, 4))
    assert probes.end_frame()[2] == {}


def test_probes_restore_on_error() -> None:
    """A failing frame still restores the wrapped methods."""
    from lcm_widgets.bench.probes import ModelProbes, ProbeTarget

    class Model:
        def forward(self) -> None:
            raise RuntimeError("boom")

    m = Model()
    with pytest.raises(RuntimeError, match="boom"), ModelProbes(
            [ProbeTarget("unet", m, "forward")]).installed():
        m.forward()
    assert "forward" not in m.__dict__


def test_make_sketches_are_distinct_jpegs() -> None:
    """Sketch frames are JPEGs of the asked size and every frame differs from the last."""
    import io

    from PIL import Image

    frames = make_sketches(4, 128)
    assert len(set(frames)) == 4
    for f in frames:
        assert f[:3] == b"\xff\xd8\xff"
        assert Image.open(io.BytesIO(f)).size == (128, 128)
    assert make_sketches(4, 128) == frames  # seeded


def _side(name: str, wall: float, unet: float, calls: int = 2) -> SideResult:
    frames = [FrameSample(wall=wall * k, timings={"decode": 0.001, "encode_output": 0.001,
                                                  "total": wall * k},
                          model_wall={"unet": unet * k, "vae_decode": 0.002},
                          model_gpu={}, calls={"unet": calls, "vae_decode": 1}, out_bytes=2048)
              for k in (1.0, 1.1, 0.9)]
    return SideResult(name, frames)


def test_analyse_and_tables() -> None:
    """The report computes the ratio and the outside-model time and prints every row."""
    res = analyse(_side("ours", 0.010, 0.005), _side("stock", 0.030, 0.020), cuda=False,
                  floor=None)
    assert res["ratio"]["p50"] == pytest.approx(3.0)
    assert res["unet_evals_match"] is True
    assert res["ours"]["outside_model_ms"].p50 == pytest.approx(3.0)  # 10 - 5 - 2
    assert res["ours"]["outside_model_excl_codec_ms"].p50 == pytest.approx(1.0)
    assert res["ours"]["codec_ms"].p50 == pytest.approx(2.0)
    text = format_tables(res, title="t")
    for row in ("| model compute p50, ms (UNet + VAE + text encoder) | 7.00 | 22.00 |",
                "| outside model p50, ms (ms/frame - model compute) | 3.00 | 8.00 |",
                "| - JPEG codec p50, ms (decode + encode output) | 2.00 |",
                "| - the rest p50, ms (outside model excl. JPEG codec) | 1.00 |",
                "| target: outside model <= 2 ms p50 | not met (3.00) |",
                "| not the target: outside model excl. JPEG codec <= 2 ms p50 | met (1.00) |"):
        assert row in text, row
    for row in ("| decode |", "| encode prompt |", "| encode image |", "| denoise |",
                "| VAE decode |", "| encode output |", "| total |", "| UNet (calls 2/2) |",
                "| outside model |", "| ms/frame p50 | 10.00 | 30.00 | 3.00x |", "| fps |"):
        assert row in text, row
    assert text.rstrip().endswith("| UNet evals/frame | 2 | 2 |  |")
    assert to_jsonable(res)["ours"]["ms_per_frame"]["p50"] == pytest.approx(10.0)


def test_analyse_with_floor() -> None:
    """With a floor, the summary shows the floor and how many times above it each side is."""
    floor = frame_floor("H100", "sd15", evals=2, taesd=True, img2img=True, size=512)
    res = analyse(_side("ours", 0.010, 0.005), None, cuda=False, floor=floor)
    assert res["x_floor"]["ours"]["ms_per_frame_p50"] == pytest.approx(10.0 / 2.982)
    text = format_tables(res)
    assert "floor H100 (2 evals, TAESD), ms | 2.98" in text
    assert "stock" not in text


def test_collect_makes_one_row_per_json(tmp_path: Path) -> None:
    """collect() turns bench JSON files into one markdown row each and skips other files."""
    from lcm_widgets.bench.collect import COLUMNS, collect

    floor = frame_floor("H100", "sd15", evals=2, taesd=True, img2img=True, size=512)
    res = analyse(_side("ours", 0.010, 0.005), _side("stock", 0.030, 0.020), cuda=False,
                  floor=floor)
    data = {"config": {"arch": "sd15", "size": 512, "taesd": True, "compile_mode": None,
                       "dtype": "float16"},
            "environment": {"gpu": "NVIDIA H100 80GB HBM3", "torch": "2.13", "date": "d"},
            **to_jsonable(res)}
    (tmp_path / "sd15-taesd-eager.json").write_text(json.dumps(data))
    (tmp_path / "env.json").write_text("{}")
    (tmp_path / "broken.json").write_text("{")
    text = collect(tmp_path)
    lines = text.splitlines()
    assert lines[0].startswith("NVIDIA H100 80GB HBM3, torch 2.13")
    assert lines[2].count("|") == len(COLUMNS) + 1
    assert len([x for x in lines if x.startswith("| sd15-taesd-eager")]) == 1
    row = lines[4]
    assert "| sd15 | 512 | TAESD | off | float16 | 10.00 |" in row
    assert "| 3.00x |" in row and "| 2.98 | 3.4x |" in row


def test_codec_floor_times_both_codecs(monkeypatch: pytest.MonkeyPatch) -> None:
    """codec_floor times decode and encode per frame with simplejpeg and Pillow (Pillow only
    when the fast path is off) and refuses unpaired inputs."""
    from lcm_widgets import _jpeg
    from lcm_widgets.bench.codec import codec_floor

    frames = make_sketches(3, 64)
    res = codec_floor(frames, frames, quality=90, repeats=2)
    assert set(res) == {"fast", "pillow"}
    for c in res.values():
        assert c["decode"].n == c["encode"].n == c["total"].n == 3
        assert c["decode"].p50 > 0 and c["encode"].p50 > 0
        assert c["total"].min >= c["decode"].min
    with pytest.raises(ValueError, match="need one output per frame, got 3 frames and 2"):
        codec_floor(frames, frames[:2], quality=90)
    monkeypatch.setattr(_jpeg, "_sj", None)
    assert set(codec_floor(frames[:1], frames[:1], quality=90, repeats=1)) == {"pillow"}
