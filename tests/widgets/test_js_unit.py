"""Run the JS front end's checks as part of the pytest run: the pure modules' unit tests
(``node --test js/test``) and the type check (``tsc -p js``: strict, from the JSDoc)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "js"
TSC = JS / "node_modules" / ".bin" / "tsc"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_unit_tests_pass() -> None:
    """Every `node --test` case in js/test passes (pacing, drawing, protocol, stats, status,
    png, history)."""
    proc = subprocess.run(["node", "--test", "test/"], cwd=JS, capture_output=True, text=True,
                          timeout=300)
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith(("# pass", "# fail"))]
    print("\n".join(summary))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# pass 0" not in proc.stdout, "node found no tests"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(not TSC.exists(), reason="typescript is not installed (run `npm ci` in js/)")
def test_typecheck_is_clean() -> None:
    """`tsc -p js --noEmit` (allowJs, checkJs, strict) finds no type error in js/ and js/test."""
    proc = subprocess.run([str(TSC), "-p", ".", "--noEmit"], cwd=JS, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, ("tsc found type errors:\n" + proc.stdout[-8000:]
                                  + proc.stderr[-2000:])
