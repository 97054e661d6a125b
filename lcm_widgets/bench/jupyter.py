"""Start a real JupyterLab or Notebook 7 on 127.0.0.1, and headless Chromium, for the browser
tests and ``lcm-widgets bench-live``.

Needs the ``test`` extra's ``playwright`` and ``nbformat`` and Debian's Chromium at
``/usr/bin/chromium`` (never ``playwright install``).

Everything lives in a temp folder (config, data, runtime, IPython, root, settings, workspaces);
the server gets a token, seeded settings (no news, no update check, auto-start kernels), and
the test's notebook gets a kernel session through ``POST /api/sessions`` *before* the page
opens, which avoids the "Select Kernel" dialog. :func:`open_notebook` still accepts that
dialog if it shows up anyway. Every page opened through :func:`chromium` runs
:data:`DEBUG_INIT_SCRIPT` first, which turns on the widget's test hooks (the ``data-*``
counters and ``__lcm``; docs/widget-protocol.md, "Browser test hooks").
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: The directory holding the ``lcm_widgets`` package (put on the kernel's PYTHONPATH).
REPO = Path(__file__).resolve().parents[2]
#: Runs before any page script: the widget exposes its test hooks only with this flag set.
DEBUG_INIT_SCRIPT = "globalThis.__LCM_WIDGETS_DEBUG__ = true"
#: The hooks a measurement needs (``root.__lcm`` and the frame trace) without the ``data-*``
#: counters, whose writes are DOM work on every frame (docs/widget-protocol.md).
TRACE_INIT_SCRIPT = 'globalThis.__LCM_WIDGETS_DEBUG__ = "trace"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server: where it is and how to reach its kernel."""

    app: str
    url: str
    token: str
    root: Path
    runtime: Path
    proc: subprocess.Popen[bytes]
    log: Path
    kernel_id: str = ""

    def api(self, path: str, body: dict[str, Any] | None = None,
            method: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data,
                                     method=method or ("POST" if body else "GET"),
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def page_url(self, notebook: str, *, reset: bool = False) -> str:
        """The notebook's page; ``reset``: JupyterLab forgets the tabs it would restore."""
        route = "lab/tree" if self.app == "lab" else "notebooks"
        extra = "&reset" if reset and self.app == "lab" else ""
        return f"{self.url}/{route}/{notebook}?token={self.token}{extra}"

    def kernel_client(self) -> Any:
        """A jupyter_client connected to the notebook's kernel (to read ``studio.stats``)."""
        from jupyter_client import BlockingKernelClient

        sessions = self.api("/api/sessions")
        ids = [s["kernel"]["id"] for s in sessions if s.get("kernel")]
        if self.kernel_id not in ids and ids:  # the page replaced the kernel we started
            self.kernel_id = ids[-1]
        path = self.runtime / f"kernel-{self.kernel_id}.json"
        if not path.exists():  # jupyter_server may name it differently: take the newest
            path = max(self.runtime.glob("kernel-*.json"), key=lambda p: p.stat().st_mtime)
        kc = BlockingKernelClient(connection_file=str(path))
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=30)
        return kc

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


#: JupyterLab's own kernel-connection errors: a pending request (here the subshell that
#: JupyterLab creates for widget comms) whose future it disposes when the kernel connection
#: resets under load. Nothing of ours sends these requests.
_JUPYTERLAB_OWN = re.compile(r"Canceled future for \w+ message before replies were done")
#: A stack frame in the Jupyter server's own bundles (``/static/lab/``, ``/static/notebook/``);
#: our widget's code runs from anywidget's ``blob:`` module URL instead.
_JUPYTER_FRAME = re.compile(r"https?://[^\s)]+/static/(lab|notebook)/[^\s)]+")


def jupyter_own(error: str) -> bool:
    """True for a page error of JupyterLab's or Notebook 7's own (``error``: the message,
    optionally followed by its stack, as :func:`page_error_text` records it): a known message,
    or a stack whose every frame lies in Jupyter's own bundles."""
    if _JUPYTERLAB_OWN.search(error):
        return True
    frames = [ln.strip() for ln in error.splitlines()[1:] if ln.strip().startswith("at ")]
    return bool(frames) and "blob:" not in error and all(
        _JUPYTER_FRAME.search(f) or f.startswith("at async Promise.all") for f in frames)


def page_error_text(error: Any) -> str:
    """A Playwright page error as ``message`` + newline + ``stack`` (for :func:`jupyter_own`)."""
    stack = getattr(error, "stack", None) or ""
    return f"{error}\n{stack}" if stack else str(error)


def page_errors_of_ours(errors: list[str]) -> list[str]:
    """Page errors minus Jupyter's own (:func:`jupyter_own`; printed to stderr, not hidden, so
    that a command's ``--json`` stdout stays one JSON document)."""
    own = [e for e in errors if jupyter_own(e)]
    if own:
        print(f"[e2e] Jupyter's own page errors (not ours): {own}", file=sys.stderr)
    return [e for e in errors if not jupyter_own(e)]


def stop_process(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """Terminate ``proc``; kill it if it is still there after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def kernel_eval(kc: Any, code: str, timeout: float = 60) -> str:
    """Run ``code`` in the kernel through ``kc``; return its stdout (raise on an error)."""
    msg_id = kc.execute(code, store_history=False)
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)


def write_notebook(path: Path, cells: list[str]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))


def _seed_settings(settings: Path) -> None:
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
            {"autoStartDefaultKernel": True},
    }
    for rel, value in files.items():
        p = settings / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value))


@contextlib.contextmanager
def jupyter_server(tmp: Path, *, app: str = "lab", notebook: str = "test.ipynb",
                   nodelay: bool = False, env: dict[str, str] | None = None
                   ) -> Iterator[Server]:
    """Start ``jupyter lab`` or ``jupyter notebook`` with everything under ``tmp``; create a
    kernel session for ``root/notebook`` (the file must exist); stop it all on exit."""
    dirs = {n: tmp / n for n in ("cfg", "data", "rt", "ipy", "root", "settings", "ws")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    _seed_settings(dirs["settings"])
    port, token = free_port(), secrets.token_hex(16)
    klass = "LabApp" if app == "lab" else "JupyterNotebookApp"
    cmd = [sys.executable, "-m", "jupyterlab" if app == "lab" else "notebook",
           "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={dirs['root']}",
           f"--{klass}.user_settings_dir={dirs['settings']}",
           f"--{klass}.workspaces_dir={dirs['ws']}", "--allow-root"]
    if app == "lab":
        cmd += ["--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if nodelay:
        cmd.append('--ServerApp.jpserver_extensions={"lcm_widgets.jupyter_nodelay": True}')
    penv = {**os.environ, "JUPYTER_CONFIG_DIR": str(dirs["cfg"]),
            "JUPYTER_DATA_DIR": str(dirs["data"]), "JUPYTER_RUNTIME_DIR": str(dirs["rt"]),
            "IPYTHONDIR": str(dirs["ipy"]), "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])),
            **(env or {})}
    log = tmp / f"{app}-server.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=dirs["root"], env=penv, stdout=fh,
                                stderr=subprocess.STDOUT)
    server = Server(app, f"http://127.0.0.1:{port}", token, dirs["root"], dirs["rt"], proc, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter {app} exited:\n{server.log_tail()}")
            try:
                server.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter {app} did not start:\n{server.log_tail()}"
                                       ) from None
                time.sleep(0.2)
        sess = server.api("/api/sessions", {"path": notebook, "type": "notebook",
                                            "name": notebook, "kernel": {"name": "python3"}})
        server.kernel_id = sess["kernel"]["id"]
        yield server
    finally:
        stop_process(proc)


class DebugBrowser:
    """A Playwright browser whose new pages and contexts run :data:`DEBUG_INIT_SCRIPT`."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_page(self, **kwargs: Any) -> Any:
        page = self._browser.new_page(**kwargs)
        page.add_init_script(DEBUG_INIT_SCRIPT)
        return page

    def new_context(self, **kwargs: Any) -> Any:
        context = self._browser.new_context(**kwargs)
        context.add_init_script(DEBUG_INIT_SCRIPT)
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


#: Extra Chromium flags for a fake webcam that needs no permission prompt (``chromium(args=)``).
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@contextlib.contextmanager
def chromium(args: list[str] | None = None) -> Iterator[Any]:
    """A headless Debian Chromium through Python Playwright (never ``playwright install``);
    its pages have the widget's test hooks on (:class:`DebugBrowser`). ``args``: flags added
    to :data:`CHROMIUM_ARGS` (e.g. :data:`FAKE_CAMERA_ARGS`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *(args or [])])
        try:
            yield DebugBrowser(browser)
        finally:
            browser.close()


def open_notebook(page: Any, server: Server, notebook: str, *, reset: bool = False) -> None:
    """Open the notebook and wait until its kernel is idle (accepting a kernel dialog);
    ``reset``: as the only tab (JupyterLab restores no earlier one)."""
    page.goto(server.page_url(notebook, reset=reset))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        accept_dialogs(page)
        if page.query_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']") or \
                page.get_by_text("Idle").count():
            return
        time.sleep(0.25)
    raise TimeoutError("the notebook's kernel never became idle")


def accept_dialogs(page: Any) -> list[str]:
    """Accept every open JupyterLab dialog (a late "Select Kernel", a server-connection notice
    on a loaded machine); returns their texts, which are also printed so a log shows them."""
    texts = []
    for _ in range(5):
        dialog = page.query_selector(".jp-Dialog")
        if dialog is None:
            break
        text = " ".join((dialog.text_content() or "").split())
        texts.append(text)
        print(f"[lcm e2e] accepting a JupyterLab dialog: {text[:200]!r}", file=sys.stderr)
        button = dialog.query_selector(".jp-mod-accept") or dialog.query_selector("button")
        if button is None:
            page.keyboard.press("Escape")
        else:
            button.click()
        with contextlib.suppress(Exception):  # playwright's TimeoutError: it stays open
            page.wait_for_selector(".jp-Dialog", state="detached", timeout=5_000)
    return texts


def run_first_cell(page: Any) -> None:
    """Run the first cell (click its editor, Escape to command mode, Shift+Enter), accepting
    any dialog that covers it first."""
    editor = ".jp-Cell >> nth=0 >> .jp-InputArea-editor"
    for _ in range(3):
        accept_dialogs(page)
        try:
            page.click(editor, timeout=10_000)
            break
        except Exception:  # playwright's TimeoutError: a dialog opened meanwhile
            continue
    else:
        accept_dialogs(page)
        page.click(editor)
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Enter")


def run_first_cell_until(page: Any, selector: str, *, timeout: float = 240.0,
                         artifacts: Path | None = None) -> None:
    """Run the first cell and wait for ``selector``; run it again if it never started.

    On a loaded machine the front end can report an idle kernel before its websocket is ready,
    and Shift+Enter then does nothing (the prompt stays ``[ ]:``). A cell that did start
    (``[*]:`` or ``[n]:``) is only waited for, never re-run. A screenshot is saved on failure.
    """
    deadline = time.monotonic() + timeout
    run_first_cell(page)
    while time.monotonic() < deadline:
        try:
            page.wait_for_selector(selector, timeout=20_000)
            return
        except Exception:  # playwright's TimeoutError
            prompt = page.text_content(".jp-Cell >> nth=0 >> .jp-InputPrompt") or ""
            if "*" not in prompt and not any(ch.isdigit() for ch in prompt):
                run_first_cell(page)
    if artifacts is not None:
        artifacts.mkdir(exist_ok=True)
        page.screenshot(path=str(artifacts / "run-first-cell-timeout.png"), full_page=True)
    raise TimeoutError(f"{selector} did not appear within {timeout:.0f} s of running the cell")


def scribble(page: Any, box: dict[str, float], *, seconds: float, seed: int = 0,
             step_ms: float = 16) -> int:
    """Draw random strokes over ``box`` for ``seconds``; returns the number of strokes."""
    import random

    rng = random.Random(seed)
    strokes = 0
    end = time.monotonic() + seconds
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    while time.monotonic() < end:
        x, y = x0 + w * rng.uniform(0.1, 0.9), y0 + h * rng.uniform(0.1, 0.9)
        page.mouse.move(x, y)
        page.mouse.down()
        for _ in range(rng.randint(8, 20)):
            x = min(x0 + w * 0.95, max(x0 + w * 0.05, x + rng.uniform(-25, 25)))
            y = min(y0 + h * 0.95, max(y0 + h * 0.05, y + rng.uniform(-25, 25)))
            page.mouse.move(x, y, steps=2)
            if step_ms > 0:
                page.wait_for_timeout(step_ms)
        page.mouse.up()
        strokes += 1
    return strokes


class CdpChromium:
    """A headless Chromium that *we* started (``--remote-debugging-port``), so that Playwright
    can attach over CDP for the setup, detach while the page runs on its own, and attach again
    to read what the page recorded (``lcm-widgets bench-live --driver synth``).

    Pages live in the browser's default context, which outlives a detach (a context Playwright
    creates would be closed by it). :meth:`attach` returns a :class:`DebugBrowser`;
    :meth:`detach` drops the CDP connection (nothing of Playwright's stays in the page).
    """

    def __init__(self, pw: Any, endpoint: str, init_script: str = DEBUG_INIT_SCRIPT) -> None:
        self._pw = pw
        self.endpoint = endpoint
        self.init_script = init_script
        self._browser: Any = None

    def attach(self) -> Any:
        if self._browser is None:
            self._browser = self._pw.chromium.connect_over_cdp(self.endpoint)
            self._browser.contexts[0].add_init_script(self.init_script)
        return self._browser

    def detach(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(Exception):
                self._browser.close()  # over CDP: disconnects, the default context stays
            self._browser = None

    def new_page(self) -> Any:
        return self.attach().contexts[0].new_page()

    def page(self, url_part: str) -> Any:
        """The open page whose URL contains ``url_part`` (after an :meth:`attach`)."""
        for p in self.attach().contexts[0].pages:
            if url_part in p.url:
                return p
        raise LookupError(f"no open page at {url_part!r}")


def page_ws_url(endpoint: str, url_part: str, timeout: float = 30.0) -> str:
    """The CDP WebSocket address of the open page whose URL contains ``url_part``."""
    with urllib.request.urlopen(f"{endpoint}/json/list", timeout=timeout) as r:
        targets = json.load(r)
    for t in targets:
        if t.get("type") == "page" and url_part in t.get("url", ""):
            return str(t["webSocketDebuggerUrl"])
    raise LookupError(f"no open page at {url_part!r}")


class RawCdp:
    """A bare CDP connection to one page of a :class:`CdpChromium` (``websockets``, no
    Playwright), for what the bench asks while the page runs on its own.

    Playwright, each time it attaches, makes a new isolated world (a V8 context of its own) in
    every frame of every page, and those stay after it detaches: a soak that attached for each
    sample measured its own worlds as JS heap growth (docs/benchmarks.md, "Live widget"). This
    connection only sends commands: ``Runtime.evaluate`` runs in the page's main world.
    """

    def __init__(self, endpoint: str, url_part: str, timeout: float = 30.0) -> None:
        from websockets.sync.client import connect

        self.timeout = timeout
        self._ws = connect(page_ws_url(endpoint, url_part, timeout), max_size=None,
                           open_timeout=timeout)
        self._id = 0

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one command and return its result (events that come meanwhile are skipped)."""
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + self.timeout
        while True:
            msg = json.loads(self._ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            if msg.get("id") != self._id:
                continue
            if "error" in msg:
                raise RuntimeError(f"CDP {method}: {msg['error']}")
            return dict(msg.get("result") or {})

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page's main world (JSON-able values only)."""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression!r} threw: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def heap_used(self) -> int:
        """The page's used JS heap (bytes) after a full garbage collection."""
        self.send("HeapProfiler.collectGarbage")
        return int(self.send("Runtime.getHeapUsage")["usedSize"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()

    def __enter__(self) -> RawCdp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def chromium_cdp(tmp: Path, args: list[str] | None = None,
                 init_script: str = DEBUG_INIT_SCRIPT) -> Iterator[CdpChromium]:
    """Start Debian's Chromium headless with a debugging port on 127.0.0.1 (profile under
    ``tmp``) and Playwright's driver; stop both on exit. ``init_script`` runs before any page
    script (the test hooks, :data:`DEBUG_INIT_SCRIPT` by default)."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    profile = tmp / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    cmd = [CHROMIUM, *CHROMIUM_ARGS, *(args or []), f"--remote-debugging-port={port}",
           "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}",
           "--window-size=1280,1000", "about:blank"]
    log = (tmp / "chromium.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chromium exited ({proc.returncode}); see {tmp}/chromium.log")
            try:
                with urllib.request.urlopen(f"{endpoint}/json/version", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("chromium's debugging port never answered") from None
                time.sleep(0.2)
        with sync_playwright() as p:
            cdp = CdpChromium(p, endpoint, init_script)
            try:
                yield cdp
            finally:
                cdp.detach()
    finally:
        stop_process(proc)
        log.close()
