"""The first GPU run's plumbing, on the CPU: ``DRY=1 scripts/gpu_check.sh`` end to end, its
report, and the offline wheelhouse's planning (the download itself needs PyPI: see
docs/gpu.md, "An offline install", for the run that resolved)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lcm_widgets.bench.check_report import read_steps, read_tests, report

ROOT = Path(__file__).resolve().parents[1]


def _wheelhouse() -> Any:
    spec = importlib.util.spec_from_file_location("wheelhouse", ROOT / "scripts" / "wheelhouse.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_dry_gpu_check_runs_the_whole_plumbing_on_the_cpu(tmp_path: Path,
                                                         model_cache: str) -> None:
    """DRY=1: env.txt, the gpu-marked tests (skipped without CUDA), four bench runs (eager and
    compiled, full VAE and TAESD) with ours and stock each, one results.json, summary.md."""
    pytest.importorskip("torch")
    out = tmp_path / "out"
    env = {**os.environ, "DRY": "1", "OUT": str(out), "PYTHON": sys.executable,
           "LCM_WIDGETS_CACHE": model_cache}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"),
                          str(tmp_path / "no-wheelhouse")], env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["env.txt", "results.json", "summary.md"]
    results = json.loads((out / "results.json").read_text())
    assert [(s["name"], s["status"]) for s in results["steps"]] == [
        ("tests", "ok"), ("tiny-full-eager", "ok"), ("tiny-full-compiled", "ok"),
        ("tiny-taesd-compiled", "ok"), ("tiny-taesd-eager", "ok")]
    tests = results["tests"]
    assert (tests["passed"], tests["failed"]) == (0, 0) and tests["skipped"] >= 2
    assert set(results["runs"]) == {"tiny-full-eager", "tiny-full-compiled",
                                    "tiny-taesd-compiled", "tiny-taesd-eager"}
    for name, run in results["runs"].items():
        assert run["ours"]["frames"] == 2 and run["stock"]["frames"] == 2, name
        assert run["config"]["taesd"] == ("taesd" in name), name
        compiled = run["config"]["compile_mode"] is not None
        assert compiled == ("compiled" in name), name
        if compiled:
            assert run["config"]["compile_backend"] == "eager"
    env_txt = (out / "env.txt").read_text()
    assert "torch " in env_txt and "diffusers " in env_txt and "commit " in env_txt
    summary = (out / "summary.md").read_text()
    assert "| tiny-full-compiled |" in summary and "gpu-marked tests:" in summary


def test_the_budget_skips_steps_and_says_so(tmp_path: Path) -> None:
    """With no time budget every step is skipped, named with the time it needed, and the
    report still comes out."""
    out = tmp_path / "out"
    env = {**os.environ, "DRY": "1", "OUT": str(out), "PYTHON": sys.executable,
           "BUDGET_S": "10"}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"),
                          str(tmp_path / "none")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    steps = json.loads((out / "results.json").read_text())["steps"]
    assert {s["status"] for s in steps} == {"skipped"} and len(steps) == 5
    assert all(s["note"].startswith("budget: ") for s in steps)


def test_report_reads_steps_and_junit(tmp_path: Path) -> None:
    """check_report: steps.tsv and a JUnit file become counts, cases and a failing status."""
    (tmp_path / "steps.tsv").write_text("build\tok\t61\t\nbench\tfailed\t3\texit 1: boom\n")
    (tmp_path / "gpu-tests.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="t" name="ok" time="1.5"/>'
        '<testcase classname="t" name="bad" time="0.1"><failure message="rel L2 0.2"/></testcase>'
        '<testcase classname="t" name="skip"><skipped message="no CUDA"/></testcase>'
        "</testsuite></testsuites>")
    (tmp_path / "env.txt").write_text("date today\n")
    assert read_steps(tmp_path / "steps.tsv")[1] == {"name": "bench", "status": "failed",
                                                      "seconds": 3.0, "note": "exit 1: boom"}
    tests = read_tests(tmp_path / "gpu-tests.xml")
    assert (tests["passed"], tests["failed"], tests["skipped"]) == (1, 1, 1)
    assert tests["cases"][1] == {"name": "t::bad", "status": "failed", "seconds": 0.1,
                                 "why": "rel L2 0.2"}
    res = report(tmp_path, tmp_path)
    assert res["wall_s"] == 64.0 and (tmp_path / "summary.md").is_file()
    assert read_tests(tmp_path / "missing.xml")["cases"] == []


def test_wheelhouse_plan_leaves_out_what_the_host_has() -> None:
    """The host has what gpu_host.txt names and what those require, except through a package
    it marks missing: so pydantic (missing) comes with its own dependencies, while the host's
    transformers keeps its own."""
    wh = _wheelhouse()
    host = {"transformers": ("5.17.0", {"regex", "pydantic", "tqdm"}),
            "pydantic": ("2.14.4", {"annotated-types", "typing-extensions"}),
            "annotated-types": ("0.8.0", set()), "typing-extensions": ("4.16.0", set()),
            "regex": ("2026.1", set()), "tqdm": ("4.70", set())}
    needs = {"diffusers": ("0.42.1", {"regex", "requests"}), "requests": ("2.34", set()),
             "pydantic": ("2.14.4", {"annotated-types", "typing-extensions"}),
             "annotated-types": ("0.8.0", set()), "typing-extensions": ("4.16.0", set()),
             "regex": ("2026.1", set())}
    plan = wh.plan(host, {"transformers", "torch"}, {"diffusers", "pydantic"}, needs)
    assert plan == {"annotated-types": "0.8.0", "diffusers": "0.42.1", "pydantic": "2.14.4",
                    "requests": "2.34", "typing-extensions": "4.16.0"}
    assert wh.canonical("Pydantic_Core") == "pydantic-core"
    assert wh.subtree({"pydantic"}, host) == {"pydantic", "annotated-types",
                                              "typing-extensions"}


def test_wheelhouse_refuses_a_bad_python_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--python must look like 3.12; the message names the option and the value."""
    with pytest.raises(SystemExit):
        _wheelhouse().main(["/tmp/wh", "--python", "twelve"])
    assert "--python: must look like 3.12, got 'twelve'" in capsys.readouterr().err


def test_host_and_needs_files_agree_with_the_project() -> None:
    """Every pin of gpu_needs.txt satisfies the project's own requirement on that package
    (pyproject.toml); gpu_host.txt marks as missing what the GPU host lacks (diffusers,
    pydantic, simplejpeg) and pins the host's transformers and huggingface_hub."""
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    wh = _wheelhouse()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    for extra in ("local", "test"):
        declared += [Requirement(r) for r in project["optional-dependencies"][extra]]
    by_name = {wh.canonical(r.name): r for r in declared}
    needs = dict(line.split("==") for line in wh.requirement_lines(wh.NEEDS_FILE))
    assert {wh.canonical(n) for n in needs} <= set(by_name)
    for name, pinned in needs.items():
        assert by_name[wh.canonical(name)].specifier.contains(pinned), (name, pinned)
    host = wh.requirement_lines(wh.HOST_FILE)
    assert {"!diffusers", "!pydantic", "!simplejpeg"} <= set(host)
    assert "transformers==5.17.0" in host and "huggingface_hub==1.33.0" in host
