"""``fal-client`` (PyPI), unmodified, against our server on 127.0.0.1.

The client's hosts are module globals read at call time, so they are patched after import
(docs/server.md, "Pointing the official clients at it"): run → ``http://127.0.0.1:P/``,
queue → ``…/queue/``, realtime → ``ws://127.0.0.1:P/``, REST (token mint) →
``http://127.0.0.1:P``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import fal_client
import fal_client.client as fc
import pytest
from conformance_helpers import APP, KEY, HoldSlowEcho, jpeg

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.server import ServerConfig, ServerThread, create_app

pytestmark = pytest.mark.conformance


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerThread]:
    """Our server with a HoldSlowEcho model, and fal_client pointed at it."""
    config = ServerConfig(keys=[KEY], session_timeout=30)
    with ServerThread(create_app(HoldSlowEcho(), config)) as srv:
        monkeypatch.setattr(fc, "RUN_URL_FORMAT", f"{srv.url}/")
        monkeypatch.setattr(fc, "QUEUE_URL_FORMAT", f"{srv.url}/queue/")
        monkeypatch.setattr(fc, "REALTIME_URL_FORMAT", f"{srv.ws_url}/")
        monkeypatch.setattr(fc, "REST_URL", srv.url)
        yield srv


@pytest.fixture
def client() -> fal_client.SyncClient:
    return fal_client.SyncClient(key=KEY, default_timeout=30)


@pytest.mark.parametrize("use_jwt", [True, False])
def test_realtime_send_recv(server: ServerThread, client: fal_client.SyncClient,
                            use_jwt: bool) -> None:
    """realtime(): JWT minted via our /tokens/, or Authorization: Key (use_jwt=False)."""
    with client.realtime(APP, use_jwt=use_jwt, max_buffering=4) as conn:
        conn.send({"prompt": "a cat", "image_url": jpeg(), "strength": 1, "seed": 5,
                   "request_id": "py-1", "sync_mode": True})
        out = conn.recv()
        conn.send({"prompt": "again", "request_id": "py-2"})
        out2 = conn.recv()
    assert out is not None and out["request_id"] == "py-1" and out["seed"] == 5
    assert out["images"][0]["url"].startswith("data:image/jpeg;base64,")
    assert out2 is not None and out2["request_id"] == "py-2"


def test_realtime_error_raises_and_session_continues(server: ServerThread,
                                                     client: fal_client.SyncClient) -> None:
    """An x-fal-error raises RealtimeError in recv(); the same connection then works."""
    with client.realtime(APP) as conn:
        conn.send({"prompt": "x", "num_inference_steps": 80})
        with pytest.raises(fal_client.client.RealtimeError) as info:
            conn.recv()
        conn.send({"prompt": "fine", "request_id": "ok"})
        out = conn.recv()
    assert info.value.error == "VALIDATION_ERROR"
    assert info.value.reason == "num_inference_steps: must be between 1 and 50, got 80"
    assert out is not None and out["request_id"] == "ok"


def test_realtime_timeout_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle session ends with RealtimeError('TIMEOUT'), as the client documents."""
    config = ServerConfig(keys=[KEY], session_timeout=0.2)
    with ServerThread(create_app(EchoBackend(), config)) as srv:
        monkeypatch.setattr(fc, "REALTIME_URL_FORMAT", f"{srv.ws_url}/")
        monkeypatch.setattr(fc, "REST_URL", srv.url)
        client = fal_client.SyncClient(key=KEY)
        with client.realtime(APP) as conn:
            with pytest.raises(fal_client.client.RealtimeError) as info:
                conn.recv()
            assert conn.recv() is None  # then a clean 1000 close
    assert info.value.error == "TIMEOUT"


async def test_async_realtime_and_run(server: ServerThread) -> None:
    """AsyncClient: realtime send/recv and run."""
    client = fal_client.AsyncClient(key=KEY)
    async with client.realtime(APP) as conn:
        await conn.send({"prompt": "async", "request_id": "a-1"})
        out = await conn.recv()
    assert out is not None and out["request_id"] == "a-1"
    res = await client.run(APP, arguments={"prompt": "async run", "seed": 3})
    assert res["seed"] == 3


def test_run_and_validation_error(server: ServerThread, client: fal_client.SyncClient) -> None:
    """run() returns the output; a 422 raises FalClientHTTPError carrying our detail."""
    out = client.run(APP, arguments={"prompt": "a cat", "seed": 12})
    assert out["seed"] == 12 and out["images"][0]["url"].startswith(server.url + "/files/")
    i2i = client.run(APP, path="image-to-image",
                     arguments={"prompt": "x", "image_url": out["images"][0]["url"],
                                "strength": 1, "sync_mode": True})
    assert i2i["images"][0]["width"] == 512  # our own /files URL is accepted as a source
    with pytest.raises(fal_client.client.FalClientHTTPError) as info:
        client.run(APP, arguments={"prompt": "x", "num_inference_steps": 0})
    assert info.value.status_code == 422
    assert "num_inference_steps: must be between 1 and 50, got 0" in str(info.value)


def test_wrong_key_is_401(server: ServerThread) -> None:
    """A wrong key raises FalClientHTTPError 401 (not retried)."""
    bad = fal_client.SyncClient(key="wrong:key")
    with pytest.raises(fal_client.client.FalClientHTTPError) as info:
        bad.run(APP, arguments={"prompt": "x"})
    assert info.value.status_code == 401 and "unknown API key" in str(info.value)


def test_submit_status_get(server: ServerThread, client: fal_client.SyncClient) -> None:
    """submit() → handle.status(with_logs) → get(); top-level status()/result() agree."""
    handle = client.submit(APP, arguments={"prompt": "queued", "seed": 21})
    out = handle.get()
    status = handle.status(with_logs=True)
    assert out["seed"] == 21
    assert isinstance(status, fal_client.Completed) and status.logs
    assert "inference_time" in status.metrics
    again = client.status(APP, handle.request_id, with_logs=False)
    assert isinstance(again, fal_client.Completed) and again.logs is None
    assert client.result(APP, handle.request_id)["seed"] == 21
    events = list(client.submit(APP, arguments={"prompt": "events"}).iter_events(
        with_logs=True, interval=0.05))
    assert isinstance(events[-1], fal_client.Completed)


def test_queued_status_and_cancel(server: ServerThread,
                                  client: fal_client.SyncClient) -> None:
    """A job behind a held one is Queued(position=0); cancel() succeeds; get() then fails."""
    model: HoldSlowEcho = server.app.state.lcm.backend
    slow = client.submit(APP, arguments={"prompt": "slow"})
    deadline = time.monotonic() + 20
    while not isinstance(slow.status(), fal_client.InProgress):
        assert time.monotonic() < deadline, "the slow job never started"
        time.sleep(0.01)
    queued = client.submit(APP, arguments={"prompt": "behind"})
    assert queued.status() == fal_client.Queued(position=0)
    queued.cancel()
    with pytest.raises(fal_client.client.FalClientHTTPError) as info:
        queued.get()
    assert info.value.status_code == 400 and "cancelled" in str(info.value)
    model.release.set()
    assert slow.get()["prompt"] == "slow"
    with pytest.raises(fal_client.client.FalClientHTTPError) as info:
        slow.cancel()  # 400 ALREADY_COMPLETED
    assert info.value.status_code == 400


@pytest.fixture
def storage_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerThread]:
    """Our server with fal_client's REST host and v3 CDN pointed at it too."""
    config = ServerConfig(keys=[KEY, "other-id:other-secret"])
    with ServerThread(create_app(EchoBackend(), config)) as srv:
        monkeypatch.setattr(fc, "RUN_URL_FORMAT", f"{srv.url}/")
        monkeypatch.setattr(fc, "QUEUE_URL_FORMAT", f"{srv.url}/queue/")
        monkeypatch.setattr(fc, "REST_URL", srv.url)
        monkeypatch.setattr(fc, "CDN_URL", srv.url)
        yield srv


def test_upload_image_then_run(storage_server: ServerThread,
                               client: fal_client.SyncClient) -> None:
    """upload_image (the default fal_v3 path: storage token, then POST /files/upload) → a URL
    of this server → image_url of run() and submit(); another key cannot use it."""
    from PIL import Image

    url = client.upload_image(Image.new("RGB", (40, 24), (9, 9, 9)))
    assert url.startswith(f"{storage_server.url}/storage/files/")
    out = client.run(APP, path="image-to-image",
                     arguments={"prompt": "x", "image_url": url, "strength": 1,
                                "sync_mode": True})
    assert out["images"][0]["width"] == 40
    # the result body fields fal_client hands back as they are
    assert out["request_id"] and out["num_inference_steps"] == 6
    assert isinstance(out["timings"]["inference"], float)
    queued = client.submit(APP, arguments={"prompt": "q", "image_url": url, "strength": 1})
    assert queued.get()["images"][0]["width"] == 40
    other = fal_client.SyncClient(key="other-id:other-secret")
    with pytest.raises(fal_client.client.FalClientHTTPError) as info:
        other.run(APP, arguments={"prompt": "x", "image_url": url, "strength": 1})
    assert info.value.status_code == 422 and "no uploaded file" in str(info.value)


def test_upload_file_and_the_storage_repository(storage_server: ServerThread,
                                                client: fal_client.SyncClient,
                                                tmp_path: Path) -> None:
    """upload_file (mime type from the name) and upload(repository="fal"): initiate, then the
    PUT to the signed upload_url."""
    path = tmp_path / "cat.jpg"
    path.write_bytes(jpeg((32, 32)))
    url = client.upload_file(path)
    assert client.run(APP, arguments={"prompt": "x", "image_url": url, "strength": 1,
                                      "sync_mode": True})["images"][0]["width"] == 32
    url2 = client.upload(jpeg((16, 16)), "image/jpeg", repository="fal",
                         fallback_repository=[])
    assert url2.startswith(f"{storage_server.url}/storage/files/") and url2 != url
    out = client.run(APP, arguments={"prompt": "x", "image_url": url2, "strength": 1,
                                     "sync_mode": True})
    assert out["images"][0]["width"] == 16


async def test_async_upload_image(storage_server: ServerThread) -> None:
    """AsyncClient.upload_image works the same way."""
    from PIL import Image

    client = fal_client.AsyncClient(key=KEY)
    url = await client.upload_image(Image.new("RGB", (8, 8)), format="png")
    res = await client.run(APP, arguments={"prompt": "a", "image_url": url, "strength": 1,
                                           "sync_mode": True})
    assert res["images"][0]["width"] == 8


def test_stream_previews_then_output(server: ServerThread, client: fal_client.SyncClient) -> None:
    """fal_client.stream: a preview event per step, then the output as the last event."""
    events = list(client.stream(APP, {"prompt": "streamed", "seed": 4,
                                      "num_inference_steps": 3}))
    assert [e.get("step") for e in events] == [1, 2, 3, None]
    assert all(e["partial"] for e in events[:-1])
    assert events[0]["images"][0]["url"].startswith("data:image/jpeg;base64,")
    final = events[-1]
    assert final["partial"] is False and final["seed"] == 4
    assert final["images"][0]["url"].startswith(server.url + "/files/")
    i2i = list(client.stream(f"{APP}/image-to-image", {
        "prompt": "x", "image_url": "data:image/jpeg;base64,"
        + base64.b64encode(jpeg()).decode(), "strength": 1,
        "num_inference_steps": 2}))
    assert [e.get("step") for e in i2i] == [1, 2, None]
    # an input error is a plain 422 before any event; fal_client.stream does not look at the
    # status and raises httpx_sse's SSEError for the JSON answer
    from httpx_sse import SSEError

    with pytest.raises(SSEError, match="got 'application/json'"):
        list(client.stream(APP, {"prompt": "x", "num_inference_steps": 0}))


async def test_async_stream(server: ServerThread) -> None:
    """AsyncClient.stream yields the same events."""
    client = fal_client.AsyncClient(key=KEY)
    events = [e async for e in client.stream(APP, {"prompt": "a", "num_inference_steps": 2})]
    assert [e.get("step") for e in events] == [1, 2, None]


TURBO = "fal-ai/fast-turbo-diffusion"


@pytest.fixture
def two_apps(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerThread]:
    """One server with the LCM app and the turbo app, fal_client pointed at it."""
    from lcm_widgets.server import create_multi_app

    app = create_multi_app({APP: EchoBackend(), TURBO: EchoBackend()},
                           ServerConfig(keys=[KEY], session_timeout=30))
    with ServerThread(app) as srv:
        monkeypatch.setattr(fc, "RUN_URL_FORMAT", f"{srv.url}/")
        monkeypatch.setattr(fc, "QUEUE_URL_FORMAT", f"{srv.url}/queue/")
        monkeypatch.setattr(fc, "REALTIME_URL_FORMAT", f"{srv.ws_url}/")
        monkeypatch.setattr(fc, "REST_URL", srv.url)
        yield srv


def test_two_apps_each_answer_with_their_own_schema(two_apps: ServerThread,
                                                    client: fal_client.SyncClient) -> None:
    """fal_client against a two-app server: run() and realtime() (a token minted per app) on
    each app answer with that app's schema and defaults, and each app's 422 names the field
    with its own limit."""
    lcm = client.run(APP, {"prompt": "a cat", "seed": 1, "sync_mode": True})
    turbo = client.run(TURBO, {"prompt": "a cat", "seed": 1})
    assert lcm["num_inference_steps"] == 6 and lcm["prompt"] == "a cat"
    assert turbo["num_inference_steps"] == 2 and "prompt" not in turbo
    assert turbo["images"][0]["url"].startswith("data:image/jpeg;base64,")
    for app, steps, limit in ((APP, 80, 50), (TURBO, 8, 4)):
        with pytest.raises(fc.FalClientHTTPError) as info:
            client.run(app, {"prompt": "x", "num_inference_steps": steps})
        assert info.value.status_code == 422
        assert f"num_inference_steps: must be between 1 and {limit}, got {steps}" in str(
            info.value)
    for app, has_prompt in ((APP, True), (TURBO, False)):
        with client.realtime(app) as conn:  # a JWT minted for this app's alias
            conn.send({"prompt": "rt", "image_url": jpeg(), "strength": 1, "seed": 3,
                       "request_id": f"{app}-1", "sync_mode": True})
            out = conn.recv()
            conn.send({"prompt": "rt", "num_inference_steps": 99, "request_id": "bad"})
            with pytest.raises(fc.RealtimeError) as rt:
                conn.recv()
            conn.send({"prompt": "after", "request_id": f"{app}-2", "sync_mode": True})
            after = conn.recv()
        assert out is not None and out["request_id"] == f"{app}-1" and out["seed"] == 3
        assert ("prompt" in out) is has_prompt
        assert rt.value.error == "VALIDATION_ERROR" and "num_inference_steps" in rt.value.reason
        assert after is not None and after["request_id"] == f"{app}-2"


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize("app", [APP, TURBO])
def test_two_apps_inpainting_run_and_realtime(two_apps: ServerThread,
                                              client: fal_client.SyncClient, app: str) -> None:
    """fal_client calls {app}/inpainting of each app of a two-app server: run() and
    realtime() answer images; a mask that is not an image is a 422 naming mask_url (and a
    INVALID_IMAGE on the socket, after which the session answers again)."""
    image = _data_uri(jpeg(), "image/jpeg")  # a uniform 64x64 image: a valid mask too
    broken = _data_uri(b"not an image", "image/png")
    out = client.run(f"{app}/inpainting", {"prompt": "a cat", "image_url": image,
                                           "mask_url": image, "seed": 4, "sync_mode": True})
    assert out["seed"] == 4 and out["images"][0]["url"].startswith("data:image/jpeg;base64,")
    with pytest.raises(fc.FalClientHTTPError) as info:
        client.run(f"{app}/inpainting", {"prompt": "x", "image_url": image,
                                         "mask_url": broken})
    assert info.value.status_code == 422 and "mask_url" in str(info.value)
    with pytest.raises(fc.FalClientHTTPError) as info:
        client.run(f"{app}/inpainting", {"prompt": "x", "image_url": image})
    assert info.value.status_code == 422 and "mask_url: is required" in str(info.value)
    with client.realtime(f"{app}/inpainting") as conn:
        conn.send({"prompt": "rt", "image_url": jpeg(), "mask_url": jpeg(), "seed": 3,
                   "request_id": "m1", "sync_mode": True})
        first = conn.recv()
        conn.send({"prompt": "rt", "image_url": jpeg(), "mask_url": b"broken",
                   "request_id": "bad"})
        with pytest.raises(fc.RealtimeError) as rt:
            conn.recv()
        conn.send({"prompt": "after", "image_url": jpeg(), "mask_url": jpeg(),
                   "request_id": "m2", "sync_mode": True})
        after = conn.recv()
    assert first is not None and first["request_id"] == "m1" and first["images"]
    assert rt.value.error == "INVALID_IMAGE" and "mask_url" in rt.value.reason
    assert after is not None and after["request_id"] == "m2"
