"""The server with the real tiny LocalLCM (random weights, CPU): REST and realtime end to end.

The ``tiny`` fixture (one LocalLCM for the session) is in tests/server/conftest.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgpack
import pytest
from server_helpers import APP, AUTH, jpeg
from websockets.sync.client import connect

pytestmark = pytest.mark.slow


def test_tiny_model_over_rest_and_realtime(serve: Any, tiny: Any) -> None:
    """Sync run (seeded, deterministic) and an img2img realtime frame on the tiny model."""
    srv = serve(tiny)
    body = {"prompt": "a cat", "seed": 1, "num_inference_steps": 2, "sync_mode": True,
            "image_size": {"width": 64, "height": 64}}
    first = httpx.post(f"{srv.url}/{APP}", json=body, headers=AUTH, timeout=120)
    again = httpx.post(f"{srv.url}/{APP}", json=body, headers=AUTH, timeout=120)
    assert first.status_code == 200, first.text
    assert first.json()["images"][0]["url"] == again.json()["images"][0]["url"]
    token = httpx.post(srv.url + "/tokens/", headers=AUTH,
                       json={"allowed_apps": ["fast-lcm-diffusion"]}).json()
    with connect(f"{srv.ws_url}/{APP}/realtime?fal_jwt_token={token}") as ws:
        ws.send(msgpack.packb({"prompt": "a dog", "image_url": jpeg(), "strength": 0.5,
                               "num_inference_steps": 2, "request_id": "tiny",
                               "sync_mode": True}))
        out = msgpack.unpackb(ws.recv(timeout=120))
    assert out["request_id"] == "tiny" and out["images"][0]["width"] == 64
