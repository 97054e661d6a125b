"""Realtime JSON text frames (the hand-written clients of fal's 2023 blog): a text frame holding
a JSON object is an input, answered as JSON text; msgpack stays the default; JSON inside a
binary frame is refused with a reason that says so."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgpack
import pytest
from server_helpers import APP, KEY, jpeg
from websockets.sync.client import connect


def _url(srv: Any, token: str) -> str:
    return f"{srv.ws_url}/{APP}/realtime?fal_jwt_token={token}"


def _token(srv: Any) -> str:
    import httpx

    r = httpx.post(f"{srv.url}/tokens/", headers={"Authorization": f"Key {KEY}"},
                   json={"allowed_apps": ["fast-lcm-diffusion"], "token_expiration": 60})
    assert r.status_code == 201
    token: str = r.json()
    return token


def test_blog_client_in_python(serve: Any) -> None:
    """As the blog's client does it, with ``websockets``: JSON.stringify(input) in, then
    JSON.parse(message.data) with images[0].url and timings.inference."""
    srv = serve()
    image = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
    with connect(_url(srv, _token(srv))) as ws:
        ws.send(json.dumps({"prompt": "a cat", "image_url": image, "strength": 1, "seed": 3,
                            "num_inference_steps": 2, "request_id": "j1"}))
        message = ws.recv()
        assert isinstance(message, str)
        data = json.loads(message)
        assert data["images"][0]["url"].startswith("data:image/jpeg;base64,")
        assert isinstance(data["timings"]["inference"], float)
        assert data["request_id"] == "j1" and data["seed"] == 3
        assert data["num_inference_steps"] == 2
        # sync_mode false does not turn a JSON answer into /files URLs
        ws.send(json.dumps({"prompt": "no sync", "sync_mode": False}))
        data = json.loads(ws.recv())
        assert data["images"][0]["url"].startswith("data:image/jpeg;base64,")


def test_each_frame_is_answered_in_its_own_encoding(serve: Any) -> None:
    """msgpack in → msgpack out, JSON text in → JSON text out, on the same connection."""
    srv = serve(auth=False)
    with connect(f"{srv.ws_url}/{APP}/realtime") as ws:
        ws.send(msgpack.packb({"prompt": "binary", "request_id": "m1"}))
        first = ws.recv()
        ws.send(json.dumps({"prompt": "text", "request_id": "t1"}))
        second = ws.recv()
        ws.send(msgpack.packb({"prompt": "binary again", "request_id": "m2"}))
        third = ws.recv()
    assert isinstance(first, bytes) and msgpack.unpackb(first)["request_id"] == "m1"
    assert isinstance(second, str) and json.loads(second)["request_id"] == "t1"
    assert isinstance(third, bytes) and msgpack.unpackb(third)["request_id"] == "m2"


@pytest.mark.parametrize(("payload", "words"), [
    (b'{"prompt": "json in a binary frame"}',
     "a binary frame must hold msgpack, got JSON; send JSON as a text frame"),
    ("[1, 2]", "must be a JSON object of input fields, got list"),
    ("not json at all", "a text frame must hold one JSON object of input fields"),
    (json.dumps({"prompt": "x", "num_inference_steps": 0}),
     "num_inference_steps: must be between 1 and 50, got 0"),
])
def test_bad_json_frames_get_an_error_that_says_so(serve: Any, payload: bytes | str,
                                                   words: str) -> None:
    """Each refused frame gets an x-fal-error naming what was wrong; the session goes on."""
    srv = serve(auth=False)
    with connect(f"{srv.ws_url}/{APP}/realtime") as ws:
        ws.send(payload)
        err = json.loads(ws.recv())
        assert err["type"] == "x-fal-error" and words in err["reason"], err
        ws.send(json.dumps({"prompt": "after", "request_id": "ok"}))
        assert json.loads(ws.recv())["request_id"] == "ok"
