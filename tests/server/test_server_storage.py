"""Storage uploads on a real server: the routes the official clients use, per key, bounded,
with a TTL, and resolved only on this server (the clients themselves: tests/conformance)."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import msgpack
import pytest
from server_helpers import APP, AUTH, KEY, jpeg
from websockets.sync.client import connect

from lcm_widgets.server import ServerConfig
from lcm_widgets.server.storage import UploadLimits, UploadStore

OTHER = "other-key:other-secret"
OTHER_AUTH = {"Authorization": f"Key {OTHER}"}


def _png(size: tuple[int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", size).save(buf, "PNG")
    return buf.getvalue()


def _upload(srv: Any, data: bytes, auth: dict[str, str] = AUTH,
            ctype: str = "image/jpeg") -> dict[str, Any]:
    """initiate → PUT, as @fal-ai/client does; returns the initiate answer."""
    init = httpx.post(f"{srv.url}/storage/upload/initiate?storage_type=fal-cdn-v3",
                      headers=auth, json={"content_type": ctype, "file_name": "x.jpg"})
    assert init.status_code == 200, init.text
    put = httpx.put(init.json()["upload_url"], content=data, headers={"Content-Type": ctype})
    assert put.status_code == 200, put.text
    answer: dict[str, Any] = init.json()
    return answer


def test_signed_upload_then_image_url(serve: Any) -> None:
    """initiate → PUT (no credentials) → file_url, readable by its key and usable as input;
    the slot works once."""
    srv = serve(keys=[KEY, OTHER])
    up = _upload(srv, jpeg((48, 32)))
    assert up["file_url"].startswith(f"{srv.url}/storage/files/")
    got = httpx.get(up["file_url"], headers=AUTH)
    assert got.status_code == 200 and got.content == jpeg((48, 32))
    assert got.headers["content-type"] == "image/jpeg"
    r = httpx.post(f"{srv.url}/{APP}/image-to-image", headers=AUTH, json={
        "prompt": "x", "image_url": up["file_url"], "strength": 1, "sync_mode": True})
    assert r.status_code == 200, r.text
    assert r.json()["images"][0]["width"] == 48
    again = httpx.put(up["upload_url"], content=jpeg(), headers={"Content-Type": "image/jpeg"})
    assert again.status_code == 404 and "already used" in again.json()["detail"]
    kept = httpx.get(f"{srv.url}/health").json()["kept"]["uploads"]
    assert kept == {"durable": False, "in_memory": 1, "bytes": len(jpeg((48, 32))),
                    "max": 256, "max_bytes": 256 * 1024 * 1024, "max_per_key": 32,
                    "ttl_s": 3600.0}


def test_direct_upload_with_a_storage_token(serve: Any) -> None:
    """/storage/auth/token → Bearer token → POST /files/upload → access_url (fal's v3 path)."""
    srv = serve()
    tok = httpx.post(f"{srv.url}/storage/auth/token?storage_type=fal-cdn-v3", headers=AUTH,
                     json={})
    assert tok.status_code == 200
    body = tok.json()
    assert body["token_type"] == "Bearer" and body["base_url"] == srv.url
    assert body["expires_at"].endswith("+00:00")
    up = httpx.post(f"{srv.url}/files/upload", content=jpeg(),
                    headers={"Authorization": f"Bearer {body['token']}",
                             "Content-Type": "image/jpeg", "X-Fal-File-Name": "cat.jpg"})
    assert up.status_code == 200, up.text
    assert httpx.get(up.json()["access_url"], headers=AUTH).content == jpeg()
    bad = httpx.post(f"{srv.url}/files/upload", content=jpeg(),
                     headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401


def test_files_are_visible_only_to_the_key_that_uploaded_them(serve: Any) -> None:
    """Key B cannot read key A's upload, nor use its URL as an input: both say not found."""
    srv = serve(keys=[KEY, OTHER])
    up = _upload(srv, jpeg())
    assert httpx.get(up["file_url"], headers=OTHER_AUTH).status_code == 404
    assert httpx.get(up["file_url"]).status_code == 401
    r = httpx.post(f"{srv.url}/{APP}", headers=OTHER_AUTH,
                   json={"prompt": "x", "image_url": up["file_url"], "strength": 1})
    assert r.status_code == 422
    msg = r.json()["detail"][0]["msg"]
    assert msg.startswith("image_url: no uploaded file") and "another key" in msg
    # the owner's realtime session may use it
    token = httpx.post(f"{srv.url}/tokens/", headers=AUTH, json={
        "allowed_apps": ["fast-lcm-diffusion"], "token_expiration": 60}).json()
    with connect(f"{srv.ws_url}/{APP}/realtime?fal_jwt_token={token}") as ws:
        ws.send(msgpack.packb({"prompt": "x", "image_url": up["file_url"], "strength": 1}))
        out = ws.recv()
    assert isinstance(out, bytes) and msgpack.unpackb(out)["images"][0]["width"] == 64


def test_a_file_url_of_another_host_is_refused_not_fetched(serve: Any) -> None:
    """The same path on another host is not ours: refused by name, nothing is fetched."""
    srv = serve()
    up = _upload(srv, jpeg())
    foreign = up["file_url"].replace("127.0.0.1", "localhost")
    r = httpx.post(f"{srv.url}/{APP}", headers=AUTH,
                   json={"prompt": "x", "image_url": foreign, "strength": 1})
    assert r.status_code == 422
    assert "must name this server" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(("data", "ctype", "status", "words"), [
    (jpeg() + bytes(3000), "image/jpeg", 413, "file: must be at most 2000 bytes, got"),
    (_png((300, 10)), "image/png", 422,
     "file: image must be at most 256 pixels per side and 65536 pixels in all, got 300x10"),
    (b"II*\x00" + bytes(100), "image/tiff", 422, "file: TIFF images are not accepted"),
    (b"plain text", "text/plain", 422, "content_type: this server stores images only"),
])
def test_upload_limits(serve: Any, data: bytes, ctype: str, status: int, words: str) -> None:
    """Byte cap (413), pixel cap and format (422, from the header): named field, limit and
    value; the server keeps serving."""
    srv = serve(uploads=UploadLimits(max_bytes=2000, max_side=256, max_pixels=256 * 256))
    init = httpx.post(f"{srv.url}/storage/upload/initiate", headers=AUTH,
                      json={"content_type": ctype, "file_name": "f"})
    if init.status_code != 200:
        r = init
    else:
        r = httpx.put(init.json()["upload_url"], content=data, headers={"Content-Type": ctype})
    assert r.status_code == status, r.text
    body = r.json()
    msg = body["detail"] if isinstance(body["detail"], str) else body["detail"][0]["msg"]
    assert msg.startswith(words), msg
    assert _upload(srv, _png((16, 16)), ctype="image/png")["file_url"]


def test_multipart_and_bad_initiate_bodies_are_refused(serve: Any) -> None:
    """Multipart (for >90 MB files) is a 413 naming the cap; a non-JSON or wrong body a 4xx."""
    srv = serve()
    r = httpx.post(f"{srv.url}/storage/upload/initiate-multipart", headers=AUTH,
                   json={"content_type": "image/png", "file_name": "big.png"})
    assert r.status_code == 413 and "at most 8388608 bytes" in r.json()["detail"]
    r = httpx.post(f"{srv.url}/storage/upload/initiate", headers=AUTH, content=b"x=1")
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    r = httpx.post(f"{srv.url}/storage/upload/initiate", headers=AUTH,
                   json={"content_type": 5})
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"].startswith("content_type: must be a string")
    assert httpx.post(f"{srv.url}/storage/upload/initiate", json={}).status_code == 401


def test_ttl_and_bounds_in_the_store() -> None:
    """A file lives ttl seconds (a stepped clock, no sleeping); the oldest go first past
    max_files; an unused upload slot expires after token_ttl."""
    now = [1000.0]
    store = UploadStore(UploadLimits(ttl=60, max_files=2, token_ttl=30), clock=lambda: now[0])
    a = store.put("k", jpeg(), content_type="image/jpeg", file_name="a")
    assert store.get(a, "k") is not None and store.get(a, "other") is None
    now[0] += 61
    assert store.get(a, "k") is None and len(store) == 0
    ids = [store.put("k", jpeg(), content_type="image/jpeg", file_name=str(i))
           for i in range(3)]
    assert store.get(ids[0], "k") is None and store.get(ids[2], "k") is not None
    assert store.total_bytes == 2 * len(jpeg())
    slot, _file = store.initiate("k", content_type="image/jpeg", file_name="late")
    now[0] += 31
    assert store.complete(slot, jpeg(), "image/jpeg") is None
    token, _exp = store.mint_token("k")
    assert store.token_owner(token) == "k"
    now[0] += 31
    assert store.token_owner(token) is None


def test_one_key_cannot_push_out_another_keys_files() -> None:
    """Past max_files_per_key a key loses its own oldest file, not another key's."""
    store = UploadStore(UploadLimits(max_files=4, max_files_per_key=2))
    a = store.put("a", jpeg(), content_type="image/jpeg", file_name="a")
    b = [store.put("b", jpeg(), content_type="image/jpeg", file_name=str(i)) for i in range(5)]
    assert store.get(a, "a") is not None
    assert [store.get(i, "b") is not None for i in b] == [False, False, False, True, True]
    assert len(store) == 3


@pytest.mark.parametrize(("kw", "message"), [
    ({"max_bytes": 0}, "uploads.max_bytes: must be a whole number of at least 1, got 0"),
    ({"ttl": 0}, "uploads.ttl: must be more than 0 seconds, got 0"),
    ({"formats": ("PNG", "TIFF")}, "uploads.formats: must be among JPEG, PNG, WEBP, BMP, GIF, "
                                   "got 'TIFF'"),
    ({"max_total_bytes": 10, "max_bytes": 20},
     "uploads.max_total_bytes: must be at least uploads.max_bytes (20), got 10"),
])
def test_upload_limits_are_validated(kw: dict[str, Any], message: str) -> None:
    """A bad value is refused when the config is built, naming the field, limit and value."""
    with pytest.raises(ValueError) as info:
        ServerConfig(auth=False, uploads=UploadLimits(**kw))
    assert str(info.value) == message


def test_data_uri_inputs_still_work_beside_uploads(serve: Any) -> None:
    """A data URI input is unaffected by the upload resolver."""
    srv = serve()
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
    r = httpx.post(f"{srv.url}/{APP}", headers=AUTH,
                   json={"prompt": "x", "image_url": uri, "strength": 1})
    assert r.status_code == 200
