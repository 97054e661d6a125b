"""The model cache: where it lives (env override, XDG, platform) and building once across
processes (a file lock around the build and rename; stale temp folders removed)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lcm_widgets.models import cache
from lcm_widgets.models.cache import build_once, cache_root


def test_env_override_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """$LCM_WIDGETS_CACHE beats XDG_CACHE_HOME (and expands ~)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LCM_WIDGETS_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.setenv("LCM_WIDGETS_CACHE", "~/models")
    assert cache_root() == Path.home() / "models"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rules are Linux's")
def test_xdg_cache_home_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without the override: $XDG_CACHE_HOME/lcm_widgets, else ~/.cache/lcm_widgets — through
    platformdirs and through the fallback written out by hand."""
    monkeypatch.delenv("LCM_WIDGETS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "lcm_widgets"
    assert cache._cache_by_hand() == tmp_path / "xdg" / "lcm_widgets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "lcm_widgets"
    assert cache._cache_by_hand() == Path.home() / ".cache" / "lcm_widgets"


@pytest.mark.parametrize(("platform", "expected"), [
    ("darwin", ("Library", "Caches", "lcm_widgets")),
    ("win32", ("AppData", "Local", "lcm_widgets", "Cache")),
])
def test_fallback_follows_macos_and_windows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            platform: str, expected: tuple[str, ...]) -> None:
    """Without platformdirs, the macOS and Windows conventions are written out by hand."""
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(lambda: tmp_path))
    assert cache._cache_by_hand() == tmp_path.joinpath(*expected)


def _builder(calls: list[str]) -> tuple[Callable[[Path], None], Callable[[Path], bool]]:
    def build(tmp: Path) -> None:
        calls.append(tmp.name)
        (tmp / "done.txt").write_text("ok")

    def done(folder: Path) -> bool:
        return (folder / "done.txt").is_file()

    return build, done


def test_build_once_removes_stale_temp_folders(tmp_path: Path) -> None:
    """A killed build's .<name>-XXXX folder is removed by the next build of that name; other
    names' folders are left alone; a finished folder is returned without building again."""
    stale = tmp_path / ".model-a-k1ll3d"
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"x")
    other = tmp_path / ".model-b-busy"
    other.mkdir()
    calls: list[str] = []
    build, done = _builder(calls)
    final = build_once(tmp_path / "model-a", build, done, "test")
    assert (final / "done.txt").read_text() == "ok" and len(calls) == 1
    assert not stale.exists() and other.exists()
    assert build_once(final, build, done, "test") == final
    assert len(calls) == 1


def test_build_once_threads_build_once(tmp_path: Path) -> None:
    """Eight threads asking at once: one build, every caller gets the finished folder."""
    calls: list[str] = []
    build, done = _builder(calls)
    out: list[Path] = []
    go = threading.Barrier(8)

    def ask() -> None:
        go.wait()
        out.append(build_once(tmp_path / "m", build, done, "test"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert out == [tmp_path / "m"] * 8 and len(calls) == 1


_BUILD = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
from lcm_widgets.models.tiny import ensure_tiny_model
print(ensure_tiny_model(Path(sys.argv[1])), flush=True)
"""


def test_two_processes_build_the_tiny_model_once(tmp_path: Path) -> None:
    """Two processes calling the builder at the same moment: one builds (its log says so), the
    other waits for it; both print the same complete folder and no temp folder is left."""
    pytest.importorskip("diffusers")
    root = tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD, str(root)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    folders = {out.strip() for out, _ in results}
    logs = "".join(err for _, err in results)
    assert len(folders) == 1, results
    final = Path(folders.pop())
    assert (final / "pipeline" / "model_index.json").is_file()
    assert logs.count("tiny model: building ") == 1, logs
    assert sorted(p.name for p in root.iterdir()) == [f".{final.name}.lock", final.name]
