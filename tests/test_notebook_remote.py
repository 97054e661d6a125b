"""notebooks/03_remote_server.ipynb runs top to bottom (server subprocess, tiny model, offline)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_remote_server.ipynb"


@pytest.mark.slow
def test_remote_server_notebook_runs(model_cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cell of the remote-server notebook executes without an error, fal.ai skipped."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    for var in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LCM_WIDGETS_CACHE", model_cache)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs")
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    assert "server up at" in text and "round trip p50" in text
    assert "FAL_KEY is not set" in text and "server stopped" in text
    assert os.environ.get("FAL_KEY") is None
