"""Gather what ``scripts/gpu_check.sh`` produced into one ``results.json`` and ``summary.md``.

    python -m lcm_widgets.bench.check_report OUT WORKDIR

``WORKDIR`` holds ``steps.tsv`` (one line per step: name, status, seconds, note), the
gpu-marked tests' ``gpu-tests.xml`` (JUnit) and one ``<run>.json`` per ``lcm-widgets bench``
run; ``OUT`` holds ``env.txt``. Both outputs go to ``OUT``. Pure standard library: it runs on
the GPU host with nothing but the wheelhouse installed.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .collect import collect

__all__ = ["main", "read_steps", "read_tests", "report"]


def read_steps(path: Path) -> list[dict[str, Any]]:
    """The steps of ``steps.tsv``: name, status (ok, failed, skipped), seconds, note."""
    steps = []
    if path.is_file():
        for line in path.read_text().splitlines():
            name, status, seconds, *note = line.split("\t")
            steps.append({"name": name, "status": status, "seconds": float(seconds),
                          "note": note[0] if note else ""})
    return steps


def read_tests(path: Path) -> dict[str, Any]:
    """Counts and cases of a JUnit XML file (pytest's ``--junitxml``); empty when missing."""
    out: dict[str, Any] = {"passed": 0, "failed": 0, "skipped": 0, "cases": []}
    if not path.is_file():
        return out
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        failure = next((e for e in (case.find("failure"), case.find("error")) if e is not None),
                       None)
        skipped = case.find("skipped")
        if failure is not None:
            status, why = "failed", failure
        elif skipped is not None:
            status, why = "skipped", skipped
        else:
            status, why = "passed", None
        out[status] += 1
        out["cases"].append({"name": name, "status": status,
                             "seconds": float(case.get("time") or 0.0),
                             "why": (why.get("message") or "")[:500] if why is not None else ""})
    return out


def report(out: Path, work: Path) -> dict[str, Any]:
    """Write ``out/results.json`` and ``out/summary.md``; returns the results."""
    runs = {}
    for path in sorted(work.glob("*.json")):
        try:
            runs[path.stem] = json.loads(path.read_text())
        except ValueError:
            continue
    env = (out / "env.txt").read_text() if (out / "env.txt").is_file() else ""
    steps = read_steps(work / "steps.tsv")
    tests = read_tests(work / "gpu-tests.xml")
    results = {"env": env.splitlines(), "steps": steps, "tests": tests, "runs": runs,
               "wall_s": round(sum(s["seconds"] for s in steps), 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True))
    lines = ["# GPU check", "", "```", env.strip(), "```", "", "| step | status | s | note |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.0f} | {s['note']} |"
              for s in steps]
    lines += ["", f"gpu-marked tests: {tests['passed']} passed, {tests['failed']} failed, "
                  f"{tests['skipped']} skipped", ""]
    lines += [f"- {c['status']}: {c['name']}" + (f" ({c['why']})" if c["why"] else "")
              for c in tests["cases"]]
    lines += ["", "## lcm-widgets bench", "", collect(work).rstrip(), ""]
    for name, run in runs.items():
        seconds = run.get("config", {}).get("compile_seconds")
        if seconds:
            lines.append(f"- {name}: first compiled frame took {seconds:.1f} s")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    """``check_report OUT WORKDIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m lcm_widgets.bench.check_report OUT WORKDIR", file=sys.stderr)
        return 2
    res = report(Path(args[0]), Path(args[1]))
    failed = res["tests"]["failed"] + sum(s["status"] == "failed" for s in res["steps"])
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
