"""``lcm-widgets bench`` end to end on the tiny model (no timing thresholds: shapes only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lcm_widgets import cli

pytest.importorskip("diffusers")


def test_bench_tiny_prints_tables_and_writes_json(
        model_cache: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real 3-frame run prints every stage row, the model/outside split and a stock/ours
    ratio, and the JSON holds the same numbers."""
    out_json = tmp_path / "bench.json"
    rc = cli.main(["bench", "--model", "tiny", "--frames", "3", "--warmup", "1",
                   "--device", "cpu", "--quiet", "--json", str(out_json)])
    assert rc == 0
    text = capsys.readouterr().out
    for row in ("| decode |", "| encode prompt |", "| encode image |", "| denoise |",
                "| VAE decode |", "| encode output |", "| total |", "| model total |",
                "| outside model |", "| ms/frame p50 |", "| ms/frame p95 |", "| fps |",
                "| outside model p50, ms (ms/frame - model compute) |",
                "| - JPEG codec p50, ms (decode + encode output) |",
                "| - the rest p50, ms (outside model excl. JPEG codec) |",
                "| target: outside model <= 2 ms p50 |", "| UNet evals/frame | 2 | 2 |  |"):
        assert row in text, row
    summary = text[text.index("\nsummary\n"):]
    ratio_row = next(line for line in summary.splitlines() if line.startswith("| ms/frame p50"))
    ratio = float(ratio_row.rstrip(" |").rsplit("|", 1)[1].strip().rstrip("x"))
    assert ratio > 0
    data = json.loads(out_json.read_text())
    assert data["ours"]["frames"] == data["stock"]["frames"] == 3
    assert data["ratio"]["p50"] == pytest.approx(ratio, abs=0.006)
    assert data["unet_evals_match"] is True
    assert data["ours"]["calls_per_frame"]["text_encoder"] == [0]  # prompt cached
    assert data["stock"]["calls_per_frame"]["text_encoder"] == [1]
    assert set(data["ours"]["stages_ms"]) == {"decode", "encode_prompt", "encode_image",
                                              "denoise", "decode_latents", "encode_output",
                                              "total"}
    assert data["config"]["model"] == "tiny" and data["environment"]["torch"]
    assert data["config"]["sketch_quality"] == 85  # the Sketchpad's default
    assert set(data["codec_alone_ms"]) == {"fast", "pillow"}
    assert data["codec_alone_ms"]["fast"]["total"]["n"] == 3
    assert "| simplejpeg (what LocalLCM uses) |" in text and "| Pillow |" in text
    assert "floor" not in data  # CPU: no floor


def test_bench_sdxl_arch_on_cpu_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--arch sdxl without CUDA stops before building anything, saying why."""
    rc = cli.main(["bench", "--arch", "sdxl", "--device", "cpu", "--quiet"])
    assert rc == 1
    assert "--arch sdxl: needs --device cuda" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--frames", "0"], "--frames: must be at least 1"),
    (["--size", "100"], "--size: must be a multiple of 8"),
    (["--sketch-quality", "0"], "--sketch-quality: must be between 1 and 100, got 0"),
])
def test_bench_bad_arguments(args: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """Bad counts and sizes are reported before loading any model."""
    assert cli.main(["bench", "--device", "cpu", "--quiet", *args]) == 1
    assert message in capsys.readouterr().err


def test_bench_controlnet_and_lora_print_the_extra_cost(
        model_cache: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--controlnet and --lora time the same frames plain and with each, in one run: a row per
    side in the printed table and in the JSON (shapes only, no timing threshold)."""
    pytest.importorskip("peft")
    out_json = tmp_path / "bench.json"
    rc = cli.main(["bench", "--model", "tiny", "--frames", "2", "--warmup", "0", "--size", "128",
                   "--device", "cpu", "--quiet", "--no-stock", "--controlnet", "tiny-controlnet",
                   "--lora", "tiny", "--json", str(out_json)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "extra cost per frame" in text
    for row in ("| plain |", "| + controlnet tiny-controlnet |", "| + lora tiny |"):
        assert row in text, row
    extra = json.loads(out_json.read_text())["extra_cost"]
    assert set(extra) == {"plain", "+ controlnet tiny-controlnet", "+ lora tiny"}
    assert extra["plain"]["n"] == extra["+ lora tiny"]["n"] == 2
    assert extra["+ lora tiny"]["extra_ms_p50"] == pytest.approx(
        extra["+ lora tiny"]["p50"] - extra["plain"]["p50"])
