"""The Sketchpad's direct channel (docs/widget-protocol.md, "The direct channel"): a real
WebSocket server in this process on 127.0.0.1, reached with the ``websockets`` client."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from typing import Any

import pytest
from lcm_test_helpers import until
from PIL import Image

from lcm_widgets.errors import ProtocolError
from lcm_widgets.testing import RecordingComm
from lcm_widgets.widgets._direct import DirectServer, pack, unpack
from lcm_widgets.widgets.sketchpad import Sketchpad

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

ORIGIN = "http://127.0.0.1:8888"


def jpeg(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


def frame_header(seq: int) -> dict[str, Any]:
    return {"type": "frame", "v": 1, "seq": seq, "width": 64, "height": 48,
            "mime": "image/jpeg", "t_input": 1000.0, "reason": "stroke"}


def hello(comm: RecordingComm, view: str, origin: str | None = ORIGIN) -> dict[str, Any]:
    """Say hello on the comm; return the ``direct`` answer for ``view``."""
    msg: dict[str, Any] = {"type": "hello", "v": 1, "view": view}
    if origin is not None:
        msg["origin"] = origin
    comm.deliver(msg, [])
    answers = [c for c, _ in comm.custom_of("direct") if c["view"] == view]
    assert answers, "no direct message on the comm"
    return answers[-1]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_pack_and_unpack_round_trip_and_name_what_is_wrong() -> None:
    msg = pack({"type": "frame", "seq": 3}, b"\xff\xd8jpeg")
    assert unpack(msg) == ({"type": "frame", "seq": 3}, b"\xff\xd8jpeg")
    assert unpack(pack({"type": "ack"})) == ({"type": "ack"}, b"")
    with pytest.raises(ProtocolError, match="4-byte header length"):
        unpack(b"\x00\x01")
    with pytest.raises(ProtocolError, match="does not fit"):
        unpack(b"\x00\x00\x10\x00{}")
    with pytest.raises(ProtocolError, match="not JSON"):
        unpack(b"\x00\x00\x00\x02{x")
    with pytest.raises(ProtocolError, match="JSON object, got list"):
        unpack(b"\x00\x00\x00\x02[]")


def test_frames_and_results_travel_on_the_direct_channel_only() -> None:
    comm = RecordingComm()
    pad = Sketchpad(comm=comm)
    got: list[Any] = []
    acks: list[Any] = []
    pad.on_frame(got.append)
    pad.on_ack(acks.append)
    d = hello(comm, "v1")
    assert d["url"].startswith("ws://127.0.0.1:") and len(d["token"]) >= 24
    data = jpeg()

    async def talk() -> tuple[dict[str, Any], dict[str, Any], bytes]:
        async with connect(d["url"], origin=ORIGIN) as ws:
            await ws.send(pack({"type": "auth", "token": d["token"], "view": "v1"}))
            ready, _ = unpack(await ws.recv())
            assert ready["type"] == "ready"
            assert pad.transports == {"direct": 1, "comm": 0}
            # Nagle is off on the kernel's side of every direct connection
            server = DirectServer.get()
            assert server is not None
            socks = [c.transport.get_extra_info("socket") for c in server._server.connections]
            assert socks and all(
                s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in socks)
            await ws.send(pack(frame_header(5), data))
            took, _ = unpack(await ws.recv())
            rid = await asyncio.to_thread(pad.send_result, 5, data, width=64, height=48)
            result, image = unpack(await ws.recv())
            await ws.send(pack({"type": "ack", "v": 1, "seq": 5, "rid": rid,
                                "t_paint": 2000.0, "dropped": False}))
            await asyncio.to_thread(until, lambda: acks, 10, "the ack")
            return took, result, image

    n_comm_before = len(comm.custom)
    took, result, image = run(talk())
    assert took["type"] == "took" and took["seq"] == 5
    assert result["type"] == "result" and result["seq"] == 5 and image == data
    assert [f.seq for f in got] == [5] and got[0].data == data
    assert acks[0].rid == result["rid"]
    # nothing of the frame path went over the comm while the only view was direct
    kinds = [c["type"] for c, _ in comm.custom[n_comm_before:]]
    assert "took" not in kinds and "result" not in kinds, kinds
    # the view left: results go to the comm again
    until(lambda: pad.transports["direct"] == 0, 10, "the view to leave")
    pad.send_result(5, data, width=64, height=48)
    assert comm.custom_of("result")
    pad.close()


def test_a_view_on_the_comm_still_gets_every_result() -> None:
    comm = RecordingComm()
    pad = Sketchpad(comm=comm)
    d = hello(comm, "v1")
    comm.deliver({"type": "hello", "v": 1, "view": "v2"}, [])  # no origin: comm only
    data = jpeg("blue")

    async def talk() -> dict[str, Any]:
        async with connect(d["url"], origin=ORIGIN) as ws:
            await ws.send(pack({"type": "auth", "token": d["token"], "view": "v1"}))
            unpack(await ws.recv())
            await asyncio.to_thread(pad.send_result, 1, data, width=64, height=48)
            result, _ = unpack(await ws.recv())
            return result

    result = run(talk())
    on_comm = [c for c, _ in comm.custom_of("result")]
    assert [r["rid"] for r in on_comm] == [result["rid"]]  # once on each transport
    pad.close()


def test_another_origin_or_a_wrong_token_is_refused() -> None:
    comm = RecordingComm()
    pad = Sketchpad(comm=comm)
    got: list[Any] = []
    pad.on_frame(got.append)
    d = hello(comm, "v1")

    async def evil_origin() -> int:
        try:
            async with connect(d["url"], origin="http://evil.example"):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)

    async def no_origin() -> int:
        try:
            async with connect(d["url"]):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)

    async def bad_token(token: str) -> tuple[int | None, bool]:
        async with connect(d["url"], origin=ORIGIN) as ws:
            await ws.send(pack({"type": "auth", "token": token, "view": "v1"}))
            await ws.send(pack(frame_header(9), jpeg()))
            try:
                await ws.recv()
                return None, False
            except ConnectionClosed as exc:
                return (exc.rcvd.code if exc.rcvd else None), True

    async def frame_first() -> int | None:
        async with connect(d["url"], origin=ORIGIN) as ws:
            await ws.send(pack(frame_header(9), jpeg()))  # no auth first
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
            return None

    assert run(evil_origin()) == 403
    assert run(no_origin()) == 403
    assert run(bad_token("not-the-token")) == (4403, True)
    assert run(frame_first()) == 4403
    assert got == []  # no refused frame reached the widget
    assert pad.direct_refused == 4
    # the session keeps working: the right token still connects
    async def good() -> str:
        async with connect(d["url"], origin=ORIGIN) as ws:
            await ws.send(pack({"type": "auth", "token": d["token"], "view": "v1"}))
            return str(unpack(await ws.recv())[0]["type"])

    assert run(good()) == "ready"
    pad.close()


def test_a_hello_without_origin_gets_no_direct_channel() -> None:
    comm = RecordingComm()
    pad = Sketchpad(comm=comm)
    comm.deliver({"type": "hello", "v": 1, "view": "v1"}, [])
    comm.deliver({"type": "hello", "v": 1, "view": "v2", "origin": "javascript:alert(1)/x"}, [])
    assert comm.custom_of("direct") == []
    assert pad.transports == {"direct": 0, "comm": 2}
    pad.close()


def test_the_direct_message_is_json_on_the_comm_only() -> None:
    comm = RecordingComm()
    pad = Sketchpad(comm=comm)
    d = hello(comm, "v1")
    assert set(d) == {"type", "v", "view", "url", "token"}
    assert json.loads(json.dumps(d)) == d
    pad.close()
