"""``lcm-widgets demo`` starts JupyterLab on the quickstart, on loopback, with no GPU/network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_demo_serves_the_quickstart(tmp_path: Path) -> None:
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "IPYTHONDIR": str(tmp_path / "ipy"),
           "PYTHONPATH": str(REPO)}
    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-m", "lcm_widgets", "demo", "--no-browser",
                             "--port", "0", "--dir", str(work), "--nodelay"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)
    try:
        url = ""
        lines: list[str] = []
        assert proc.stdout is not None
        while not url:
            line = proc.stdout.readline()
            assert line, "demo exited early:\n" + "".join(lines)
            lines.append(line)
            if "open http://127.0.0.1:" in line:
                url = line.split("open ", 1)[1].strip()
        assert (work / "01_quickstart.ipynb").exists()
        base, token = url.split("/lab/")[0], url.split("token=")[1]
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(f"{base}/api/contents/01_quickstart.ipynb",
                                             headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    body = json.loads(resp.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer:\n" + "".join(lines))
                time.sleep(0.3)
        assert body["type"] == "notebook"
        cmdline = Path(f"/proc/{proc.pid}/cmdline")  # demo exec'd JupyterLab: same pid
        if cmdline.exists():  # the token travels in JUPYTER_TOKEN, never in argv (ps)
            argv = cmdline.read_bytes().decode()
            assert "jupyterlab" in argv and token not in argv, argv
        print("demo:", "".join(lines[:3]).strip())
    finally:
        proc.terminate()
        proc.wait(timeout=20)
