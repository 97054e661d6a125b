"""Issue #12's security probes, each replayed against a real server on 127.0.0.1: the attack,
then the refusal (docs/server.md, "Security")."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from typing import Any

import httpx
import msgpack
import pytest
import websockets
from server_helpers import APP, AUTH, KEY, GatedEcho, health, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.server import ServerThread
from lcm_widgets.server.webhooks import SIGNATURE_HEADER, verify_signature

KEY_B = "other-key:other-secret"
AUTH_B = {"Authorization": f"Key {KEY_B}"}


def _mint(url: str, auth: dict[str, str], apps: list[str]) -> str:
    r = httpx.post(f"{url}/tokens/", headers=auth,
                   json={"allowed_apps": apps, "token_expiration": 60})
    assert r.status_code == 201, r.text
    token: str = r.json()
    return token


# -- 6. object-level authorization --------------------------------------------------------

def test_another_key_cannot_see_or_cancel_a_job(serve: Any) -> None:
    """Key B (or a token minted by B) gets 404 for key A's status, result, stream and cancel;
    A, and a token minted by A, still get them."""
    model = GatedEcho()
    srv = serve(model, keys=[KEY, KEY_B])
    sub = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "mine"}, headers=AUTH).json()
    token_b = _mint(srv.url, AUTH_B, ["fast-lcm-diffusion"])
    for other in (AUTH_B, {"Authorization": f"Bearer {token_b}"}):
        assert httpx.get(sub["status_url"], headers=other).status_code == 404
        assert httpx.get(sub["response_url"], headers=other).status_code == 404
        assert httpx.get(sub["status_url"] + "/stream", headers=other).status_code == 404
        r = httpx.put(sub["cancel_url"], headers=other)
        assert (r.status_code, r.json()) == (404, {"status": "NOT_FOUND"})
    model.gate.set()
    token_a = _mint(srv.url, AUTH, ["fast-lcm-diffusion"])
    wait_until(lambda: httpx.get(sub["status_url"], headers=AUTH).json()["status"]
               == "COMPLETED", what="the job")
    got = httpx.get(sub["response_url"], headers={"Authorization": f"Bearer {token_a}"})
    assert got.status_code == 200 and got.json()["prompt"] == "mine"
    assert httpx.get(sub["response_url"], headers=AUTH_B).status_code == 404


# -- 12. token scope -------------------------------------------------------------------------

def test_a_token_for_another_owners_app_is_refused(serve: Any) -> None:
    """A token minted for evil-owner/fast-lcm-diffusion works neither on REST nor on the
    realtime socket of fal-ai/fast-lcm-diffusion; the bare alias and the whole id do."""
    srv = serve()
    evil = _mint(srv.url, AUTH, ["evil-owner/fast-lcm-diffusion"])
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": "x"},
                   headers={"Authorization": f"Bearer {evil}"})
    assert r.status_code == 401
    assert r.json()["detail"] == ("token is not valid for app 'fal-ai/fast-lcm-diffusion' "
                                  "(allowed_apps=['evil-owner/fast-lcm-diffusion'])")

    async def realtime(token: str, send: bool = True) -> Any:
        async with websockets.connect(f"{srv.ws_url}/{APP}/realtime?fal_jwt_token={token}",
                                      open_timeout=10) as ws:
            if send:  # a refused socket is closed right after its error frame: just read
                await ws.send(msgpack.packb({"prompt": "x", "request_id": "r"}))
            return await asyncio.wait_for(ws.recv(), 10)

    refused = json.loads(asyncio.run(realtime(evil, send=False)))
    assert refused["error"] == "Unauthorized" and "not valid for app" in refused["reason"]
    for apps in (["fast-lcm-diffusion"], ["fal-ai/fast-lcm-diffusion"]):
        out = msgpack.unpackb(asyncio.run(realtime(_mint(srv.url, AUTH, apps))))
        assert out["request_id"] == "r"


# -- 9. bad input is a 4xx ---------------------------------------------------------------------

def _http(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request on ``sock`` and read its answer (Content-Length framed)."""
    sock.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = int(next(ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                      if ln.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), body


def test_deeply_nested_json_is_422_and_keeps_the_connection(serve: Any) -> None:
    """'[' × 100000 is a 422 naming the depth limit (not a RecursionError 500), and the same
    keep-alive connection answers the next request."""
    srv = serve()
    body = b"[" * 100_000
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        status, answer = _http(sock, (
            f"POST /{APP} HTTP/1.1\r\nHost: x\r\nAuthorization: Key {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body)
        assert status == 422
        assert json.loads(answer)["detail"][0]["msg"] == \
            "body: must nest at most 32 levels deep, got more"
        status, answer = _http(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200 and json.loads(answer)["status"] == "ok"
    nested: Any = "x"
    for _ in range(40):  # under the recursion limit, over the depth limit
        nested = [nested]
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": "x", "loras": nested}, headers=AUTH)
    assert r.status_code == 422 and "at most 32 levels" in r.json()["detail"][0]["msg"]


def test_deeply_nested_realtime_frames_keep_the_session(serve: Any) -> None:
    """'[' × 100000 as a text frame and as a binary frame: each an INVALID_MESSAGE, and the
    session answers the next frame."""
    srv = serve(auth=False)

    async def session() -> list[Any]:
        async with websockets.connect(f"{srv.ws_url}/{APP}/realtime", open_timeout=10) as ws:
            got: list[Any] = []
            for frame in ("[" * 100_000, b"[" * 100_000):
                await ws.send(frame)
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            await ws.send(msgpack.packb({"prompt": "ok", "request_id": "after"}))
            got.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 10)))
            return got

    text, binary, after = asyncio.run(session())
    assert text["error"] == "INVALID_MESSAGE" and "nested too deep" in text["reason"]
    assert binary["error"] == "INVALID_MESSAGE"
    assert after["request_id"] == "after"


def test_token_body_is_capped(serve: Any) -> None:
    """POST /tokens/ with a body over 16 KiB is a 413 naming the limit, declared or chunked;
    a normal mint still works."""
    srv = serve()
    big = json.dumps({"allowed_apps": ["fast-lcm-diffusion"], "pad": "x" * 100_000}).encode()
    json_auth = {**AUTH, "Content-Type": "application/json"}
    r = httpx.post(f"{srv.url}/tokens/", content=big, headers=json_auth)
    assert r.status_code == 413
    assert r.json() == {"detail": f"body: must be at most 16384 bytes, got {len(big)}",
                        "error_type": "payload_too_large"}
    chunked = httpx.post(f"{srv.url}/tokens/", headers=json_auth,
                         content=(big[i:i + 4096] for i in range(0, len(big), 4096)))
    assert chunked.status_code == 413
    assert chunked.json()["detail"] == "body: must be at most 16384 bytes, got more than 16384"
    assert _mint(srv.url, AUTH, ["fast-lcm-diffusion"])


def test_no_sub_query_parameter(serve: Any) -> None:
    """The internal sub-path is no query parameter: not in openapi.json, and ?_sub= changes
    nothing (text-to-image without an image still runs on the root path)."""
    srv = serve()
    spec = httpx.get(srv.url + "/openapi.json").json()
    params = {p["name"] for path in spec["paths"].values() for op in path.values()
              if isinstance(op, dict) for p in op.get("parameters", [])}
    assert "_sub" not in params and "request_id" in params
    r = httpx.post(f"{srv.url}/{APP}", params={"_sub": "image-to-image"},
                   json={"prompt": "x"}, headers=AUTH)
    assert r.status_code == 200


# -- 8. browser abuse ----------------------------------------------------------------------------

def test_websocket_origin_is_checked(serve: Any) -> None:
    """With auth off, a page on http://evil.example cannot open the realtime socket (403 at
    the handshake); loopback origins, listed origins and clients sending no Origin can."""
    srv = serve(auth=False, allowed_origins=["https://app.example"])
    url = f"{srv.ws_url}/{APP}/realtime"

    async def attempt(origin: str | None) -> str:
        try:
            async with websockets.connect(url, origin=origin, open_timeout=10) as ws:  # type: ignore[arg-type]
                await ws.send(msgpack.packb({"prompt": "x", "request_id": "o"}))
                return str(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 10))["request_id"])
        except websockets.InvalidStatus as exc:
            return f"HTTP {exc.response.status_code}"

    assert asyncio.run(attempt("http://evil.example")) == "HTTP 403"
    assert asyncio.run(attempt("http://localhost.evil.example")) == "HTTP 403"
    for ok in (None, "http://localhost:8888", "http://127.0.0.1:3000", "https://app.example"):
        assert asyncio.run(attempt(ok)) == "o", ok
    assert health(srv)["sessions_total"] == 4


def test_cross_site_posts_are_refused(serve: Any) -> None:
    """With auth off: a text/plain POST (a form or fetch without preflight) is 415 and runs
    nothing; a POST carrying a foreign Origin is 403; CORS headers go to allowed origins only."""
    model = EchoBackend()
    srv = serve(model, auth=False)
    r = httpx.post(f"{srv.url}/{APP}", content=b'{"prompt": "x"}',
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert r.json() == {"detail": "Content-Type: must be application/json (or "
                                  "application/msgpack), got 'text/plain'",
                        "error_type": "unsupported_media_type"}
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": "x"},
                   headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["error_type"] == "origin_not_allowed"
    assert r.headers["x-fal-request-id"]  # the guard's refusals carry one too
    assert model.calls == 0
    pre = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type,authorization"}
    evil = httpx.options(f"{srv.url}/{APP}", headers={"Origin": "http://evil.example", **pre})
    assert "access-control-allow-origin" not in evil.headers
    local = httpx.options(f"{srv.url}/{APP}", headers={"Origin": "http://localhost:5173", **pre})
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    ok = httpx.post(f"{srv.url}/{APP}", json={"prompt": "x"},
                    headers={"Origin": "http://localhost:5173"})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert httpx.get(srv.url + "/health", headers={"Origin": "http://evil.example"}
                     ).headers.get("access-control-allow-origin") is None
    assert httpx.post(f"{srv.url}/{APP}", content=msgpack.packb({"prompt": "m"}),
                      headers={"Content-Type": "application/msgpack"}).json()["prompt"] == "m"


# -- 10. a hung model ------------------------------------------------------------------------------

def test_cancel_frees_the_worker_from_a_hung_job(serve: Any) -> None:
    """A '!hang' queue job holds the only model worker; a realtime frame waits behind it.
    Cancelling the job stops the generation: the frame is answered, the server goes on. The
    default generation timeout is on."""
    srv = serve()
    assert health(srv)["generation_timeout_s"] == 120.0
    hung = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "!hang"}, headers=AUTH).json()
    wait_until(lambda: httpx.get(hung["status_url"], headers=AUTH).json()["status"]
               == "IN_PROGRESS", what="the hung job to start")

    async def session() -> Any:
        async with websockets.connect(f"{srv.ws_url}/{APP}/realtime",
                                      additional_headers=AUTH, open_timeout=10) as ws:
            await ws.send(msgpack.packb({"prompt": "live", "request_id": "rt"}))
            await asyncio.to_thread(wait_until, lambda: health(srv)["pending"] == 1,
                                    20, "the frame to wait behind the hung job")
            r = await asyncio.to_thread(httpx.put, hung["cancel_url"], headers=AUTH)
            assert (r.status_code, r.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
            return msgpack.unpackb(await asyncio.wait_for(ws.recv(), 20))

    assert asyncio.run(session())["request_id"] == "rt"
    st = httpx.get(hung["status_url"] + "?logs=1", headers=AUTH).json()
    assert st["status"] == "COMPLETED" and st["error_type"] == "request_cancelled"
    assert any("running generation was stopped" in e["message"] for e in st["logs"])
    assert health(srv)["cancelled_while_running"] == 1
    assert httpx.post(f"{srv.url}/{APP}", json={"prompt": "next"}, headers=AUTH).status_code \
        == 200


def test_sync_client_that_hangs_up_is_cancelled(serve: Any) -> None:
    """A sync request whose client disconnects stops running (the worker is freed) instead of
    holding the queue."""
    srv = serve()
    body = json.dumps({"prompt": "!hang"}).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        sock.sendall((f"POST /{APP} HTTP/1.1\r\nHost: x\r\nAuthorization: Key {KEY}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                      ).encode() + body)
        wait_until(lambda: health(srv)["busy"], what="the sync job to start")
    wait_until(lambda: health(srv)["cancelled_while_running"] == 1 and not health(srv)["busy"],
               what="the abandoned job to be cancelled")
    assert httpx.post(f"{srv.url}/{APP}", json={"prompt": "ok"}, headers=AUTH).status_code == 200


def test_realtime_client_that_leaves_stops_its_hung_frame(serve: Any) -> None:
    """A session whose '!hang' frame holds the worker closes: the generation is stopped and
    the next session is served."""
    srv = serve(auth=False)

    async def hang_then_leave() -> None:
        async with websockets.connect(f"{srv.ws_url}/{APP}/realtime", open_timeout=10) as ws:
            await ws.send(msgpack.packb({"prompt": "!hang", "request_id": "h"}))
            await asyncio.to_thread(wait_until, lambda: health(srv)["busy"], 20,
                                    "the hung frame to start")

    async def next_session() -> Any:
        async with websockets.connect(f"{srv.ws_url}/{APP}/realtime", open_timeout=10) as ws:
            await ws.send(msgpack.packb({"prompt": "ok", "request_id": "next"}))
            return msgpack.unpackb(await asyncio.wait_for(ws.recv(), 20))

    asyncio.run(hang_then_leave())
    wait_until(lambda: health(srv)["cancelled_while_running"] == 1, what="the frame stopped")
    assert asyncio.run(next_session())["request_id"] == "next"


# -- 7. webhooks -------------------------------------------------------------------------------------

class Hook:
    """A webhook receiver on 127.0.0.1 keeping each delivery's raw body and headers."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

        async def hook(request: Request) -> JSONResponse:
            raw = await request.body()
            with self.lock:
                self.got.append((raw, dict(request.headers)))
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.mark.parametrize(("host", "shown", "kind"), [
    ("127.0.0.1", "127.0.0.1", "loopback"),
    ("[::1]", "::1", "loopback"),
    ("169.254.169.254", "169.254.169.254", "link-local (where cloud metadata lives)"),
    ("10.1.2.3", "10.1.2.3", "private"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1", "loopback"),
])
def test_webhook_to_an_internal_address_is_refused_at_submit(serve: Any, host: str, shown: str,
                                                            kind: str) -> None:
    """An IP literal in a refused range is a 422 naming the address and why."""
    srv = serve()
    url = f"http://{host}:8199/hook"
    r = httpx.post(f"{srv.url}/queue/{APP}", params={"fal_webhook": url},
                   json={"prompt": "x"}, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == (
        f"fal_webhook: {url!r} points at {shown}, a {kind} address; this server does not post "
        "webhooks there unless the network is allowed (ServerConfig.webhook_allow, serve "
        "--webhook-allow)")


def test_webhook_name_is_checked_on_its_resolved_address(serve: Any) -> None:
    """A name passes at submit but is resolved at delivery: 'localhost' resolves to loopback,
    so nothing is posted to the receiver listening there, and the job's logs say why."""
    hook = Hook()
    with ServerThread(hook.app) as hook_srv:
        srv = serve()
        sub = httpx.post(f"{srv.url}/queue/{APP}",
                         params={"fal_webhook": f"http://localhost:{hook_srv.port}/hook"},
                         json={"prompt": "x"}, headers=AUTH).json()
        wait_until(lambda: health(srv)["webhooks"]["refused"] == 1, what="the refusal")
        logs = httpx.get(sub["status_url"] + "?logs=1", headers=AUTH).json()["logs"]
        assert hook.got == []
    refusal = next(e["message"] for e in logs if "webhook not delivered" in e["message"])
    assert "a loopback address" in refusal and "--webhook-allow" in refusal


def test_allowed_webhook_is_delivered_and_signed(serve: Any) -> None:
    """With 127.0.0.1 allowed, the delivery arrives, signed with HMAC-SHA256 over
    'timestamp.' + body keyed with the submitting key's secret; a receiver can verify it."""
    hook = Hook()
    with ServerThread(hook.app) as hook_srv:
        srv = serve(webhook_allow=["127.0.0.1/32"])
        sub = httpx.post(f"{srv.url}/queue/{APP}",
                         params={"fal_webhook": f"{hook_srv.url}/hook"},
                         json={"prompt": "signed", "seed": 3}, headers=AUTH).json()
        wait_until(lambda: len(hook.got) == 1, what="the delivery")
    raw, headers = hook.got[0]
    assert json.loads(raw)["request_id"] == sub["request_id"]
    sig = dict(p.split("=", 1) for p in headers[SIGNATURE_HEADER].split(","))
    assert abs(int(sig["t"]) - time.time()) < 600
    secret = KEY.split(":", 1)[1]
    expected = hmac.new(secret.encode(), sig["t"].encode() + b"." + raw,
                        hashlib.sha256).hexdigest()
    assert sig["v1"] == expected
    assert verify_signature(secret, raw, headers[SIGNATURE_HEADER])
    assert not verify_signature(secret, raw + b" ", headers[SIGNATURE_HEADER])
    assert not verify_signature("other-secret", raw, headers[SIGNATURE_HEADER])
    assert not verify_signature(secret, raw, headers[SIGNATURE_HEADER],
                                now=int(sig["t"]) + 3600)
