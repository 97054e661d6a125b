"""The minimum-versions pins, generated from pyproject.toml so they never drift from it.

    python3 scripts/min_versions.py            # print name==floor, one a line
    python3 scripts/min_versions.py --check    # in the floors venv: installed == floors

Every requirement of the core dependencies and of the extras in :data:`EXTRAS` must be written
``name>=floor`` (a floor is required); the pin is ``name==floor``. The test tools the job runs
with (:data:`TEST_TOOLS`, from the ``test`` extra) are pinned the same way. torch is the one
exception (:data:`EXEMPT`): the job installs the CPU build ``torch==2.13.0`` first, because that
is the build this machine serves; its declared floor is not exercised here.

scripts/min_versions.sh is the job; tests/test_min_versions.py checks this file's rules.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The extras the job installs at their floors (``all`` is their union; ``test`` is tools).
EXTRAS = ("local", "server", "remote", "notebook", "compare")
#: The test tools the job's pytest run needs, pinned to the test extra's floors.
TEST_TOOLS = ("pytest", "pytest-asyncio")
#: Installed at another version by the job, with the reason.
EXEMPT = {"torch": "2.13.0 (the CPU build this machine serves), installed first"}
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def floors(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """{distribution: floor} for the job; raises ValueError naming any requirement without a
    plain ``>=`` floor, or one distribution given two different floors."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    reqs = list(project["dependencies"])
    for extra in EXTRAS:
        reqs += extras[extra]
    tools = {_norm(t) for t in TEST_TOOLS}
    reqs += [r for r in extras["test"] if _norm(re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0]) in tools]
    out: dict[str, str] = {}
    for req in reqs:
        m = _REQ.match(req)
        if m is None:
            raise ValueError(f"pyproject.toml: {req!r} must be written name>=floor (the "
                             "minimum-versions job installs each floor)")
        name, floor = _norm(m.group(1)), m.group(2)
        if out.get(name, floor) != floor:
            raise ValueError(f"pyproject.toml: {name} has two floors, {out[name]} and {floor}")
        out[name] = floor
    missing = tools - out.keys()
    if missing:
        raise ValueError(f"pyproject.toml: the test extra lacks {sorted(missing)}")
    return out


def _release(version: str) -> tuple[int, ...]:
    """``"15"``, ``"15.0"`` and ``"15.0.0"`` alike: the numbers, trailing zeros dropped."""
    nums = [int(x) for x in re.findall(r"\d+", version.split("+")[0])]
    while nums and nums[-1] == 0:
        nums.pop()
    return tuple(nums)


def pins() -> list[str]:
    """``name==floor`` lines, torch left out (see :data:`EXEMPT`)."""
    return [f"{name}=={floor}" for name, floor in sorted(floors().items()) if name not in EXEMPT]


def check() -> list[str]:
    """Problems: each pinned distribution not installed at exactly its floor."""
    problems = []
    for name, floor in sorted(floors().items()):
        if name in EXEMPT:
            continue
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed (floor {floor})")
            continue
        if _release(have) != _release(floor):
            problems.append(f"{name}: installed {have}, floor {floor}")
    return problems


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        problems = check()
        for p in problems:
            print(f"min-versions: {p}", file=sys.stderr)
        if not problems:
            print(f"min-versions: {len(pins())} distributions installed at their floors")
        return 1 if problems else 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    print("\n".join(pins()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
