"""The Studio in a real JupyterLab and Notebook 7, in headless Debian Chromium (Playwright).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and the ``playwright`` Python
package (never ``playwright install``). Screenshots go to ``test-artifacts/``. No timing
thresholds: latency and fps are printed; the asserted limits are counts (at most one frame in
flight, at most one pending), each from the pacer and, independently of it, from a counting
wrapper around the model (concurrent ``generate`` calls), the Studio's worker (results sent to
the browser and not yet acked) and the browser itself (``data-max-in-flight``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
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
    run_first_cell_until,
    scribble,
    write_notebook,
)
from lcm_test_helpers import until as wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]

ARTIFACTS = REPO / "test-artifacts"
SCRIBBLE_SECONDS = float(os.environ.get("LCM_E2E_SCRIBBLE_S", "10"))

STUDIO_CELL = """\
import os, threading
from lcm_widgets import Studio
if os.environ.get("LCM_E2E_BACKEND", "tiny") == "tiny":
    from lcm_widgets import LocalLCM
    model = LocalLCM("tiny", progress=False)
else:
    from lcm_widgets.backends.echo import EchoBackend
    model = EchoBackend()

class CountingBackend:
    \"\"\"Delegates to the real model; records the most generate calls running at once.\"\"\"
    def __init__(self, inner):
        self.inner, self.calls, self.active, self.max_active = inner, 0, 0, 0
        self.lock = threading.Lock()
    @property
    def info(self):
        return self.inner.info
    async def generate(self, inp):
        with self.lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            return await self.inner.generate(inp)
        finally:
            with self.lock:
                self.active -= 1
    async def aclose(self):
        await self.inner.aclose()

backend = CountingBackend(model)
studio = Studio(backend, prompt="a house by a lake", steps=4, strength=0.5, seed=1234,
                display_size=300)
studio"""


def until(cond: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll the page every 0.1 s (lcm_test_helpers.until)."""
    return wait_for(cond, timeout, what, interval=0.1)


def data(page: Any, name: str) -> str:
    return str(page.get_attribute(".lcm-sketchpad", f"data-{name}") or "")


def num(page: Any, name: str) -> int:
    return int(data(page, name) or 0)


def output_hash(page: Any) -> str:
    url = page.evaluate("() => document.querySelector('.lcm-output canvas').toDataURL()")
    return hashlib.sha1(url.encode()).hexdigest()


def stroke(page: Any, box: dict[str, float], points: list[tuple[float, float]]) -> None:
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + w * points[0][0], y0 + h * points[0][1])
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + w * fx, y0 + h * fy, steps=6)
    page.mouse.up()


def wait_new_result(page: Any, painted: int, timeout: float = 60) -> int:
    try:
        return int(until(lambda: num(page, "results-painted") > painted and
                         num(page, "results-painted"), timeout, "a new result painted"))
    except AssertionError as exc:
        shot(page, "wait-new-result-timeout.png")
        status = page.text_content(".lcm-status") or ""
        raise AssertionError(f"{exc}; status line: {status!r}; frames sent "
                             f"{data(page, 'frames-sent')}, in flight {data(page, 'in-flight')}"
                             ) from None


def studio_stats(kc: Any) -> dict[str, Any]:
    """``studio.stats`` plus the counting wrapper's ``calls`` and ``max_active``."""
    out = kernel_eval(kc, "import json; print(json.dumps({**studio.stats, 'counting': "
                          "{'calls': backend.calls, 'max_active': backend.max_active}}, "
                          "default=str))")
    return dict(json.loads(out.strip().splitlines()[-1]))


def assert_paced(stats: dict[str, Any], page: Any) -> None:
    """≤ 1 in flight, ≤ 1 pending, ≤ 1 result waiting for its ack: the pacer's counters and
    the independent measures (each seen at 1, so none is vacuous)."""
    assert stats["max_in_flight"] <= 1 and stats["max_pending"] <= 1
    assert stats["max_result_slot"] <= 1
    assert stats["counting"]["max_active"] == 1  # the model never ran two frames at once
    assert stats["backend_max_concurrency"] == 1
    assert stats["max_unacked_results"] == 1  # never two results out without an ack
    assert int(data(page, "max-in-flight") or 0) == 1  # the browser's own frame credit


def start_studio(page: Any, server: Any, name: str) -> dict[str, float]:
    open_notebook(page, server, name)
    run_first_cell_until(page, ".lcm-sketchpad .lcm-input canvas", artifacts=ARTIFACTS)
    until(lambda: "ready" in (page.text_content(".lcm-status") or ""), 180, "the status line")
    # The cell's source and the model's loading output can push the canvas below the fold;
    # mouse events outside the viewport would miss it.
    canvas = page.locator(".lcm-input canvas")
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    box = canvas.bounding_box()
    assert box is not None
    return dict(box)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


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
