"""The quickstart notebook runs top to bottom in a real kernel (nbclient), offline."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(tmp_path: Path, model_cache: str) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_backup = dict(os.environ)
    os.environ.update({"HF_HUB_OFFLINE": "1", "LCM_WIDGETS_CACHE": model_cache,
                       "PYTHONPATH": os.pathsep.join(filter(None, [
                           str(NOTEBOOK.parents[1]), os.environ.get("PYTHONPATH")]))})
    t0 = time.monotonic()
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    print(f"quickstart ran in {time.monotonic() - t0:.1f} s")
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                if o.get("output_type") == "error"]
    assert "noise-like" in text or "lcm-dreamshaper-v7" in text
    assert "'max_in_flight': 1" in text and "'max_pending'" in text
    assert "rejected: num_inference_steps: must be between 1 and 50, got 80" in text
    assert (tmp_path / "quickstart-result.png").exists()
