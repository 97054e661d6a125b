"""The browser's percentile (``js/stats.js``) and the kernel's (``lcm_widgets.stats``) agree.

Node runs a small ESM script that imports js/stats.js and evaluates every (samples, q) case;
each result must equal :func:`lcm_widgets.stats.percentile` within 1e-9. Skipped only when
Node is not installed.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from lcm_widgets.stats import percentile

STATS_JS = Path(__file__).resolve().parents[1] / "js" / "stats.js"
QS = [0.0, 5.0, 25.0, 50.0, 90.0, 95.0, 99.0, 100.0]

_rng = random.Random(1234)
SAMPLES: dict[str, list[float]] = {
    "single": [42.0],
    "two": [10.0, 20.0],
    "odd": [3.0, 1.0, 2.0],
    "even": [4.0, 1.0, 3.0, 2.0],
    "duplicates": [5.0, 5.0, 5.0, 1.0, 9.0, 5.0],
    "unsorted": [88.5, 12.25, 47.0, 3.5, 61.75, 29.0, 95.0],
    "negative_and_fractions": [-2.5, 0.1, 0.2, 0.30000000000000004, -7.0],
    "latencies_37": [round(_rng.uniform(20, 400), 3) for _ in range(37)],
    "latencies_512": [_rng.lognormvariate(4.5, 0.6) for _ in range(512)],
}

SCRIPT = """\
import { percentile } from %s;
const cases = JSON.parse(process.argv[2]);
console.log(JSON.stringify(cases.map(([values, q]) => percentile(values, q))));
"""


def js_percentiles(tmp_path: Path,
                   cases: Sequence[tuple[Sequence[float], float]]) -> list[float | None]:
    """``percentile(values, q)`` from js/stats.js for every case, in order."""
    script = tmp_path / "parity.mjs"
    script.write_text(SCRIPT % json.dumps(STATS_JS.as_uri()))
    proc = subprocess.run(["node", str(script), json.dumps(cases)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_percentile_matches_python(tmp_path: Path) -> None:
    """For odd/even/duplicate/unsorted/single samples and q in 0..100 both give the same value."""
    cases = [(values, q) for values in SAMPLES.values() for q in QS]
    got = js_percentiles(tmp_path, cases)
    assert len(got) == len(cases)
    for (values, q), js in zip(cases, got, strict=True):
        py = percentile(values, q)
        assert js is not None and abs(js - py) <= 1e-9, (values, q, js, py)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_empty_samples_have_no_percentile_on_either_side(tmp_path: Path) -> None:
    """No samples: js/stats.js returns null where Python raises ValueError."""
    assert js_percentiles(tmp_path, [([], 50)]) == [None]
    with pytest.raises(ValueError):
        percentile([], 50)
