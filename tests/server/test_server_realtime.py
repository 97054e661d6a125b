"""The realtime WebSocket, driven by a plain ``websockets`` client against a real server."""

from __future__ import annotations

import io
import json
import struct
import zlib
from typing import Any

import httpx
import msgpack
import pytest
from server_helpers import APP, AUTH, KEY, GatedEcho, health, jpeg, wait_until
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.server import ImageLimits, ServerThread


def rt_url(srv: ServerThread, *, token: str | None = None, path: str = APP,
           **query: Any) -> str:
    q = {**({"fal_jwt_token": token} if token else {}), **query}
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    return f"{srv.ws_url}/{path}/realtime" + (f"?{qs}" if qs else "")


def mint(srv: ServerThread, apps: list[str] | None = None, expiration: int = 120) -> str:
    r = httpx.post(srv.url + "/tokens/", headers=AUTH,
                   json={"allowed_apps": apps or ["fast-lcm-diffusion"],
                         "token_expiration": expiration})
    assert r.status_code == 201, r.text
    return str(r.json())


def open_session(srv: ServerThread, **query: Any) -> ClientConnection:
    return connect(rt_url(srv, token=mint(srv), **query), open_timeout=20)


def frame(**fields: Any) -> bytes:
    fields.setdefault("prompt", "a red square")
    return msgpack.packb(fields, use_bin_type=True)


def recv_result(ws: ClientConnection) -> dict[str, Any]:
    msg = ws.recv(timeout=30)
    assert isinstance(msg, bytes), f"expected a binary result, got {msg!r}"
    out = msgpack.unpackb(msg)
    assert isinstance(out, dict)
    return out


def recv_error(ws: ClientConnection) -> dict[str, Any]:
    msg = ws.recv(timeout=30)
    assert isinstance(msg, str), f"expected a text error, got {len(msg)} bytes"
    err = json.loads(msg)
    assert err["type"] == "x-fal-error", err
    return err


def test_round_trip_bytes_and_data_uri(serve: Any) -> None:
    """Bytes and data-URI images both work; request_id is echoed; sync_mode gives data URIs."""
    import base64

    srv = serve()
    img = jpeg()
    with open_session(srv) as ws:
        ws.send(frame(image_url=img, request_id="r-bytes", sync_mode=True, strength=1))
        out = recv_result(ws)
        assert out["request_id"] == "r-bytes"
        assert out["images"][0]["url"].startswith("data:image/jpeg;base64,")
        assert out["images"][0]["width"] == 64
        uri = "data:image/jpeg;base64," + base64.b64encode(img).decode()
        ws.send(frame(image_url=uri, request_id="r-uri", sync_mode=False, strength=1))
        out = recv_result(ws)
        assert out["request_id"] == "r-uri"
        url = out["images"][0]["url"]
        assert url.startswith(srv.url + "/files/")
        got = httpx.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"


def test_max_buffering_drops_oldest(serve: Any) -> None:
    """buffering=2, b0 running, b1..b4 arrive → results b0, b3, b4 (newest kept)."""
    model = GatedEcho()
    srv = serve(model)
    with open_session(srv, max_buffering=2) as ws:
        ws.send(frame(request_id="b0"))
        wait_until(lambda: health(srv)["busy"], what="b0 to start")
        for i in range(1, 5):
            ws.send(frame(request_id=f"b{i}"))
        wait_until(lambda: health(srv)["frames_dropped"] == 2, what="b1, b2 to be dropped")
        model.gate.set()
        got = [recv_result(ws)["request_id"] for _ in range(3)]
    assert got == ["b0", "b3", "b4"]
    assert model.order == ["b0", "b3", "b4"]


def test_flood_results_are_never_older_than_ones_seen(serve: Any) -> None:
    """A slow model flooded with frames answers in order, ending with the newest frame."""
    srv = serve(EchoBackend(delay=0.05))
    with open_session(srv, max_buffering=2) as ws:
        for i in range(12):
            ws.send(frame(request_id=f"f{i:02d}"))
        seen: list[str] = []
        while not seen or seen[-1] != "f11":
            seen.append(recv_result(ws)["request_id"])
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


@pytest.mark.parametrize(("payload", "code", "words"), [
    ("a text frame", "INVALID_MESSAGE", "text frame"),
    (msgpack.packb([1, 2, 3]), "INVALID_MESSAGE", "got list"),
    (msgpack.packb("just a string"), "INVALID_MESSAGE", "got str"),
    (b"\xc1\xc1 not msgpack", "INVALID_MESSAGE", "not valid msgpack"),
    (msgpack.packb({"prompt": "x"}) + b"\x01", "INVALID_MESSAGE", "several values"),
    (frame(num_inference_steps=80), "VALIDATION_ERROR",
     "num_inference_steps: must be between 1 and 50, got 80"),
    (msgpack.packb({"num_inference_steps": 2}), "VALIDATION_ERROR", "prompt: is required"),
    (frame(image_url=b"\x89PNG definitely not"), "INVALID_IMAGE", "image_url"),
    (frame(image_url="data:image/jpeg;base64,!!!"), "INVALID_IMAGE", "not valid base64"),
    (frame(image_url="http://example.com/cat.jpg"), "INVALID_IMAGE", "does not fetch"),
    (frame(image_url=jpeg(), num_inference_steps=2, strength=0.2), "VALIDATION_ERROR",
     "num_inference_steps * strength"),
])
def test_bad_frame_gets_error_and_session_continues(serve: Any, payload: bytes | str,
                                                    code: str, words: str) -> None:
    """Each bad frame answers an x-fal-error naming the problem; the next frame works."""
    srv = serve()
    with open_session(srv) as ws:
        ws.send(payload)
        err = recv_error(ws)
        assert err["error"] == code and words in err["reason"], err
        ws.send(frame(request_id="after"))
        assert recv_result(ws)["request_id"] == "after"


def test_validation_error_matches_rest_422(serve: Any) -> None:
    """The realtime reason and detail are the REST 422 messages, and request_id is echoed."""
    srv = serve()
    bad = {"prompt": "x", "guidance_scale": 99, "image_size": {"width": 100, "height": 64}}
    rest = httpx.post(f"{srv.url}/{APP}", json=bad, headers=AUTH)
    assert rest.status_code == 422
    with open_session(srv) as ws:
        ws.send(frame(**bad, request_id="v1"))
        err = recv_error(ws)
    assert err["detail"] == rest.json()["detail"]
    assert err["reason"] == "; ".join(e["msg"] for e in rest.json()["detail"])
    assert err["request_id"] == "v1"


def _png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims ``width`` x ``height`` (valid CRC, no pixel data read)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = data[12:29]  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def test_huge_images_are_refused(serve: Any) -> None:
    """Too many pixels, too many bytes, an over-long frame: clear errors, session goes on."""
    srv = serve(image_limits=ImageLimits(max_bytes=200_000), max_message_bytes=1_000_000)
    with open_session(srv) as ws:
        ws.send(frame(image_url=_png_claiming(5000, 3000)))
        err = recv_error(ws)
        assert err["error"] == "INVALID_IMAGE"
        assert "at most 4096 pixels per side" in err["reason"] and "5000x3000" in err["reason"]
        ws.send(frame(image_url=b"\xff\xd8" + bytes(300_000)))
        err = recv_error(ws)
        assert "at most 200000 bytes, got 300002" in err["reason"]
        ws.send(frame(image_url=bytes(1_200_000)))
        err = recv_error(ws)
        assert err["error"] == "INVALID_MESSAGE" and "at most 1000000 bytes" in err["reason"]
        ws.send(frame(request_id="ok", image_url=jpeg(), strength=1))
        assert recv_result(ws)["request_id"] == "ok"


def test_generation_failure_is_reported_and_session_continues(serve: Any) -> None:
    """A model error answers GENERATION_FAILED for that frame only."""
    srv = serve()
    with open_session(srv) as ws:
        ws.send(frame(prompt="please !fail", request_id="f1"))
        err = recv_error(ws)
        assert err["error"] == "GENERATION_FAILED" and err["request_id"] == "f1"
        ws.send(frame(request_id="f2"))
        assert recv_result(ws)["request_id"] == "f2"


def test_generation_timeout_is_reported_and_session_continues(serve: Any) -> None:
    """A frame the model does not answer in time gets GENERATION_TIMEOUT; the next frame of
    the same session gets its result."""
    srv = serve(generation_timeout=0.3)
    with open_session(srv) as ws:
        ws.send(frame(prompt="a !hang", request_id="h1"))
        err = recv_error(ws)
        assert err["error"] == "GENERATION_TIMEOUT" and err["request_id"] == "h1"
        assert "limit of 0.3 s" in err["reason"]
        ws.send(frame(request_id="h2"))
        assert recv_result(ws)["request_id"] == "h2"


def test_idle_timeout_sends_timeout_then_closes_1000(serve: Any) -> None:
    """After session_timeout idle seconds: x-fal-error TIMEOUT, then close 1000."""
    srv = serve(session_timeout=0.3)
    with open_session(srv) as ws:
        ws.send(frame(request_id="t1"))
        assert recv_result(ws)["request_id"] == "t1"
        err = recv_error(ws)
        assert err["error"] == "TIMEOUT"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000


def test_timings_message_is_optional(serve: Any) -> None:
    """emit_timings=True adds an x-fal-message timings frame after each result."""
    srv = serve(emit_timings=True)
    with open_session(srv) as ws:
        ws.send(frame())
        recv_result(ws)
        meta = json.loads(ws.recv(timeout=10))
    assert meta["type"] == "x-fal-message" and meta["action"] == "timings"
    assert isinstance(meta["timing"], float)


def test_fair_round_robin_between_sessions(serve: Any) -> None:
    """Two flooding sessions alternate on the single worker."""
    model = GatedEcho()
    srv = serve(model)
    with open_session(srv, max_buffering=10) as a, open_session(srv, max_buffering=10) as b:
        a.send(frame(request_id="A0"))
        wait_until(lambda: health(srv)["busy"], what="A0 to start")
        for i in range(1, 5):
            a.send(frame(request_id=f"A{i}"))
        wait_until(lambda: health(srv)["pending"] == 4, what="A's frames")
        for i in range(5):
            b.send(frame(request_id=f"B{i}"))
        wait_until(lambda: health(srv)["pending"] == 9, what="B's frames")
        model.gate.set()
        got_a = [recv_result(a)["request_id"] for _ in range(5)]
        got_b = [recv_result(b)["request_id"] for _ in range(5)]
    assert got_a == [f"A{i}" for i in range(5)] and got_b == [f"B{i}" for i in range(5)]
    assert model.order == ["A0", "A1", "B0", "A2", "B1", "A3", "B2", "A4", "B3", "B4"]


def test_http_jobs_interleave_with_realtime(serve: Any) -> None:
    """A REST job waiting behind a flooding session runs after one realtime frame."""
    model = GatedEcho()
    srv = serve(model)
    with open_session(srv, max_buffering=10) as ws:
        ws.send(frame(request_id="R0"))
        wait_until(lambda: health(srv)["busy"], what="R0 to start")
        for i in range(1, 5):
            ws.send(frame(request_id=f"R{i}"))
        wait_until(lambda: health(srv)["pending"] == 4, what="R frames")
        sub = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "x", "request_id": "Q"},
                         headers=AUTH).json()
        model.gate.set()
        for _ in range(5):
            recv_result(ws)
        wait_until(lambda: httpx.get(sub["status_url"], headers=AUTH).json()["status"]
                   == "COMPLETED", what="the queue job")
    assert model.order[:3] == ["R0", "R1", "Q"]


@pytest.mark.parametrize("how", ["expired", "wrong_app", "other_server", "garbage", "none",
                                 "bad_key"])
def test_bad_credentials_get_unauthorized_then_1008(serve: Any, how: str) -> None:
    """Bad credentials: upgrade accepted, {"status":"error","error":"Unauthorized"}, 1008."""
    srv = serve()
    other = serve()
    auth = srv.app.state.lcm.auth
    token = {"expired": auth.sign_claims_for_tests({"exp": 1, "allowed_apps":
                                                    ["fast-lcm-diffusion"]}),
             "wrong_app": mint(srv, ["some-other-app"]),
             "other_server": mint(other),
             "garbage": "not.a.token", "none": None, "bad_key": None}[how]
    headers = {"Authorization": "Key nope:nope"} if how == "bad_key" else None
    with connect(rt_url(srv, token=token), additional_headers=headers) as ws:
        msg = json.loads(ws.recv(timeout=10))
        assert msg["status"] == "error" and msg["error"] == "Unauthorized"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


@pytest.mark.parametrize("header", [f"Key {KEY}", "Bearer {token}"])
def test_authorization_header_on_the_websocket(serve: Any, header: str) -> None:
    """``Authorization: Key`` (fal_client use_jwt=False) or ``Bearer <token>`` work."""
    srv = serve()
    value = header.format(token=mint(srv))
    with connect(rt_url(srv), additional_headers={"Authorization": value}) as ws:
        ws.send(frame(request_id="h"))
        assert recv_result(ws)["request_id"] == "h"


def test_no_auth_mode_accepts_anyone(serve: Any) -> None:
    """auth=False: no token, no header."""
    srv = serve(auth=False, keys=[])
    with connect(rt_url(srv)) as ws:
        ws.send(frame(request_id="anon"))
        assert recv_result(ws)["request_id"] == "anon"


@pytest.mark.parametrize("value", ["0", "61", "two"])
def test_bad_max_buffering_is_named(serve: Any, value: str) -> None:
    """max_buffering outside 1..60 → x-fal-error naming it, then close 1008."""
    srv = serve()
    with connect(rt_url(srv, token=mint(srv), max_buffering=value)) as ws:
        err = recv_error(ws)
        assert err["error"] == "INVALID_PARAMETER"
        assert f"max_buffering: must be a whole number between 1 and 60, got '{value}'" \
            == err["reason"]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)


def test_image_to_image_realtime_path_requires_an_image(serve: Any) -> None:
    """/image-to-image/realtime exists and requires image_url; unknown paths say so."""
    srv = serve()
    with connect(rt_url(srv, token=mint(srv), path=f"{APP}/image-to-image")) as ws:
        ws.send(frame())
        assert "image_url: is required" in recv_error(ws)["reason"]
        ws.send(frame(image_url=jpeg(), strength=1, request_id="i2i"))
        assert recv_result(ws)["request_id"] == "i2i"
    with connect(rt_url(srv, path="someone/else")) as ws:
        err = recv_error(ws)
        assert err["error"] == "NOT_FOUND" and APP in err["reason"]


def test_health_counts_sessions(serve: Any) -> None:
    """/health reports open realtime sessions."""
    srv = serve()
    with open_session(srv) as ws:
        ws.send(frame())
        recv_result(ws)
        assert health(srv)["sessions"] == 1
    wait_until(lambda: health(srv)["sessions"] == 0, what="the session to end")
