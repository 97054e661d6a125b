"""The README as a newcomer meets it: every Python code block runs verbatim, and (opt-in, it
takes minutes) its install and test commands work, as written, in a fresh virtual environment.

Each Python block runs in its own fresh interpreter in an empty temporary folder, so a block
that reads a file it did not make fails here as it would for a reader.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")

#: (first line number, code) of each fenced block in README.md, by language
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(lang: str) -> list[tuple[int, str]]:
    return [(README.count("\n", 0, m.start()) + 1, m.group(2)) for m in BLOCK.finditer(README)
            if m.group(1) == lang]


PYTHON = blocks("python")


def test_the_readme_has_python_blocks() -> None:
    assert len(PYTHON) >= 2, "the README's Python examples were not found"


@pytest.mark.parametrize("line,code", PYTHON, ids=[f"README.md:{n}" for n, _ in PYTHON])
def test_python_block_runs_verbatim(line: int, code: str, tmp_path: Path,
                                    model_cache: str) -> None:
    pytest.importorskip("diffusers")
    (tmp_path / "block.py").write_text(code, encoding="utf-8")
    proc = subprocess.run([sys.executable, "block.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, f"README.md:{line} failed:\n{proc.stdout}\n{proc.stderr}"
    # nothing printed to stderr but progress bars (no warnings, no pending-task noise at exit)
    noise = [ln for ln in re.split(r"[\r\n]+", proc.stderr)
             if ln.strip() and not re.search(r"\|\s*\d+/\d+ \[", ln)]
    assert not noise, f"README.md:{line} printed:\n" + "\n".join(noise)
    for name in re.findall(r'open\("([^"]+)", "wb"\)', code):
        assert (tmp_path / name).stat().st_size > 0, f"README.md:{line} did not write {name}"


# ---------------------------------------------------------------- the commands, in a clean venv

def _command_after(marker: str | None, index: int = 0) -> str:
    """The one-line bash block after ``marker`` (or the ``index``-th bash block)."""
    if marker is not None:
        tail = README.split(marker, 1)[1]
        return BLOCK.search(tail).group(2).strip()  # type: ignore[union-attr]
    return blocks("bash")[index][1].strip()


def test_the_commands_are_where_ci_expects_them() -> None:
    install, test = _command_after(None, 0), _command_after("<!-- test-command -->")
    assert install.startswith("pip install torch==2.13.0 && pip install -e "), install
    assert "python -m pytest" in test and '".[all,test]"' in test, test


@pytest.mark.skipif(not os.environ.get("LCM_WIDGETS_CLEAN_VENV_TEST"),
                    reason="builds a fresh venv and installs every extra (minutes); set "
                           "LCM_WIDGETS_CLEAN_VENV_TEST=1 to run")
def test_readme_commands_in_a_clean_venv(tmp_path: Path) -> None:
    """The install command (without its final ``lcm-widgets demo``, which serves until stopped),
    then the test command up to pytest, then pytest collecting everything and running the
    README blocks and the schema tests. It runs on a copy of the checkout (git's tracked and
    unignored files), so ``npm ci`` does not touch this working tree."""
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv),
               LCM_WIDGETS_CLEAN_VENV_TEST="")

    def sh(command: str, timeout: float) -> str:
        proc = subprocess.run(["bash", "-c", command], cwd=src, env=env, capture_output=True,
                              text=True, timeout=timeout)
        assert proc.returncode == 0, f"`{command}` failed:\n{proc.stdout[-4000:]}\n" \
                                     f"{proc.stderr[-4000:]}"
        return proc.stdout

    install = _command_after(None, 0)
    assert install.endswith(" && lcm-widgets demo"), install
    sh(install.removesuffix(" && lcm-widgets demo") + " && lcm-widgets demo --print-command",
       3600)
    test = _command_after("<!-- test-command -->")
    setup, pytest_args = test.split(" && python -m pytest", 1)
    if shutil.which("npm") is None:
        setup = setup.replace(" && (cd js && npm ci --no-audit --no-fund)", "")
    sh(setup, 3600)
    collected = sh("python -m pytest --collect-only -q -p no:cacheprovider", 900)
    summary = collected.strip().splitlines()[-1]  # "1088 tests collected in 96.41s"
    assert re.match(r"\d+ tests? collected in ", summary), collected[-3000:]
    sh("python -m pytest -q -p no:cacheprovider tests/test_readme.py tests/test_schema.py",
       1800)
    assert "--cov-fail-under" in pytest_args  # the rest of the line is what CI runs in full
