"""The Studio with a ControlNet in real JupyterLab and headless Debian Chromium (Playwright): the
ControlNet selector and scale slider are on the page, and moving the slider in the browser
changes the result (the tiny model with the tiny ControlNet, offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lcm_e2e_harness import (
    chromium,
    jupyter_server,
    kernel_eval,
    page_errors_of_ours,
    write_notebook,
)
from lcm_studio_page import output_hash, shot, start_studio, stroke, until, wait_new_result

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]

CELL = """\
from lcm_widgets import LocalLCM, Studio
model = LocalLCM("tiny", controlnet="tiny-controlnet", progress=False)
studio = Studio(model, prompt="a house by a lake", steps=4, strength=0.5, seed=1234,
                display_size=300)
studio"""


def test_lab_controlnet_scale_slider_changes_the_result(tmp_path: Path, model_cache: str) -> None:
    """A stroke gives a result with the ControlNet on; the scale slider moved to 0 with the
    keyboard in the browser sets the param and gives a different result."""
    nb = "controlnet.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [CELL])
    with jupyter_server(tmp_path, app="lab", notebook=nb) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        box = start_studio(page, server, nb)
        kc = server.kernel_client()
        try:
            assert page.locator(".lcm-control-controlnet select").count() == 1
            options = page.locator(".lcm-control-controlnet option").all_text_contents()
            assert options == ["off", "tiny-controlnet"]
            stroke(page, box, [(0.2, 0.2), (0.8, 0.25), (0.5, 0.8)])
            wait_new_result(page, 0, 180)
            assert kernel_eval(kc, "print(studio.wait(120))").strip() == "True"
            with_controlnet = output_hash(page)
            handle = page.locator(".lcm-control-controlnet-conditioning-scale .noUi-handle")
            handle.focus()
            page.keyboard.press("Home")  # the slider's minimum: scale 0
            until(lambda: kernel_eval(
                kc, "print(studio.params['controlnet_conditioning_scale'])").strip() == "0.0",
                60, "the scale param to follow the slider")
            until(lambda: output_hash(page) != with_controlnet, 180,
                  "the result to change with the scale")
            shot(page, "lab-controlnet-scale-0.png")
        finally:
            kc.stop_channels()
        assert not page_errors_of_ours(errors), errors
