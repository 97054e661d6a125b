"""The committed bundle lcm_widgets/static/widget.js is what `npm run build` makes from js/.

The test runs the build script from js/package.json with esbuild, writing to a temp file, and
compares byte for byte. It is skipped only when Node or esbuild (js/node_modules) is missing.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js"
BUNDLE = ROOT / "lcm_widgets" / "static" / "widget.js"
ESBUILD = JS / "node_modules" / ".bin" / "esbuild"


def build_command(outfile: Path) -> list[str]:
    """The `build` script of js/package.json, with its --outfile pointed at ``outfile``."""
    script = json.loads((JS / "package.json").read_text())["scripts"]["build"]
    args = shlex.split(script)
    assert args[0] == "esbuild", f"unexpected build script: {script}"
    out = [a for a in args[1:] if not a.startswith("--outfile=")]
    assert len(out) == len(args) - 2, f"build script has no --outfile: {script}"
    return [str(ESBUILD), *out, f"--outfile={outfile}"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(not ESBUILD.exists(),
                    reason="esbuild is not installed (run `npm install` in js/)")
def test_committed_bundle_is_fresh(tmp_path: Path) -> None:
    """Rebuilding js/ gives exactly the committed bundle (run `cd js && npm run build`)."""
    out = tmp_path / "widget.js"
    subprocess.run(build_command(out), cwd=JS, check=True, capture_output=True, timeout=120)
    assert out.read_bytes() == BUNDLE.read_bytes(), (
        "lcm_widgets/static/widget.js is stale: run `cd js && npm run build` and commit it")


def test_bundle_is_pure_esm_without_remote_imports() -> None:
    """One ESM file with a default export, no UMD probing, no http(s) imports (offline-safe)."""
    text = BUNDLE.read_text()
    assert "export default" in text or "export {" in text
    assert "typeof define" not in text and "require(" not in text
    assert "import(" not in text and 'from "http' not in text
