"""The Studio in a real JupyterLab and Notebook 7, in headless Debian Chromium (Playwright).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and the ``playwright`` Python
package (never ``playwright install``). Screenshots go to ``test-artifacts/``. No timing
thresholds: latency and fps are printed; the asserted limits are counts (at most one frame in
flight, at most one pending), each from the pacer and, independently of it, from a counting
wrapper around the model (concurrent ``generate`` calls), the Studio's worker (results sent to
the browser and not yet acked) and the browser itself (``data-max-in-flight``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lcm_e2e_harness import (
    ARTIFACTS,
    chromium,
    jupyter_server,
    kernel_eval,
    page_errors_of_ours,
    scribble,
    write_notebook,
)
from lcm_studio_page import (
    SCRIBBLE_SECONDS,
    STUDIO_CELL,
    assert_paced,
    data,
    num,
    output_hash,
    shot,
    start_studio,
    stroke,
    studio_stats,
    until,
    wait_new_result,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]


def test_lab_tiny_model_draw_undo_error_and_pacing(tmp_path: Path, model_cache: str) -> None:
    """JupyterLab + the tiny model: results follow the drawing, undo re-renders, a bad
    parameter shows in the status line without ending the session, and a 10 s scribble keeps
    ≤ 1 frame in flight and ≤ 1 pending."""
    t_start = time.monotonic()
    nb = "studio.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [STUDIO_CELL])
    with jupyter_server(tmp_path, app="lab", notebook=nb,
                        env={"LCM_E2E_BACKEND": "tiny"}) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        box = start_studio(page, server, nb)
        kc = server.kernel_client()
        try:
            # 1. a stroke → a result
            stroke(page, box, [(0.2, 0.2), (0.8, 0.25), (0.5, 0.8)])
            painted = wait_new_result(page, 0, 120)
            first = output_hash(page)
            # 2. a different drawing → a different result
            stroke(page, box, [(0.1, 0.9), (0.9, 0.1)])
            stroke(page, box, [(0.15, 0.5), (0.85, 0.5)])
            until(lambda: output_hash(page) != first, 120, "the result to change with the drawing")
            until(lambda: data(page, "in-flight") in ("0", "") and data(page, "dirty") == "false",
                  60, "the canvas to settle")
            studio_idle = kernel_eval(kc, "print(studio.wait(60))").strip()
            assert studio_idle == "True"
            painted = num(page, "results-painted")
            before_undo, frames = output_hash(page), num(page, "frames-sent")
            # 3. undo → a new frame → a new result
            page.click(".lcm-undo")
            until(lambda: num(page, "frames-sent") > frames, 30, "undo to send a frame")
            until(lambda: output_hash(page) != before_undo, 120, "the undo result")
            shot(page, "lab-after-undo.png")
            # 4. a bad parameter → plain-words error in the status line; session goes on
            kernel_eval(kc, "studio.controls.widgets['strength'].value = 0.2")
            until(lambda: page.query_selector(".lcm-status .lcm-error") is not None, 60,
                  "the error in the status line")
            err_text = page.text_content(".lcm-status .lcm-error") or ""
            assert "invalid settings" in err_text and "strength" in err_text
            shot(page, "lab-error.png")
            kernel_eval(kc, "studio.controls.widgets['strength'].value = 0.5")
            painted = num(page, "results-painted")
            stroke(page, box, [(0.3, 0.6), (0.7, 0.65)])
            wait_new_result(page, painted, 120)
            until(lambda: page.query_selector(".lcm-status .lcm-error") is None, 60,
                  "the error to clear")
            # 5. the 10 s scribble: pacing counts + figures
            stats0 = studio_stats(kc)
            painted0, t0 = num(page, "results-painted"), time.monotonic()
            strokes = scribble(page, box, seconds=SCRIBBLE_SECONDS, seed=3)
            kernel_eval(kc, "print(studio.wait(120))")
            until(lambda: data(page, "in-flight") in ("0", ""), 60, "the last frame")
            elapsed = time.monotonic() - t0
            painted1 = num(page, "results-painted")
            stats = studio_stats(kc)
            shot(page, "lab-after-scribble.png")
            # the docs picture: JupyterLab scrolled to the Studio (canvas, result, status)
            page.locator(".lcm-studio").evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(300)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "studio-jupyterlab.png"))
        finally:
            kc.stop_channels()
        print(f"\n[e2e lab tiny] {strokes} strokes in {SCRIBBLE_SECONDS:.0f} s; "
              f"results painted {painted1 - painted0} in {elapsed:.1f} s "
              f"= {(painted1 - painted0) / elapsed:.2f} fps; kernel fps {stats['fps']}")
        print(f"[e2e lab tiny] stroke→pixels (browser) p50 {data(page, 'latency-p50')} ms "
              f"p95 {data(page, 'latency-p95')} ms; kernel-side from acks "
              f"{stats['stroke_to_pixels_ms']}; frame→result sent {stats['latency_ms']}")
        print(f"[e2e lab tiny] stages {stats['stages_ms']}")
        print(f"[e2e lab tiny] frames in {stats['frames_in'] - stats0['frames_in']}, "
              f"started {stats['started'] - stats0['started']}, dropped {stats['dropped']}, "
              f"skipped {stats['skipped']}, max_in_flight {stats['max_in_flight']}, "
              f"max_pending {stats['max_pending']}, browser max in flight "
              f"{data(page, 'max-in-flight')}; whole test {time.monotonic() - t_start:.1f} s")
        print(f"[e2e lab tiny] measured apart from the pacer: model calls "
              f"{stats['counting']['calls']}, most at once {stats['counting']['max_active']}; "
              f"backend_max_concurrency {stats['backend_max_concurrency']}, "
              f"max_unacked_results {stats['max_unacked_results']}, ack timeouts "
              f"{stats['ack_timeouts']}")
        assert_paced(stats, page)
        assert painted1 > painted0
        assert not page_errors_of_ours(errors), errors


def test_notebook7_echo_fail_prompt_keeps_the_session(tmp_path: Path) -> None:
    """Notebook 7 + EchoBackend: typing "!fail" into the prompt shows the backend's error in
    the status line; removing it, the next stroke produces a result again."""
    nb = "echo.ipynb"
    (tmp_path / "root").mkdir()
    write_notebook(tmp_path / "root" / nb, [STUDIO_CELL])
    with jupyter_server(tmp_path, app="notebook", notebook=nb,
                        env={"LCM_E2E_BACKEND": "echo"}) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        box = start_studio(page, server, nb)
        stroke(page, box, [(0.2, 0.2), (0.8, 0.8)])
        painted = wait_new_result(page, 0)
        prompt = page.locator(".lcm-control-prompt textarea")
        prompt.click()
        prompt.press("End")
        prompt.type(" !fail")
        until(lambda: page.query_selector(".lcm-status .lcm-error") is not None, 30,
              "the error in the status line")
        text = page.text_content(".lcm-status .lcm-error") or ""
        assert "the model failed" in text and "!fail" in text
        shot(page, "notebook7-error.png")
        prompt.fill("a house by a lake")
        stroke(page, box, [(0.8, 0.2), (0.2, 0.8)])
        wait_new_result(page, painted)
        until(lambda: page.query_selector(".lcm-status .lcm-error") is None, 30,
              "the error to clear")
        shot(page, "notebook7-recovered.png")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["echo", "tiny"])
def test_nodelay_stroke_to_pixels(tmp_path: Path, model_cache: str, backend: str) -> None:
    """Same scribble, same run, JupyterLab with and without lcm_widgets.jupyter_nodelay:
    prints stroke-to-pixels p50/p95 and fps for both."""
    seconds = min(SCRIBBLE_SECONDS, 8.0)
    figures: dict[bool, dict[str, Any]] = {}
    for nodelay in (False, True):
        run_dir = tmp_path / f"nodelay-{nodelay}"
        (run_dir / "root").mkdir(parents=True)
        write_notebook(run_dir / "root" / "bench.ipynb", [STUDIO_CELL])
        with jupyter_server(run_dir, app="lab", notebook="bench.ipynb", nodelay=nodelay,
                            env={"LCM_E2E_BACKEND": backend}) as server, \
                chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            box = start_studio(page, server, "bench.ipynb")
            stroke(page, box, [(0.5, 0.5), (0.6, 0.6)])  # warm up
            wait_new_result(page, 0, 120)
            kc = server.kernel_client()
            try:
                p0, t0 = num(page, "results-painted"), time.monotonic()
                scribble(page, box, seconds=seconds, seed=7)
                kernel_eval(kc, "print(studio.wait(120))")
                elapsed = time.monotonic() - t0
                stats = studio_stats(kc)
            finally:
                kc.stop_channels()
            log = server.log.read_text(errors="replace")
            assert ("lcm_widgets.jupyter_nodelay: TCP_NODELAY" in log) == nodelay
            figures[nodelay] = {
                "p50": data(page, "latency-p50"), "p95": data(page, "latency-p95"),
                "fps": round((num(page, "results-painted") - p0) / elapsed, 2),
                "kernel_ms": stats["latency_ms"], "max_in_flight": stats["max_in_flight"],
                "max_pending": stats["max_pending"]}
            assert_paced(stats, page)
    for nodelay, f in figures.items():
        print(f"\n[nodelay={'on' if nodelay else 'off'} {backend}] stroke→pixels p50 "
              f"{f['p50']} ms p95 {f['p95']} ms, {f['fps']} fps, kernel frame→sent "
              f"{f['kernel_ms']}")
