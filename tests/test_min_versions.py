"""The minimum-versions pins (scripts/min_versions.py) are pyproject.toml's floors, one each."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("min_versions", ROOT / "scripts/min_versions.py")
assert _spec is not None and _spec.loader is not None
mv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mv)


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_pins_are_the_declared_floors() -> None:
    """Every core and extra requirement (and the test tools the job uses) appears once, pinned
    to exactly its ``>=`` floor; torch alone is left to the job's CPU build."""
    project = _project()
    reqs = list(project["dependencies"])
    for extra in mv.EXTRAS:
        reqs += project["optional-dependencies"][extra]
    expected = {}
    for req in reqs:
        name, floor = re.fullmatch(r"([A-Za-z0-9._-]+)>=([0-9.]+)", req).groups()  # type: ignore[union-attr]
        expected[name.lower()] = floor
    out = subprocess.run([sys.executable, str(ROOT / "scripts/min_versions.py")],
                         capture_output=True, text=True, check=True).stdout.split()
    got = dict(line.split("==") for line in out)
    assert len(got) == len(out)  # one pin per distribution
    assert {k: v for k, v in got.items() if k not in ("pytest", "pytest-asyncio")} == {
        k: v for k, v in expected.items() if k != "torch"}
    assert "torch" not in got and "torch" in expected
    tests = {r.split(">=")[0]: r.split(">=")[1] for r in project["optional-dependencies"]["test"]
             if r.startswith(("pytest>=", "pytest-asyncio>="))}
    assert got["pytest"] == tests["pytest"] and got["pytest-asyncio"] == tests["pytest-asyncio"]


def test_all_is_every_extra_the_job_installs() -> None:
    """``all`` (README's first command) is the union the job pins."""
    all_line = _project()["optional-dependencies"]["all"][0]
    assert all_line == f"lcm-widgets[{','.join(mv.EXTRAS)}]"


def test_a_requirement_without_a_floor_is_refused(tmp_path: Path) -> None:
    """``name`` or ``name<2`` cannot be pinned to a floor: the generator says which and why."""
    bad = tmp_path / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text().replace('"numpy>=1.24"', '"numpy<3"')
    bad.write_text(text)
    with pytest.raises(ValueError, match=r"'numpy<3' must be written name>=floor"):
        mv.floors(bad)


def test_release_comparison() -> None:
    assert mv._release("15") == mv._release("15.0") == mv._release("15.0.0")
    assert mv._release("2.13.0+cpu") == (2, 13)
    assert mv._release("0.35") != mv._release("0.35.1")


def test_python_floor_is_declared_consistently() -> None:
    """requires-python, the classifiers and ruff's target agree on 3.11."""
    project = _project()
    assert project["requires-python"] == ">=3.11"
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert not [c for c in project["classifiers"] if c.endswith(":: 3.10")]
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    assert tool["ruff"]["target-version"] == "py311" and tool["mypy"]["python_version"] == "3.11"


def test_ci_runs_the_job() -> None:
    """.ci/run calls scripts/min_versions.sh, which checks the installed versions."""
    assert "scripts/min_versions.sh" in (ROOT / ".ci/run").read_text()
    job = (ROOT / "scripts/min_versions.sh").read_text()
    assert "min_versions.py --check" in job and "torch==2.13.0" in job
