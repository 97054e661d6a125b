"""``lcm-widgets bench-live`` end to end: a real JupyterLab and Chromium, two short cases.

Checks what the command reports (counts and the shape of its figures), never a timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lcm_e2e_harness import REPO

from lcm_widgets.bench.live import STAGES

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                       reason="needs Debian chromium (apt-get install -y chromium)"),
]


def test_bench_live_measures_the_studio_and_the_floor() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "lcm_widgets", "bench-live", "--seconds", "3",
         "--cases", "studio-echo,floor-direct", "--input-jitter", "0.5", "--json"],
        capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout)
    assert set(res["cases"]) == {"studio-echo", "floor-direct"}
    assert res["machine"]["cores"] and res["machine"]["load_avg"]
    for name, fig in res["cases"].items():
        assert fig["stroke_to_pixels_ms"]["n"] > 0, name
        assert fig["results_per_s"] > 0 and fig["results_painted_per_s"] > 0, name
        assert fig["clock_offset_ms"] is not None, name
        assert list(fig["median_frame_ms"]) == [s for s, _, _ in STAGES], name
        assert fig["page_errors"] == [], name
        # the default driver: pointer events made in the page, Playwright detached meanwhile
        assert fig["driver"] == "synth" and fig["synth"]["done"], name
        assert fig["synth"]["events"] > 0 and fig["input_events_per_s"] > 0, name
        # the gaps the driver planned spread over ± 50 % of the 16.7 ms period
        assert fig["input_jitter"] == 0.5 and res["input_jitter"] == 0.5, name
        gaps = fig["synth"]["gapMin"], fig["synth"]["gapMax"]
        assert 1000 / 60 * 0.5 <= gaps[0] < 1000 / 60 * 0.8, gaps
        assert 1000 / 60 * 1.2 < gaps[1] <= 1000 / 60 * 1.5, gaps
    studio = res["cases"]["studio-echo"]
    assert studio["max_in_flight"] == 1
    assert studio["kernel"]["max_in_flight"] == 1
    assert "via direct channel" in studio["status"]
    assert studio["data_counters"] is False  # the bench's Studio writes no debug data-*
    print(f"\n[bench-live e2e] studio {studio['stroke_to_pixels_ms']} "
          f"{studio['results_per_s']}/s; floor-direct "
          f"{res['cases']['floor-direct']['stroke_to_pixels_ms']}")


def _contexts(endpoint: str, url_part: str) -> int:
    """How many JS execution contexts (the main world and isolated worlds) a page has, as a
    new bare CDP connection sees them: ``Runtime.enable`` reports each existing one."""
    from websockets.sync.client import connect

    from lcm_widgets.bench.jupyter import page_ws_url

    seen: set[int] = set()
    with connect(page_ws_url(endpoint, url_part), max_size=None) as ws:
        ws.send(json.dumps({"id": 1, "method": "Runtime.enable"}))
        while True:  # the events come before the command's answer
            msg = json.loads(ws.recv(timeout=10))
            if msg.get("method") == "Runtime.executionContextCreated":
                seen.add(msg["params"]["context"]["id"])
            if msg.get("id") == 1:
                return len(seen)


def test_soak_samples_over_a_bare_cdp_connection_leave_nothing_in_the_page(
        tmp_path: Path) -> None:
    """The bench's soak samples the JS heap over :class:`RawCdp`: attaching Playwright for
    each sample (as it once did) made a new V8 context in the page each time, which the soak
    then measured as heap growth (docs/benchmarks.md, "Live widget")."""
    from lcm_widgets.bench.jupyter import RawCdp, chromium_cdp

    with chromium_cdp(tmp_path) as cdp:
        page = cdp.new_page()
        page.goto("data:text/html,<title>raw-cdp</title><p>raw-cdp-page</p>")
        page.evaluate("() => { window.__n = 41; }")
        cdp.detach()
        before = _contexts(cdp.endpoint, "raw-cdp-page")
        for _ in range(3):
            with RawCdp(cdp.endpoint, "raw-cdp-page") as bare:
                assert bare.evaluate("window.__n + 1") == 42
                assert bare.evaluate("Promise.resolve('later')") == "later"
                assert bare.heap_used() > 0
                with pytest.raises(RuntimeError, match="threw"):
                    bare.evaluate("no_such_name")
        assert _contexts(cdp.endpoint, "raw-cdp-page") == before
        for _ in range(3):  # what the soak did before: Playwright attached for each sample
            cdp.page("raw-cdp-page").evaluate("() => 1")
            cdp.detach()
        assert _contexts(cdp.endpoint, "raw-cdp-page") > before
        with pytest.raises(LookupError, match="no open page at 'no-such-page'"):
            RawCdp(cdp.endpoint, "no-such-page")
