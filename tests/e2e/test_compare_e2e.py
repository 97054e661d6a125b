"""Compare in a real JupyterLab, in headless Debian Chromium (Playwright): draw on the canvas,
all nine cells of a 3x3 steps x strength grid update, their captions show the swept values
whole inside the cell, a cell's button sets the Studio's steps and strength, and a value typed into a header slider's readout re-renders that column. Saves ``test-artifacts/compare-jupyterlab.png``; with ``LCM_E2E_DOCS_SHOT=1`` it also
refreshes the committed ``docs/compare-jupyterlab.png``.

Uses the browser-test harness (``lcm_widgets/bench/jupyter.py``) and the Studio tests' page
helpers (``tests/e2e/lcm_studio_page.py``). No timing thresholds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from lcm_e2e_harness import (
    REPO,
    chromium,
    jupyter_server,
    kernel_eval,
    open_notebook,
    page_errors_of_ours,
    run_first_cell,
    write_notebook,
)
from lcm_studio_page import stroke, until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]

COMPARE_CELL = """\
import os
from lcm_widgets import Compare, Studio
if os.environ.get("LCM_E2E_BACKEND", "tiny") == "tiny":
    from lcm_widgets import LocalLCM
    backend = LocalLCM("tiny", progress=False)
else:
    from lcm_widgets.backends.echo import EchoBackend
    backend = EchoBackend()
studio = Studio(backend, prompt="a house by a lake", steps=4, strength=0.5, seed=1234, frame_size=256, display_size=280)
compare = Compare(studio, steps=[2, 4, 8], strength=[0.5, 0.7, 0.9], cell_size=128)
compare"""


READOUTS = (".lcm-compare .lcm-compare-col-value .widget-readout, "
            ".lcm-compare .lcm-compare-row-value .widget-readout")


def cell_sources(page: Any) -> list[str]:
    """The ``src`` of every cell image, in grid order."""
    return list(page.eval_on_selector_all(".lcm-compare .lcm-compare-image",
                                          "els => els.map(e => e.src || '')"))


def cell_frames(page: Any) -> list[str]:
    """The caption of every cell ("12 ms · frame 3"), in grid order."""
    return list(page.eval_on_selector_all(".lcm-compare .lcm-compare-cell",
                                          "els => els.map(e => e.innerText)"))


def test_lab_compare_grid_follows_the_drawing_and_adopts(tmp_path: Path,
                                                         model_cache: str) -> None:
    """Draw → all 9 cells get an image; draw again → all 9 change; click a cell's button →
    the Studio's steps/strength become that cell's."""
    nb = "compare.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [COMPARE_CELL])
    backend = os.environ.get("LCM_E2E_BACKEND", "tiny")
    with jupyter_server(tmp_path, app="lab", notebook=nb,
                        env={"LCM_E2E_BACKEND": backend}) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_notebook(page, server, nb)
        run_first_cell(page)
        page.wait_for_selector(".lcm-compare .lcm-sketchpad .lcm-input canvas",
                               timeout=180_000)
        until(lambda: len(cell_sources(page)) == 9, 60, "nine cells")
        # The headers are sliders (strength: FloatSlider, steps: IntSlider); their readouts.
        headers = page.eval_on_selector_all(READOUTS, "els => els.map(e => e.innerText.trim())")
        assert headers == ["0.5", "0.7", "0.9", "2", "4", "8"]  # columns, then rows
        assert page.locator(".lcm-compare .lcm-compare-col-value.widget-slider").count() == 3
        box = page.locator(".lcm-compare .lcm-input canvas").bounding_box()
        assert box is not None
        kc = server.kernel_client()
        try:
            # 1. a drawing → every cell shows an image
            stroke(page, dict(box), [(0.2, 0.2), (0.8, 0.3), (0.5, 0.85)])
            until(lambda: all(s.startswith("blob:") for s in cell_sources(page)), 240,
                  "an image in all nine cells")
            assert kernel_eval(kc, "print(compare.wait(240))", 300).strip() == "True"
            first = cell_sources(page)
            # 2. another stroke → every cell changes, and all end on the same frame
            stroke(page, dict(box), [(0.1, 0.9), (0.9, 0.1)])
            until(lambda: all(a != b for a, b in zip(cell_sources(page), first, strict=True)), 240,
                  "all nine cells to update")
            assert kernel_eval(kc, "print(compare.wait(240))", 300).strip() == "True"
            frames = kernel_eval(kc, "print(sorted({r['frame'] for r in compare.results}))")
            assert len(eval(frames.strip())) == 1, frames
            until(lambda: len({c.split("frame")[-1].split()[0] for c in cell_frames(page)
                               if "frame" in c}) == 1, 30, "all captions on one frame")
            # captions: the swept values whole, in the axes' order, wrapped inside the cell
            # (at most two lines, nothing cut at this size), every caption the same height
            shown = page.eval_on_selector_all(".lcm-compare .lcm-compare-label", """els =>
                els.map(e => { const r = e.getBoundingClientRect();
                  return {title: e.title, text: e.innerText.replace(/\u00a0/g, ' ').trim(),
                          fits: e.scrollHeight <= e.clientHeight + 1, width: r.width,
                          lines: r.height / parseFloat(getComputedStyle(e).lineHeight)}; })""")
            assert [c["title"] for c in shown[:2]] == ["steps=2 · strength=0.5",
                                                       "steps=2 · strength=0.7"], shown
            for c in shown:
                assert c["fits"] and c["text"] == c["title"], c
                assert c["width"] <= 128.5 and c["lines"] <= 2.05, c
            heights = page.eval_on_selector_all(".lcm-compare .lcm-compare-caption",
                                                "els => els.map(e => e.offsetHeight)")
            assert len(set(heights)) == 1, heights
            # 3. a click under the cell (row steps=8, column strength=0.7) → Studio params
            page.locator(".lcm-compare .lcm-compare-adopt").nth(7).click()
            until(lambda: "adopted steps=8 · strength=0.7" in (
                page.text_content(".lcm-compare-status") or ""), 30, "the adopt status")
            params = kernel_eval(kc, "print(studio.params['num_inference_steps'], "
                                     "studio.params['strength'])").strip()
            assert params == "8 0.7"
            # the docs picture: the canvas and the labelled 3x3 grid (file browser folded away)
            if page.locator(".jp-FileBrowser").is_visible():
                page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab").first.click()
            page.locator(".lcm-compare").evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            art = REPO / "test-artifacts"
            art.mkdir(exist_ok=True)
            page.screenshot(path=str(art / "compare-jupyterlab.png"))
            if os.environ.get("LCM_E2E_DOCS_SHOT") == "1":
                page.screenshot(path=str(REPO / "docs" / "compare-jupyterlab.png"))
            # 4. a new value typed into the first column's slider readout → that column
            #    re-renders with it (the browser edit goes through the slider's value trait)
            readout = page.locator(READOUTS).first
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("0.6")
            page.keyboard.press("Enter")
            until(lambda: kernel_eval(kc, "print(compare.sweep.col_labels[0])").strip()
                  == "strength=0.6", 30, "the slider edit to reach the kernel")
            assert kernel_eval(kc, "print(compare.wait(240))", 300).strip() == "True"
            col0 = kernel_eval(kc, "print(sorted({r['params']['strength'] for r in "
                                   "compare.results if r['col'] == 0}))").strip()
            assert col0 == "[0.6]", col0
            stats = kernel_eval(kc, "print(compare._pacer.counters.as_dict())")
        finally:
            kc.stop_channels()
        print(f"\n[e2e compare] pacer counters {stats.strip()}")
        assert not page_errors_of_ours(errors), errors
