"""Run the pure JS modules' unit tests (``node --test js/test``) as part of the pytest run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "js"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_unit_tests_pass() -> None:
    """Every `node --test` case in js/test passes (credit pacing, drawing, protocol, status)."""
    proc = subprocess.run(["node", "--test", "test/"], cwd=JS, capture_output=True, text=True,
                          timeout=300)
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith(("# pass", "# fail"))]
    print("\n".join(summary))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# pass 0" not in proc.stdout, "node found no tests"
