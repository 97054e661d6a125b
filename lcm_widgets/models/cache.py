"""Where built models live, and building one exactly once across processes.

:func:`cache_root` follows the platform's convention for caches, with an override:

1. ``$LCM_WIDGETS_CACHE`` when set;
2. else platformdirs' ``user_cache_dir("lcm_widgets")`` when platformdirs is installed (it comes
   with the ``local`` extra): ``$XDG_CACHE_HOME/lcm_widgets`` or ``~/.cache/lcm_widgets`` on
   Linux, ``~/Library/Caches/lcm_widgets`` on macOS, ``%LOCALAPPDATA%\\lcm_widgets\\Cache`` on
   Windows;
3. else the same three rules written out here.

:func:`build_once` builds a folder in a temporary sibling (``.<name>-XXXX``) and renames it into
place while holding a file lock (``.<name>.lock``, :mod:`filelock`), so two processes asking for
the same model at once build it once: the second waits, then finds it complete. Temporary
folders a killed build left behind are removed by the next build of that name (under the lock,
so never one that is still being written).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["build_once", "cache_root"]

log = logging.getLogger("lcm_widgets.models")
APP = "lcm_widgets"


def cache_root() -> Path:
    """``$LCM_WIDGETS_CACHE``, else the platform's user cache folder for ``lcm_widgets``."""
    env = os.environ.get("LCM_WIDGETS_CACHE")
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        return _cache_by_hand()
    return Path(user_cache_dir(APP, appauthor=False))


def _cache_by_hand() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base_dir = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # XDG: absolute only
    return base_dir / APP


def build_once(final: Path, build: Callable[[Path], None], done: Callable[[Path], bool],
               what: str) -> Path:
    """Return ``final``, building it with ``build(tmp_folder)`` unless ``done(final)`` says it
    is complete. Safe when several processes (or threads) call it at once: one builds, the
    others wait on the lock and then return the finished folder."""
    if done(final):
        return final
    from .._extras import need

    need("local", "filelock", what=f"building {what}")
    from filelock import FileLock, Timeout

    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / f".{final.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("%s: another process is building %s; waiting for it", what, final)
        lock.acquire()
    try:
        if done(final):
            return final
        _remove_stale(root, final.name)
        log.info("%s: building %s", what, final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
        try:
            build(tmp)
            if final.exists():  # an incomplete folder from an older, lockless build
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("%s: built %s", what, final)
        return final
    finally:
        lock.release()


def _remove_stale(root: Path, name: str) -> None:
    """Remove ``.<name>-*`` folders: builds of ``name`` that were killed (we hold its lock, so
    none of them is still running)."""
    for path in root.glob(f".{name}-*"):
        if path.is_dir():
            log.info("removing %s, left by an interrupted build", path)
            shutil.rmtree(path, ignore_errors=True)
