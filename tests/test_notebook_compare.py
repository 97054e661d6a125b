"""notebooks/02_compare.ipynb runs top to bottom on the tiny model (nbclient, offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_compare.ipynb"


@pytest.mark.slow
def test_compare_notebook_runs(model_cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cell of the Compare notebook executes: 3x3 sweep, table, plot, adopt, A/B."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("torch", reason="the notebook runs LocalLCM('tiny')")
    pytest.importorskip("pandas", reason="the notebook shows compare.to_dataframe()")
    pytest.importorskip("matplotlib", reason="the notebook shows compare.plot_latency()")
    for var in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LCM_WIDGETS_CACHE", model_cache)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs")
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "\n".join(o.get("text", "") for o in outputs)
    assert "9 cells, 8 images" in text
    assert "int(2 * 0.3) = 0" in text
    assert "Studio now: {'num_inference_steps': 8, 'strength': 0.5}" in text
    assert "model calls per grid-frame: 2" in text  # 9 cells, LocalLCM max_batch=8
    assert "closed" in text
    import importlib.util

    if importlib.util.find_spec("lcm_widgets.server") and importlib.util.find_spec("websockets"):
        assert "server up on port" in text  # the A/B really went through our server
    else:
        assert "comparing two local configurations" in text
    mimes = {m for o in outputs for m in o.get("data", {})}
    assert {"image/png", "text/html", "application/vnd.jupyter.widget-view+json"} <= mimes
    html = "\n".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    assert "latency_ms" in html and "strength=0.5" in html
