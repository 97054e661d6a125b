"""``lcm-widgets generate`` and ``lcm-widgets doctor``."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lcm_widgets.cli import main

pytest.importorskip("diffusers")


def test_generate_txt2img_writes_jpeg(tmp_path: Path, model_cache: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """generate --model tiny writes a 512x512 JPEG and prints the seed and timings."""
    out = tmp_path / "out.jpg"
    rc = main(["generate", "--prompt", "a red house", "--model", "tiny", "--seed", "5",
               "--steps", "2", "--device", "cpu", "-q", "-o", str(out)])
    assert rc == 0
    img = Image.open(out)
    assert img.format == "JPEG" and img.size == (512, 512)
    text = capsys.readouterr().out
    assert "seed: 5" in text and "denoise" in text and "total" in text


def test_generate_img2img_several_images(tmp_path: Path, model_cache: str) -> None:
    """--image and --num-images 2 write out-0.png and out-1.png at the requested size."""
    sketch = tmp_path / "sketch.png"
    Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(sketch)
    out = tmp_path / "out.png"
    rc = main(["generate", "--prompt", "a boat", "--model", "tiny", "--image", str(sketch),
               "--strength", "0.5", "--steps", "4", "--num-images", "2", "--size", "256x192",
               "-q", "-o", str(out)])
    assert rc == 0
    a, b = (tmp_path / "out-0.png").read_bytes(), (tmp_path / "out-1.png").read_bytes()
    assert a != b
    img = Image.open(io.BytesIO(a))
    assert img.format == "PNG" and img.size == (256, 192)


def test_generate_bad_input_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A schema error is reported on stderr before any model is loaded; exit status 1."""
    sketch = tmp_path / "s.png"
    Image.new("RGB", (64, 64)).save(sketch)
    rc = main(["generate", "--prompt", "x", "--model", "tiny", "--image", str(sketch),
               "--steps", "1", "--strength", "0.5", "-o", str(tmp_path / "o.jpg")])
    assert rc == 1
    assert "num_inference_steps * strength" in capsys.readouterr().err
    rc = main(["generate", "--prompt", "x", "--image", str(tmp_path / "missing.png")])
    assert rc == 1
    assert "--image: cannot read" in capsys.readouterr().err


def test_cli_entry_point_generate_and_doctor(tmp_path: Path, model_cache: str) -> None:
    """The installed lcm-widgets script runs generate and doctor (exit 0, mentions torch)."""
    env = {**os.environ, "LCM_WIDGETS_CACHE": model_cache}
    out = tmp_path / "x.jpg"
    gen = subprocess.run(["lcm-widgets", "generate", "--prompt", "x", "--model", "tiny",
                          "--steps", "1", "-q", "-o", str(out)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert gen.returncode == 0, gen.stderr
    assert Image.open(out).size == (512, 512)
    doc = subprocess.run(["lcm-widgets", "doctor"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert doc.returncode == 0, doc.stderr
    assert "torch" in doc.stdout and "local: usable" in doc.stdout
    assert "CUDA:" in doc.stdout and "server:" in doc.stdout and "realtime:" in doc.stdout
    assert "JPEG codec for frames: simplejpeg" in doc.stdout
