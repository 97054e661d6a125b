"""What the Studio's browser tests share: the Studio cell (a counting wrapper around the
model), page readers (the widget's ``data-*`` test hooks) and the pacing assertions."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lcm_e2e_harness import ARTIFACTS, kernel_eval, open_notebook, run_first_cell_until
from lcm_test_helpers import until as wait_for

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
    """≤ 1 in flight, ≤ 1 pending, ≤ 2 results waiting for their acks (the result window):
    the pacer's counters and the independent measures (each seen at 1 or more, so none is
    vacuous)."""
    assert stats["max_in_flight"] <= 1 and stats["max_pending"] <= 1
    assert stats["max_result_slot"] <= 1
    assert stats["counting"]["max_active"] == 1  # the model never ran two frames at once
    assert stats["backend_max_concurrency"] == 1
    assert stats["max_unacked_results"] in (1, 2)  # never more than the window out unacked
    assert int(data(page, "max-in-flight") or 0) == 1  # the browser's own frame credit
    # results the browser held unacked at once (decoding, painting): within the window
    assert int(data(page, "max-results-open") or 0) in (1, 2)


def start_studio(page: Any, server: Any, name: str) -> dict[str, float]:
    open_notebook(page, server, name)
    run_first_cell_until(page, ".lcm-sketchpad .lcm-input canvas", artifacts=ARTIFACTS)
    until(lambda: "ready" in (page.text_content(".lcm-status") or ""), 180, "the status line")
    # The cell's source and the model's loading output can push the canvas below the fold;
    # mouse events outside the viewport would miss it.
    canvas = page.locator(".lcm-input canvas").first
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
