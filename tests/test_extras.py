"""Extras: each feature that needs one fails, when it is missing, with the exact install line.

"Missing" is real here: each case runs in a fresh interpreter whose ``sys.meta_path`` starts
with a finder that refuses the extra's modules, exactly as Python reports an uninstalled
package (ModuleNotFoundError), while the rest of the environment stays as installed.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lcm_widgets._extras import EXTRAS, install_line

REPO = Path(__file__).resolve().parents[1]

_BLOCKER = """
import sys
BLOCKED = {blocked!r}

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
"""

CASES = {
    "compare-pandas": (["pandas"], "compare", """
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.widgets.compare import Compare
grid = Compare(backend=EchoBackend(), steps=[2, 4])
try:
    grid.to_dataframe()
finally:
    grid.close()
"""),
    "compare-matplotlib": (["matplotlib"], "compare", """
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.widgets.compare import Compare
grid = Compare(backend=EchoBackend(), steps=[2, 4])
try:
    grid.plot_latency()
finally:
    grid.close()
"""),
    "notebook-demo": (["jupyterlab"], "notebook", """
from lcm_widgets.cli import main
sys.exit(main(["demo", "--print-command"]))
"""),
    "server-import": (["fastapi"], "server", "import lcm_widgets.server\n"),
    "server-cli": (["uvicorn"], "server", """
from lcm_widgets.cli import main
sys.exit(main(["serve", "--model", "echo", "--port", "0"]))
"""),
    "remote-realtime": (["websockets"], "remote", """
from lcm_widgets import RealtimeBackend
RealtimeBackend(base_url="http://127.0.0.1:9", key="a:b")
"""),
    "remote-http": (["httpx"], "remote", """
from lcm_widgets import HttpBackend
HttpBackend(base_url="http://127.0.0.1:9", key="a:b")
"""),
    "local-lcm": (["torch"], "local", """
from lcm_widgets import LocalLCM
LocalLCM("tiny")
"""),
    "local-tiny-build": (["diffusers"], "local", """
import tempfile
from pathlib import Path
from lcm_widgets.models.tiny import ensure_tiny_model
ensure_tiny_model(Path(tempfile.mkdtemp()))
"""),
    "local-filelock": (["filelock"], "local", """
import tempfile
from pathlib import Path
from lcm_widgets.models.tiny import ensure_tiny_model
ensure_tiny_model(Path(tempfile.mkdtemp()))
"""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_missing_extra_names_the_install_line(case: str) -> None:
    """With the extra's module made unimportable, the feature fails (exception or exit 1)
    and its message has ``pip install "lcm-widgets[EXTRA]"`` word for word."""
    blocked, extra, code = CASES[case]
    script = _BLOCKER.format(blocked=set(blocked)) + code
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode != 0, out
    text = out.stdout + out.stderr
    assert install_line(extra) in text, text[-3000:]
    assert blocked[0] in text, text[-3000:]


def test_extras_table_matches_pyproject() -> None:
    """Every extra the code names exists in pyproject.toml and brings the modules it lists;
    ``all`` includes every one."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    norm = {"pillow": "PIL"}
    for extra, (_, modules) in EXTRAS.items():
        assert extra in extras, extra
        names = {req.split(">")[0].split("=")[0].split("[")[0].strip().replace("-", "_")
                 for req in extras[extra]}
        for module in modules:
            assert norm.get(module, module) in names, (extra, module, names)
    all_line = extras["all"][0]
    for extra in EXTRAS:
        assert extra in all_line, (extra, all_line)


def test_readme_lists_every_extra() -> None:
    """The README's install table has one row per extra."""
    readme = (REPO / "README.md").read_text()
    for extra in (*EXTRAS, "all"):
        assert f"| `{extra}` |" in readme, extra
