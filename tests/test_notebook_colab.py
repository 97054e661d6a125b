"""notebooks/04_colab.ipynb runs top to bottom outside Colab (its Colab-only calls guarded):
the tiny model on CPU, a result from code and a timelapse GIF, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_colab.ipynb"


@pytest.mark.slow
def test_colab_notebook_runs_outside_colab(model_cache: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("diffusers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LCM_WIDGETS_CACHE", model_cache)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the CPU path, as on CI, on any machine
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs")
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert '%pip install -q "lcm-widgets[local,remote]"' in sources
    assert "enable_custom_widget_manager()" in sources and 'userdata.get("FAL_KEY")' in sources
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    assert "not on Colab" in text and "no CUDA GPU, CPU only" in text
    assert "tiny" in text  # the backend info printed: the tiny model, no GPU or key here
    assert "timelapse: colab-session.gif 1 picture(s)" in text
    assert (tmp_path / "colab-session.gif").stat().st_size > 0
