"""RealtimeBackend against a server that is SIGKILLed mid-stream (a real child process).

Each server is ``python -m lcm_widgets serve --model echo --no-auth`` on a fixed 127.0.0.1 port,
started as a child process and waited for on ``/health``; "killed" means ``proc.kill()``
(SIGKILL: no close frame, no graceful shutdown, the kernel resets the sockets). A restart binds
the same port, so the backend's URL stays valid and the *same* backend object must carry on.

To have a request provably in flight at the kill without a slow model, the server is first
frozen with SIGSTOP: the frame the client then sends sits unread in the server's socket, and
the SIGKILL lands while it is unanswered.

Every wait has a generous cap (a loaded 2-core box); nothing here asserts on speed.
"""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lcm_widgets.backends.realtime import RealtimeBackend
from lcm_widgets.errors import ConnectionClosed, RemoteError, Superseded
from lcm_widgets.schema import Output

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL/SIGSTOP")

CAP = 120.0  # safety cap on any single wait, seconds (never a timing assertion)
SMALL = {"width": 64, "height": 64}
# Reconnect quickly and, for the restart tests, practically forever: the budget is then bounded
# by the request timeout (CAP), not by how long a loaded box takes to start a server.
FAST = (0.02, 1.5, 0.25)


def patient(srv: Server) -> RealtimeBackend:
    """A backend that keeps reconnecting until its request timeout (CAP)."""
    return RealtimeBackend(base_url=srv.url, key=None, max_reconnects=100_000, backoff=FAST,
                           timeout=CAP)


def free_port() -> int:
    """A port nothing listens on right now (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jpeg(i: int, size: int = 64) -> bytes:
    """A small JPEG whose colour depends on ``i`` (what the Studio sends: raw bytes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), ((37 * i) % 256, 200, 30)).save(buf, "JPEG")
    return buf.getvalue()


def frame(i: int) -> dict[str, Any]:
    """Frame ``i``: its seed and request id both carry the frame number."""
    return {"prompt": f"frame {i}", "seed": i, "request_id": f"frame-{i}",
            "image_url": jpeg(i), "strength": 0.5, "image_size": SMALL}


def check(out: Output, i: int) -> None:
    """``out`` answers frame ``i`` (not an older or a replayed one)."""
    assert (out.seed, out.request_id) == (i, f"frame-{i}")
    assert out.images and out.images[0].data()[:3] == b"\xff\xd8\xff"


async def until(pred: Callable[[], bool], limit: float = CAP) -> None:
    """Wait for ``pred()`` (a safety cap, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not pred():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.005)


async def within(aw: Any, limit: float = CAP) -> Any:
    """``await aw`` with a hang guard."""
    return await asyncio.wait_for(aw, limit)


class Server:
    """``lcm-widgets serve --model echo --no-auth`` as a child process on a given port."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lcm_widgets", "serve", "--model", "echo", "--no-auth",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT)

    def health(self) -> dict[str, Any]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}/health", timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def wait_ready(self, limit: float = CAP) -> Server:
        end = time.monotonic() + limit
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server on port {self.port} exited with "
                                     f"{self.proc.returncode}:\n{self.log.read_text()}")
            try:
                body = self.health()
            except OSError:
                body = None
            if body is not None and body.get("status") == "ok":
                assert body["model"]["name"] == "echo" and body["auth"] is False
                return self
            if time.monotonic() > end:
                raise AssertionError(f"server on port {self.port} not healthy within {limit} s:"
                                     f"\n{self.log.read_text()}")
            time.sleep(0.05)

    def freeze(self) -> None:
        """SIGSTOP: the process stays alive but answers nothing (frames queue in its socket)."""
        self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL and reap: no close frame, no shutdown; the kernel resets its sockets."""
        if self.proc.poll() is None:
            self.proc.kill()  # works on a stopped process too
        self.proc.wait(timeout=60)
        assert self.proc.returncode == -signal.SIGKILL
        self._out.close()


Start = Callable[..., Server]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start echo servers as child processes (waiting for /health); SIGKILL them all at the end."""
    procs: list[Server] = []

    def _start(port: int | None = None) -> Server:
        srv = Server(port or free_port(), tmp_path / "server.log")
        procs.append(srv)
        return srv.wait_ready()

    try:
        yield _start
    finally:
        for srv in procs:
            if srv.proc.poll() is None:
                srv.proc.kill()
            try:
                srv.proc.wait(timeout=30)
            finally:
                srv._out.close()


async def start_async(start: Start, port: int | None = None) -> Server:
    """Start a server off the event loop, so the client keeps reconnecting meanwhile."""
    return await asyncio.to_thread(start, port)


async def kill_in_flight(b: RealtimeBackend, srv: Server, i: int, lane: str | None = None
                         ) -> asyncio.Task[Output]:
    """Send frame ``i`` to a frozen server, then SIGKILL it with the frame unanswered."""
    srv.freeze()
    sent = b.stats.sent
    task = asyncio.create_task(b.generate(frame(i), lane=lane))
    await until(lambda: b.stats.sent == sent + 1 and b.stats.in_flight == 1)
    assert not task.done()
    await asyncio.to_thread(srv.kill)
    await until(lambda: b.stats.in_flight == 0)  # the client noticed the reset: no hang
    return task


# ------------------------------------------------------------------ killed and restarted


async def test_sigkill_in_flight_then_restart_resends(start: Start) -> None:
    """SIGKILL with a frame in flight, restart on the same port: that frame is resent and
    answered, and the same backend streams on."""
    srv = start()
    b = patient(srv)
    try:
        for i in range(3):
            check(await within(b.generate(frame(i))), i)
        assert b.stats.connects == 1
        task = await kill_in_flight(b, srv, 3)
        assert not task.done(), "the in-flight call failed although reconnects were left"
        srv2 = await start_async(start, srv.port)
        check(await within(task), 3)  # transparently resent on the new connection
        for i in range(4, 12):
            check(await within(b.generate(frame(i))), i)
        assert b.stats.reconnects >= 1 and b.stats.max_in_flight == 1
        assert b.stats.received == 12 and b.stats.dropped == 0
        # the new server saw frame 3 exactly once, then 4..11: nothing replayed twice
        assert (await asyncio.to_thread(srv2.health))["generations"] == 9
    finally:
        await within(b.aclose())


async def test_sigkill_with_newer_frames_waiting_answers_the_newest(start: Start) -> None:
    """Frames a caller streams on one lane while the server is dead collapse to the newest: it
    alone is answered after the restart; every older call gets Superseded naming a newer one."""
    srv = start()
    b = patient(srv)
    try:
        check(await within(b.generate(frame(0))), 0)
        in_flight = await kill_in_flight(b, srv, 1, lane="pen")
        newer = [asyncio.create_task(b.generate(frame(i), lane="pen")) for i in (2, 3, 4)]
        srv2 = await start_async(start, srv.port)
        results = await within(asyncio.gather(in_flight, *newer, return_exceptions=True))
        *old, last = results
        assert isinstance(last, Output), last
        check(last, 4)
        for n, r in enumerate(old, start=1):  # each names a newer frame that replaced it
            assert isinstance(r, Superseded), r
            assert r.request_id == f"frame-{n}" and "superseded" in str(r)
            assert r.by is not None and int(r.by.split("-")[1]) > n
        # the in-flight frame, unsent again once the connection was lost, gave its turn to
        # the next frame of its lane; that one to the next, and so on
        assert [r.by for r in old] == ["frame-2", "frame-3", "frame-4"]
        check(await within(b.generate(frame(5))), 5)
        assert b.stats.reconnects >= 1 and b.stats.max_in_flight == 1
        assert (await asyncio.to_thread(srv2.health))["generations"] == 2  # frames 4 and 5
    finally:
        await within(b.aclose())


async def test_sigkill_between_frames_then_restart(start: Start) -> None:
    """SIGKILL while idle; the next frame (made while the server is still down) is sent once a
    new server listens on the same port."""
    srv = start()
    b = patient(srv)
    try:
        check(await within(b.generate(frame(0))), 0)
        await asyncio.to_thread(srv.kill)
        task = asyncio.create_task(b.generate(frame(1)))
        await asyncio.sleep(0.2)  # let it hit the dead socket / refused port a few times
        assert not task.done()
        await start_async(start, srv.port)
        check(await within(task), 1)
        check(await within(b.generate(frame(2))), 2)
        assert b.stats.reconnects >= 1 and b.stats.connects == b.stats.reconnects + 1
    finally:
        await within(b.aclose())


# ------------------------------------------------------------------ killed, not restarted


async def test_sigkill_not_restarted_fails_typed_then_recovers(start: Start) -> None:
    """Server gone for good: the in-flight call fails with ConnectionClosed once the reconnect
    budget is spent (no hang), so does the next one; when a server comes back on the same port
    later, the same backend works again."""
    srv = start()
    b = RealtimeBackend(base_url=srv.url, key=None, max_reconnects=3, backoff=FAST,
                        timeout=CAP)
    try:
        check(await within(b.generate(frame(0))), 0)
        task = await kill_in_flight(b, srv, 1)
        with pytest.raises(ConnectionClosed) as ei:
            await within(task)
        msg = str(ei.value)
        assert "gave up after 3 reconnect attempts" in msg and "could not connect" in msg
        assert f"127.0.0.1:{srv.port}" in msg and ei.value.code == 1006
        assert not isinstance(ei.value, RemoteError)  # the server never answered: not remote
        # between frames, still down: a fresh budget, spent again, typed again
        with pytest.raises(ConnectionClosed, match="gave up after 3 reconnect attempts"):
            await within(b.generate(frame(2)))
        connects = b.stats.connects
        await start_async(start, srv.port)
        for i in range(3, 6):
            check(await within(b.generate(frame(i))), i)
        assert b.stats.connects == connects + 1 and b.stats.reconnects >= 1
        assert b.stats.max_in_flight == 1
    finally:
        await within(b.aclose())
