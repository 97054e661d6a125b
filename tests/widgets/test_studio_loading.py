"""``Studio(lambda: LocalLCM("tiny"))`` shows the load's real steps in its status line: the
activity trait goes through ``loading the model: <step> (k/n)`` for each step the tiny model's
load tells (the real from_pretrained path), then back to idle with the model named.
tests/e2e/test_studio_ux.py shows the same in the browser."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from lcm_test_helpers import LooseComm, until

from lcm_widgets.widgets.sketchpad import Sketchpad
from lcm_widgets.widgets.studio import Studio


def test_the_status_line_follows_a_local_load_step_by_step(model_cache: str) -> None:
    """Each counted step of the load becomes the activity ``loading the model: unet (4/7)``, in
    order and numbered 1..n; once loaded the activity is empty and the status names the model.
    A second listener of the caller's, inside the loader, hears the same load."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.backends.local.loading import LoadProgress, load_progress

    seen: list[str] = []
    lock = threading.Lock()
    caller: list[LoadProgress] = []

    def record(change: dict[str, Any]) -> None:
        with lock:
            seen.append(change["new"])

    def load() -> LocalLCM:
        with load_progress(caller.append):
            return LocalLCM("tiny", progress=False, warmup=False)

    pad = Sketchpad(comm=LooseComm(), frame_width=64, frame_height=64)
    pad.observe(record, names="activity")
    studio = Studio(load, sketchpad=pad)
    try:
        studio.wait_loaded(300)
        until(lambda: pad.activity == "", 10, "idle after the load")
        assert "tiny (cpu)" in pad.status
        with lock:
            steps = [s for s in seen if s]
        assert steps[:2] == ["loading the model", "loading the model: import torch"]
        counted = [re.fullmatch(r"loading the model: (.+) \((\d+)/(\d+)\)", s) for s in steps[2:]]
        assert all(counted), steps
        numbers = [(int(m[2]), int(m[3])) for m in counted if m]
        total = numbers[0][1]
        assert numbers == [(k, total) for k in range(1, total + 1)]
        assert [m[1] for m in counted if m] == [e.step for e in caller
                                                if e.total is not None][:-1]
        assert caller[-1].step == "loaded"
    finally:
        studio.close()
