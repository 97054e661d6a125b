"""``lcm-widgets serve`` as a real subprocess: killed mid-queue and restarted on its state
directory (every accepted job completes once), and its log lines (no secrets in them)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import websockets
from server_helpers import APP, AUTH, KEY, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lcm_widgets.server import ServerThread
from lcm_widgets.server.store import JobStore


class Serve:
    """``lcm-widgets serve --model echo --port PORT ...`` with its output collected."""

    def __init__(self, port: int, *args: str) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in {"FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"}}
        env["LCM_WIDGETS_KEYS"] = KEY
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lcm_widgets", "serve", "--model", "echo", "--port",
             str(port), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)  # uvicorn's access log is on stdout, the rest on stderr
        self.lines: list[str] = []
        self.url = f"http://127.0.0.1:{port}"
        started = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                if "health    http://" in line:
                    started.set()
            started.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not started.wait(60) or self.proc.poll() is not None:
            self.stop()
            raise AssertionError("serve did not start:\n" + "".join(self.lines))

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a crash or an OOM kill."""
        self.proc.kill()
        self.proc.wait(20)
        self.reader.join(10)

    def stop(self) -> None:
        """Ctrl-C, then wait; the log is complete afterwards."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
                self.proc.wait()
        self.reader.join(10)

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = httpx.get(self.url + "/health").json()
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Hook:
    """A webhook receiver counting deliveries per request id."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

        async def hook(request: Request) -> JSONResponse:
            body = await request.json()
            with self.lock:
                self.ids.append(body["request_id"])
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def test_killed_server_finishes_every_accepted_job_once_after_restart(tmp_path: Path) -> None:
    """Five queue jobs accepted: the first finishes (and its webhook is delivered), the second
    hangs, three wait. SIGKILL. A server started on the same --state-dir answers the first
    from disk (its image too), runs the other four (the hung one ends by the generation
    timeout), and each job's webhook arrives exactly once across both servers."""
    state = str(tmp_path / "state")
    port = _free_port()
    hook = Hook()
    with ServerThread(hook.app) as hook_srv:
        hook_url = f"{hook_srv.url}/hook"
        first = Serve(port, "--state-dir", state, "--webhook-allow", "127.0.0.1")
        try:
            subs = []
            for prompt in ("one", "!hang", "three", "four", "five"):
                r = httpx.post(f"{first.url}/queue/{APP}", params={"fal_webhook": hook_url},
                               json={"prompt": prompt, "seed": 1}, headers=AUTH)
                assert r.status_code == 200, r.text
                subs.append(r.json())
            wait_until(lambda: first.health()["webhooks"]["delivered"] == 1,
                       what="the first job's webhook")
            assert httpx.get(subs[1]["status_url"], headers=AUTH).json()["status"] == \
                "IN_PROGRESS"
            one = httpx.get(subs[0]["response_url"], headers=AUTH).json()
        finally:
            first.kill()
        assert hook.ids == [subs[0]["request_id"]]

        second = Serve(port, "--state-dir", state, "--webhook-allow", "127.0.0.1",
                       "--generation-timeout", "1")
        try:
            for sub in subs:
                wait_until(lambda s=sub: httpx.get(s["status_url"], headers=AUTH).json()
                           ["status"] == "COMPLETED", what=f"job {sub['request_id']}")
            wait_until(lambda: len(hook.ids) == 5, what="every webhook")
            health = second.health()
            results = [httpx.get(s["response_url"], headers=AUTH) for s in subs]
            image = httpx.get(one["images"][0]["url"])
            logs = httpx.get(subs[2]["status_url"] + "?logs=1", headers=AUTH).json()["logs"]
        finally:
            second.stop()
    assert sorted(hook.ids) == sorted(s["request_id"] for s in subs)  # once each
    assert results[0].json() == one
    assert image.status_code == 200 and len(image.content) == one["images"][0]["file_size"]
    assert results[1].status_code == 504
    assert results[1].json()["error_type"] == "generation_timeout"
    assert [r.json()["prompt"] for r in results[2:]] == ["three", "four", "five"]
    assert any("queued again after a server restart (it was IN_QUEUE)" in e["message"]
               for e in logs)
    kept = health["kept"]["queue_jobs"]
    assert kept["durable"] is True and kept["stored"] == 5 and kept["retention_s"] == 86400
    assert kept["restored"] == {"finished": 1, "requeued": 4, "webhooks": 0}


def test_tokens_and_keys_never_reach_the_log() -> None:
    """The access log of a realtime connect with ?fal_jwt_token= and the lines of a request
    with an API key show [REDACTED] where the secrets were."""
    srv = Serve(_free_port(), "--log-level", "info")
    try:
        token = httpx.post(f"{srv.url}/tokens/", headers=AUTH,
                           json={"allowed_apps": ["fast-lcm-diffusion"]}).json()

        async def connect() -> None:
            url = f"ws://127.0.0.1:{srv.url.rsplit(':', 1)[1]}/{APP}/realtime"
            async with websockets.connect(f"{url}?fal_jwt_token={token}&max_buffering=4",
                                          open_timeout=10):
                pass

        asyncio.run(connect())
        httpx.get(f"{srv.url}/health", params={"fal_jwt_token": token, "key": KEY})
        assert httpx.post(f"{srv.url}/{APP}", json={"prompt": "x"}, headers=AUTH
                          ).status_code == 200
    finally:
        srv.stop()
    log = "".join(srv.lines)
    secret = KEY.split(":", 1)[1]
    assert token.split(".")[2] not in log and secret not in log, log
    assert re.search(r'"WebSocket /fal-ai/fast-lcm-diffusion/realtime\?fal_jwt_token='
                     r'\[REDACTED\]&max_buffering=4"', log), log
    assert "/health?fal_jwt_token=[REDACTED]&key=[REDACTED]" in log, log
    assert f'"POST /{APP} HTTP/1.1" 200' in log, log


def test_store_forgets_finished_jobs_after_the_retention(tmp_path: Path) -> None:
    """A finished job (and its images) is deleted once older than job_retention; an
    unfinished one is kept however old, so it still runs after a restart."""
    store = JobStore(tmp_path, retention=60.0)
    try:
        for job_id in ("done", "waiting"):
            store.add(job_id, owner="k", app_id=APP, inp={"prompt": job_id},
                      base_url="http://127.0.0.1:1/", webhook=None)
        store.finished("done", {"result": {"images": []}}, [("f1", "image/jpeg", b"jpeg")])
        assert store.prune() == 0 and store.file("f1") == (b"jpeg", "image/jpeg")
        finished = store.get("done")
        assert finished is not None and finished.finished is not None
        assert store.prune(now=finished.finished + 61.0) == 1
        assert store.get("done") is None and store.file("f1") is None
        assert [j.id for j in store.load()] == ["waiting"]
    finally:
        store.close()
