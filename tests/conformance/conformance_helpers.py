"""Helpers for the conformance tests: servers for the official clients, and node runs."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.schema import Input, Output

KEY = "conformance-id:conformance-secret"
APP = "fal-ai/fast-lcm-diffusion"
ROOT = Path(__file__).resolve().parents[2]
JS_DIR = Path(__file__).resolve().parent / "js"


def jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    """A small JPEG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (20, 120, 220)).save(buf, "JPEG")
    return buf.getvalue()


class HoldSlowEcho(EchoBackend):
    """Echo that holds requests whose prompt is ``"slow"`` until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def generate(self, inp: Input) -> Output:
        if inp.prompt == "slow":
            await asyncio.to_thread(self.release.wait, 60)
        return await super().generate(inp)


def node_available() -> bool:
    """Node and the js/node_modules the lead installs with ``npm ci``."""
    return shutil.which("node") is not None and (
        ROOT / "js" / "node_modules" / "@fal-ai" / "client").is_dir() and (
        ROOT / "js" / "node_modules" / "ws").is_dir()


def run_node(script: str, port: int, timeout: float = 120) -> dict[str, Any]:
    """Run ``tests/conformance/js/<script>`` against ``port``; returns the JSON it printed."""
    if not node_available():
        pytest.skip("node or js/node_modules (@fal-ai/client, ws) missing; run npm ci in js/")
    env = {**os.environ, "LCMW_PORT": str(port), "LCMW_KEY": KEY,
           "LCMW_JPEG_B64": base64.b64encode(jpeg()).decode()}
    proc = subprocess.run(["node", str(JS_DIR / script)], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=JS_DIR)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr}\n{proc.stdout}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"{script} printed no JSON:\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result
