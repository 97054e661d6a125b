"""``lcm-widgets demo``: JupyterLab on the quickstart notebook, on 127.0.0.1.

Works with no GPU and no network: the quickstart falls back to the bundled ``tiny`` model. The
notebook is copied into a working folder (``--dir``, default ``./lcm-widgets-demo``) unless a
copy is already there, so your edits survive the next run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from ..errors import LCMWidgetsError

NOTEBOOK = "01_quickstart.ipynb"


def find_notebook() -> Path:
    """The quickstart shipped with the package, or the one in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "notebooks" / NOTEBOOK, here.parent / "notebooks" / NOTEBOOK):
        if candidate.is_file():
            return candidate
    raise LCMWidgetsError(f"notebook: could not find {NOTEBOOK} next to the package "
                          f"({here}); reinstall lcm-widgets or run from a source checkout")


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(port: int) -> int:
    """``port`` if free, else the next free one (0 → any free port)."""
    if port == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    for p in range(port, port + 50):
        if port_is_free(p):
            return p
    raise LCMWidgetsError(f"port: no free port between {port} and {port + 49}")


def build_command(args: argparse.Namespace, port: int, workdir: Path) -> list[str]:
    """The JupyterLab command line. It holds no token: that travels in ``JUPYTER_TOKEN``
    (:func:`server_env`), because any local user can read a process's arguments (``ps``)."""
    cmd = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={workdir}", f"--LabApp.default_url=/lab/tree/{NOTEBOOK}"]
    if args.no_browser:
        cmd.append("--no-browser")
    if args.nodelay:
        cmd.append('--ServerApp.jpserver_extensions={"lcm_widgets.jupyter_nodelay": True}')
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def server_env(token: str) -> dict[str, str]:
    """This process's environment plus ``JUPYTER_TOKEN`` (read by jupyter_server's
    ``IdentityProvider.token``)."""
    return {**os.environ, "JUPYTER_TOKEN": token}


def run(args: argparse.Namespace) -> int:
    from .._extras import need

    need("notebook", "jupyterlab", what="lcm-widgets demo")
    workdir = Path(args.dir).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / NOTEBOOK
    if not target.exists():
        shutil.copyfile(find_notebook(), target)
    port = pick_port(args.port)
    token = secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}"
    print(f"lcm-widgets demo: JupyterLab on {workdir}", flush=True)
    print(f"lcm-widgets demo: open {url}", flush=True)
    if args.nodelay:
        print("lcm-widgets demo: TCP_NODELAY on (lcm_widgets.jupyter_nodelay)", flush=True)
    cmd = build_command(args, port, workdir)
    if args.print_command:
        print(" ".join(cmd))
        return 0
    os.chdir(workdir)
    env = server_env(token)
    if os.name == "posix":  # become the server: signals (Ctrl+C, SIGTERM) reach it directly
        os.execve(sys.executable, cmd, env)
    proc = subprocess.Popen(cmd, env=env)  # pragma: no cover - Windows
    try:  # pragma: no cover
        return proc.wait()
    except KeyboardInterrupt:  # pragma: no cover
        proc.terminate()
        proc.wait()
        return 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo", help="open JupyterLab on the quickstart notebook (no GPU or network needed)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--port", type=int, default=8888,
                   help="port on 127.0.0.1 (default 8888, the next free one if taken; 0 = any)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.add_argument("--dir", default="lcm-widgets-demo",
                   help="working folder for the notebook (default ./lcm-widgets-demo)")
    p.add_argument("--nodelay", action="store_true",
                   help="enable the lcm_widgets.jupyter_nodelay server extension (lower "
                        "latency, see docs/studio.md)")
    p.add_argument("--print-command", action="store_true",
                   help="print the jupyter command instead of running it")
    p.set_defaults(func=run)
