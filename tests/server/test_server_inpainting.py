"""The ``/inpainting`` sub-path of both apps (sync, queue, realtime), ``mask_url`` dropped on
the other sub-paths, and ``/openapi.json`` of a two-app server (docs/server.md, "Inpainting",
"Several apps on one server")."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import msgpack
import pytest
from PIL import Image
from server_helpers import AUTH, KEY, jpeg
from websockets.sync.client import connect

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.schema import Input, Output
from lcm_widgets.server import ServerConfig, ServerThread, create_app, create_multi_app

LCM = "fal-ai/fast-lcm-diffusion"
TURBO = "fal-ai/fast-turbo-diffusion"


class SeenEcho(EchoBackend):
    """Echo that keeps the inputs that reached it (what the server passed on)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Input] = []

    async def generate(self, inp: Input) -> Output:
        self.seen.append(inp)
        return await super().generate(inp)


def mask(size: tuple[int, int] = (64, 64)) -> bytes:
    """A PNG mask: the left half white (repaint)."""
    img = Image.new("L", size, 0)
    img.paste(255, (0, 0, size[0] // 2, size[1]))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def uri(data: bytes, mime: str) -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.fixture
def apps() -> Iterator[tuple[ServerThread, dict[str, SeenEcho]]]:
    backends = {LCM: SeenEcho(), TURBO: SeenEcho()}
    with ServerThread(create_multi_app(backends, ServerConfig(keys=[KEY]))) as srv:
        yield srv, backends


def _body(**kw: Any) -> dict[str, Any]:
    return {"prompt": "a cat", "image_url": uri(jpeg(), "image/jpeg"),
            "mask_url": uri(mask(), "image/png"), "seed": 2, "sync_mode": True, **kw}


def test_sync_and_queue_inpainting_of_both_apps(
        apps: tuple[ServerThread, dict[str, SeenEcho]]) -> None:
    """POST /{app}/inpainting and /queue/{app}/inpainting answer images; the backend gets the
    mask as bytes, with each app's defaults (6 steps for LCM, 2 for turbo)."""
    srv, backends = apps
    for app, steps in ((LCM, 6), (TURBO, 2)):
        r = httpx.post(f"{srv.url}/{app}/inpainting", json=_body(), headers=AUTH, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["images"][0]["url"].startswith("data:image/jpeg;base64,")
        seen = backends[app].seen[-1]
        assert seen.mask_url == mask() and seen.is_inpainting
        assert seen.num_inference_steps == steps
        sub = httpx.post(f"{srv.url}/queue/{app}/inpainting", json=_body(), headers=AUTH)
        assert sub.status_code == 200, sub.text
        result = httpx.get(sub.json()["response_url"], headers=AUTH, timeout=30)
        for _ in range(100):
            if result.status_code == 200:
                break
            result = httpx.get(sub.json()["response_url"], headers=AUTH, timeout=30)
        assert result.status_code == 200 and result.json()["images"]
        assert backends[app].seen[-1].mask_url == mask()


@pytest.mark.parametrize("app", [LCM, TURBO])
def test_inpainting_422s_name_the_field(apps: tuple[ServerThread, dict[str, SeenEcho]],
                                        app: str) -> None:
    """Missing mask or image, a mask of another size, a mask that is not an image, an empty
    one: 422 whose detail names the field; nothing reaches the backend."""
    srv, backends = apps
    cases = [
        ({"mask_url": None}, ["body", "mask_url"], "mask_url: is required"),
        ({"image_url": None}, ["body", "image_url"], "image_url: is required"),
        ({"mask_url": uri(mask((32, 32)), "image/png")}, ["body", "mask_url"],
         "mask_url: must be 64x64 like image_url, got 32x32"),
        ({"mask_url": uri(b"not an image", "image/png")}, ["body", "mask_url"],
         "mask_url: not an image in a recognised format"),
        ({"mask_url": ""}, ["body", "mask_url"], "mask_url: must not be empty"),
    ]
    for change, loc, words in cases:
        body = {k: v for k, v in {**_body(), **change}.items() if v is not None}
        r = httpx.post(f"{srv.url}/{app}/inpainting", json=body, headers=AUTH)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"][0]
        assert detail["loc"] == loc and detail["msg"].startswith(words), detail
    assert backends[app].seen == []


@pytest.mark.parametrize("app", [LCM, TURBO])
def test_other_sub_paths_drop_a_mask(apps: tuple[ServerThread, dict[str, SeenEcho]],
                                     app: str) -> None:
    """On / and /image-to-image a mask_url is ignored, as fal ignores foreign fields: never
    checked (a broken one, or one without image_url, is fine) and never passed on."""
    srv, backends = apps
    for path, body in (("", {"prompt": "x", "mask_url": "broken"}),
                       ("/image-to-image", _body(mask_url=uri(mask((8, 8)), "image/png")))):
        r = httpx.post(f"{srv.url}/{app}{path}", json=body, headers=AUTH, timeout=30)
        assert r.status_code == 200, r.text
        assert backends[app].seen[-1].mask_url is None


@pytest.mark.parametrize("app", [LCM, TURBO])
def test_realtime_inpainting_and_the_session_keeps_working(
        apps: tuple[ServerThread, dict[str, SeenEcho]], app: str) -> None:
    """WS /{app}/inpainting/realtime: a frame with a mask is answered; a bad mask gets a
    VALIDATION_ERROR naming mask_url; the next frames are answered again."""
    srv, backends = apps
    good = {"prompt": "a cat", "image_url": jpeg(), "mask_url": mask(), "request_id": "r1"}
    with connect(f"{srv.ws_url}/{app}/inpainting/realtime",
                 additional_headers=AUTH) as ws:
        ws.send(msgpack.packb(good))
        first = msgpack.unpackb(ws.recv(timeout=30))
        ws.send(msgpack.packb({**good, "mask_url": mask((16, 16)), "request_id": "bad"}))
        err = str(ws.recv(timeout=30))
        answers = []
        for k in range(3):
            ws.send(msgpack.packb({**good, "request_id": f"after-{k}"}))
            answers.append(msgpack.unpackb(ws.recv(timeout=30))["request_id"])
    assert first["request_id"] == "r1" and first["images"]
    assert "VALIDATION_ERROR" in err and "mask_url: must be 64x64 like image_url" in err
    assert answers == ["after-0", "after-1", "after-2"]
    assert backends[app].seen[-1].mask_url == mask()


@pytest.mark.parametrize("app", [LCM, TURBO, f"{LCM}/image-to-image"])
def test_realtime_backend_sends_a_masked_input_to_inpainting(
        apps: tuple[ServerThread, dict[str, SeenEcho]], app: str) -> None:
    """RealtimeBackend routes an input with mask_url to the app's /inpainting/realtime (on a
    second socket), since /realtime drops the field as fal does: the model gets the mask.
    Unmasked inputs stay on the app's own socket; a bad mask is an InvalidInput naming
    mask_url, and both sockets go on working."""
    from lcm_widgets.backends.realtime import RealtimeBackend
    from lcm_widgets.errors import InvalidInput

    srv, backends = apps
    seen = backends[app.removesuffix("/image-to-image")].seen
    rt = RealtimeBackend(app, base_url=srv.url, key=KEY)
    try:
        base = {"prompt": "a cat", "image_url": jpeg(), "seed": 2}
        out = rt.generate_sync({**base, "mask_url": mask()}, timeout=30)
        assert out.images and seen[-1].mask_url == mask() and seen[-1].is_inpainting
        rt.generate_sync(base, timeout=30)
        assert seen[-1].mask_url is None and not seen[-1].is_inpainting
        with pytest.raises(InvalidInput, match="mask_url: must be 64x64 like image_url"):
            rt.generate_sync({**base, "mask_url": mask((16, 16))}, timeout=30)
        rt.generate_sync({**base, "mask_url": mask(), "seed": 5}, timeout=30)
        assert seen[-1].mask_url == mask() and seen[-1].seed == 5
        rt.generate_sync({**base, "seed": 6}, timeout=30)
        assert seen[-1].mask_url is None and seen[-1].seed == 6
        assert {d.url() for d in rt._dialers.values()} == {
            f"{srv.ws_url}/{app}/realtime",
            f"{srv.ws_url}/{app.removesuffix('/image-to-image')}/inpainting/realtime"}
    finally:
        rt.close()


@pytest.mark.parametrize("app", [LCM, TURBO])
def test_http_backend_sends_a_masked_input_to_inpainting(
        apps: tuple[ServerThread, dict[str, SeenEcho]], app: str) -> None:
    """HttpBackend's sync run and queue submit go to /{app}/inpainting for an input with
    mask_url (the mask sent as a data URI), to /{app} without one."""
    from lcm_widgets.backends.http import HttpBackend
    from lcm_widgets.runtime.loop import run_sync

    srv, backends = apps
    seen = backends[app].seen
    http = HttpBackend(app, base_url=srv.url, key=KEY)
    base = {"prompt": "a cat", "image_url": jpeg(), "seed": 2}
    try:
        http.generate_sync({**base, "mask_url": mask()}, timeout=30)
        assert seen[-1].mask_url == mask()
        http.generate_sync(base, timeout=30)
        assert seen[-1].mask_url is None
        out = run_sync(http.subscribe({**base, "mask_url": mask(), "seed": 9}), 30)
        assert out.images and seen[-1].mask_url == mask() and seen[-1].seed == 9
    finally:
        run_sync(http.aclose(), 10)


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]


def _body_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    node = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return _resolve(doc, node)


def test_openapi_of_two_apps_documents_each_with_its_schema(
        apps: tuple[ServerThread, dict[str, SeenEcho]]) -> None:
    """/openapi.json of a two-app server has both apps' paths (sync, queue, stream,
    realtime; the inpainting ones too), each body with its own app's schema: turbo's
    defaults are not LCM's, and the inpainting bodies require image_url and mask_url."""
    srv, _ = apps
    doc = httpx.get(f"{srv.url}/openapi.json").json()
    for app in (LCM, TURBO):
        for sub in ("", "/image-to-image", "/inpainting"):
            for path in (f"/{app}{sub}", f"/queue/{app}{sub}", f"/{app}{sub}/stream"):
                assert "post" in doc["paths"][path], path
            assert "x-fal-protocol" in doc["paths"][f"/{app}{sub}/realtime"]
    lcm, turbo = _body_schema(doc, f"/{LCM}"), _body_schema(doc, f"/{TURBO}")
    assert lcm["properties"]["num_inference_steps"]["default"] == 6
    assert turbo["properties"]["num_inference_steps"]["default"] == 2
    assert "format" in lcm["properties"] and "format" not in turbo["properties"]
    for app, steps in ((LCM, 6), (TURBO, 2)):
        inpaint = _body_schema(doc, f"/{app}/inpainting")
        assert {"image_url", "mask_url", "prompt"} <= set(inpaint["required"])
        assert inpaint["properties"]["num_inference_steps"]["default"] == steps
        queued = _body_schema(doc, f"/queue/{app}/inpainting")
        assert queued == inpaint
        i2i = _body_schema(doc, f"/{app}/image-to-image")
        assert "image_url" in i2i["required"]
        assert _resolve(doc, i2i["allOf"][0]) == _body_schema(doc, f"/{app}")
    refs = str(doc)
    for name in [r.split("'")[0] for r in refs.split("#/components/schemas/")[1:]]:
        assert name in doc["components"]["schemas"], name  # every reference resolves
    assert "/health" in doc["paths"] and "/tokens/" in doc["paths"]


def test_one_app_openapi_documents_inpainting() -> None:
    """A one-app server documents its /inpainting paths with InpaintingInput."""
    with ServerThread(create_app(EchoBackend(), ServerConfig(keys=[KEY]))) as srv:
        doc = httpx.get(f"{srv.url}/openapi.json").json()
    body = _body_schema(doc, f"/{LCM}/inpainting")
    assert body["title"] == "InpaintingInput"
    assert {"image_url", "mask_url"} <= set(body["required"])


def test_tiny_model_inpaints_through_the_server(tiny: Any) -> None:
    """The real tiny LocalLCM behind /inpainting: an image of the source's size; the same
    seed gives the same bytes."""
    with ServerThread(create_app(tiny, ServerConfig(keys=[KEY]))) as srv:
        body = _body(num_inference_steps=2, strength=1.0, format="png")
        a = httpx.post(f"{srv.url}/{LCM}/inpainting", json=body, headers=AUTH, timeout=120)
        b = httpx.post(f"{srv.url}/{LCM}/inpainting", json=body, headers=AUTH, timeout=120)
    assert a.status_code == b.status_code == 200, a.text
    img = a.json()["images"][0]
    assert (img["width"], img["height"]) == (64, 64)
    assert img["url"] == b.json()["images"][0]["url"]
