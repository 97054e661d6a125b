"""The server with a tiny LocalLCM that has the tiny ControlNet: the extension fields over REST
and realtime, and their bad values answered in plain words with the session going on."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import msgpack
import pytest
from server_helpers import APP, AUTH, jpeg
from websockets.sync.client import connect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_cn(model_cache: str) -> Iterator[Any]:
    """The tiny model with the tiny ControlNet."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM
    from lcm_widgets.runtime.loop import run_sync

    lcm = LocalLCM("tiny", controlnet="tiny-controlnet", progress=False, warmup=False)
    yield lcm
    run_sync(lcm.aclose())


def _png_bomb() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"not zlib")
            + chunk(b"IEND", b""))


def test_controlnet_fields_over_rest_and_realtime(serve: Any, tiny_cn: Any) -> None:
    """REST: scale 0 and 1 give different images; an unknown LoRA, an unknown ControlNet and
    a decompression-bomb control image are 422s naming the field; then a request succeeds.
    Realtime: a bad ControlNet is a VALIDATION_ERROR and the next frame on the same socket is
    answered."""
    import base64

    srv = serve(tiny_cn)
    src = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
    body = {"prompt": "a cat", "seed": 1, "num_inference_steps": 2, "strength": 0.5,
            "image_url": src, "sync_mode": True}

    def post(**kw: Any) -> httpx.Response:
        return httpx.post(f"{srv.url}/{APP}", json={**body, **kw}, headers=AUTH, timeout=120)

    off, on = post(controlnet_conditioning_scale=0), post(controlnet_conditioning_scale=1)
    assert off.status_code == on.status_code == 200, (off.text, on.text)
    assert off.json()["images"][0]["url"] != on.json()["images"][0]["url"]
    for fields, loc, start in [
            ({"loras": [{"path": "nobody/style", "scale": 1}]}, "loras.0.path",
             "loras.0.path: no LoRA 'nobody/style' is loaded"),
            ({"controlnet": "depth"}, "controlnet",
             "controlnet: must be 'none' or a ControlNet this LocalLCM loaded"),
            ({"control_image_url": "data:image/png;base64,"
              + base64.b64encode(_png_bomb()).decode()}, "control_image_url",
             "control_image_url: image is too large to decode safely")]:
        r = post(**fields)
        assert r.status_code == 422, r.text
        msg = r.json()["detail"][0]["msg"]
        assert msg.startswith(start), msg
        assert loc in msg
    assert post().status_code == 200
    with connect(f"{srv.ws_url}/{APP}/realtime",
                 additional_headers={"Authorization": AUTH["Authorization"]}) as ws:
        ws.send(msgpack.packb({**body, "image_url": jpeg(), "controlnet": "depth",
                               "request_id": "bad"}))
        err = json.loads(ws.recv(timeout=120))
        assert err["error"] == "VALIDATION_ERROR" and "controlnet" in err["reason"]
        ws.send(msgpack.packb({**body, "image_url": jpeg(), "request_id": "good"}))
        out = msgpack.unpackb(ws.recv(timeout=120))
    assert out["request_id"] == "good" and out["images"]


def test_serve_controlnet_and_lora_flags_over_sync_rest(model_cache: str) -> None:
    """``serve --controlnet tiny-controlnet --lora DIR=0.5`` as a real subprocess, two apps:
    the flags go to the app with a local model (tiny), not to the echo one. Over sync REST the
    flag's ControlNet changes the image (scale 1 against scale 0 and against "none"), and the
    flag's LoRA is every request's default (leaving loras out equals naming it at 0.5, and
    differs from loras: [])."""
    import base64

    pytest.importorskip("diffusers")
    pytest.importorskip("peft")
    from test_server_cli import serve_cli

    from lcm_widgets.models.tiny_lora import ensure_tiny_lora

    lora = str(ensure_tiny_lora(0))
    turbo = "fal-ai/fast-turbo-diffusion"
    src = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
    body = {"prompt": "a cat", "seed": 1, "num_inference_steps": 2, "strength": 0.5,
            "image_url": src, "sync_mode": True}
    with serve_cli("--no-auth", "--app", f"{APP}=tiny", "--app", f"{turbo}=echo",
                   "--controlnet", "tiny-controlnet", "--lora", f"{lora}=0.5") as (url, lines):
        banner = "".join(lines)
        assert f"(tiny, controlnet tiny-controlnet, lora {lora}@0.5) as {APP}" in banner
        assert f"(echo) as {turbo}" in banner

        def image(**kw: Any) -> str:
            r = httpx.post(f"{url}/{APP}", json={**body, **kw}, timeout=120)
            assert r.status_code == 200, r.text
            return str(r.json()["images"][0]["url"])

        on, off = image(), image(controlnet_conditioning_scale=0)
        assert on != off and image(controlnet="none") == off
        assert image(controlnet="tiny-controlnet") == on
        assert image(loras=[{"path": lora, "scale": 0.5}]) == on
        assert image(loras=[]) != on
        r = httpx.post(f"{url}/{APP}", json={**body, "controlnet": "depth"}, timeout=60)
        assert r.status_code == 422 and "tiny-controlnet" in r.json()["detail"][0]["msg"]
