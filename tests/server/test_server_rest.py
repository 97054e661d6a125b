"""Sync REST, queue, tokens, files, health and OpenAPI, with httpx against a real server."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import httpx
import pytest
from server_helpers import APP, AUTH, GatedEcho, health, jpeg, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lcm_widgets.server import ServerThread


def test_sync_run_answers_with_request_id_and_files_url(serve: Any) -> None:
    """POST /{app}: output JSON, x-fal-request-id, sync_mode=false → a /files URL."""
    srv = serve()
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": "a cat", "seed": 7}, headers=AUTH)
    assert r.status_code == 200 and r.headers["x-fal-request-id"]
    out = r.json()
    assert out["seed"] == 7 and out["prompt"] == "a cat"
    img = out["images"][0]
    assert img["url"].startswith(srv.url + "/files/") and img["content_type"] == "image/jpeg"
    got = httpx.get(img["url"])
    assert got.status_code == 200 and len(got.content) == img["file_size"]
    assert httpx.get(srv.url + "/files/nope").status_code == 404


def test_sync_mode_gives_data_uris_and_request_id(serve: Any) -> None:
    """sync_mode=true → data URI; a given request_id is copied to the output."""
    srv = serve()
    r = httpx.post(f"{srv.url}/{APP}", headers=AUTH,
                   json={"prompt": "x", "sync_mode": True, "request_id": "mine"})
    assert r.json()["images"][0]["url"].startswith("data:image/jpeg;base64,")
    assert r.json()["request_id"] == "mine"


def test_image_to_image_subpath(serve: Any) -> None:
    """/{app}/image-to-image requires image_url and accepts a data URI."""
    srv = serve()
    r = httpx.post(f"{srv.url}/{APP}/image-to-image", json={"prompt": "x"}, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"] == [{"loc": ["body", "image_url"], "type": "missing",
                                   "msg": "image_url: is required for image-to-image"}]
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg((96, 64))).decode()
    r = httpx.post(f"{srv.url}/{APP}/image-to-image", headers=AUTH,
                   json={"prompt": "x", "image_url": uri, "strength": 1, "sync_mode": True})
    assert r.status_code == 200 and r.json()["images"][0]["width"] == 96


@pytest.mark.parametrize(("body", "loc", "msg"), [
    ({"prompt": "x", "num_inference_steps": 80}, ["body", "num_inference_steps"],
     "num_inference_steps: must be between 1 and 50, got 80"),
    ({}, ["body", "prompt"], "prompt: is required"),
    ([1, 2], ["body"], "body: must be a JSON object of input fields, got list"),
])
def test_validation_errors_are_fastapi_shaped(serve: Any, body: Any, loc: list[str],
                                              msg: str) -> None:
    """422 detail is [{loc, msg, type}] with our messages, and still has a request id."""
    srv = serve()
    r = httpx.post(f"{srv.url}/{APP}", json=body, headers=AUTH)
    assert r.status_code == 422 and r.headers["x-fal-request-id"]
    first = r.json()["detail"][0]
    assert first["loc"] == loc and first["msg"] == msg and first["type"]


def test_invalid_json_is_422(serve: Any) -> None:
    """A body that is not JSON names the problem."""
    srv = serve()
    r = httpx.post(f"{srv.url}/{APP}", content=b"{nope",
                   headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422 and "body: must be valid JSON" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Key wrong:key"},
                                     {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer not.a.token"}])
def test_rest_without_a_good_key_is_401(serve: Any, headers: dict[str, str]) -> None:
    """Missing or wrong credentials → 401 {"detail": ...} on run, queue and tokens."""
    srv = serve()
    for method, path in [("POST", f"/{APP}"), ("POST", f"/queue/{APP}"), ("POST", "/tokens/"),
                         ("GET", f"/queue/{APP}/requests/x/status")]:
        r = httpx.request(method, srv.url + path, json={"prompt": "x"}, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert isinstance(r.json()["detail"], str) and r.headers["x-fal-request-id"]


def test_bearer_token_works_on_rest(serve: Any) -> None:
    """A minted token works as ``Authorization: Bearer`` on REST, but cannot mint tokens."""
    srv = serve()
    tok = httpx.post(srv.url + "/tokens", headers=AUTH,
                     json={"allowed_apps": ["fast-lcm-diffusion"]}).json()
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": "x"},
                   headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200
    again = httpx.post(srv.url + "/tokens/", headers={"Authorization": f"Bearer {tok}"},
                       json={"allowed_apps": ["fast-lcm-diffusion"], "token_expiration": 9999})
    assert again.status_code == 401 and "needs an API key" in again.json()["detail"]


def test_token_mint_shape_and_validation(serve: Any) -> None:
    """/tokens/ answers 201 with a JSON string; bad fields get 422 naming them."""
    srv = serve()
    r = httpx.post(srv.url + "/tokens/", headers=AUTH,
                   json={"allowed_apps": ["fast-lcm-diffusion"], "token_expiration": 120})
    assert r.status_code == 201 and r.headers["content-type"] == "application/json"
    assert isinstance(r.json(), str) and r.json().count(".") == 2
    r = httpx.post(srv.url + "/tokens/", headers=AUTH,
                   json={"allowed_apps": [], "token_expiration": 0})
    msgs = [e["msg"] for e in r.json()["detail"]]
    assert r.status_code == 422
    assert msgs[0].startswith("allowed_apps: must be a list of 1 to 32 app aliases, got []")
    assert msgs[1] == ("token_expiration: must be a whole number of seconds between 1 and "
                       "86400, got 0")


def test_unknown_route_is_a_helpful_404(serve: Any) -> None:
    """Another app id → 404 naming what this server serves."""
    srv = serve()
    r = httpx.post(f"{srv.url}/someone/else", json={"prompt": "x"}, headers=AUTH)
    assert r.status_code == 404 and APP in r.json()["detail"]
    assert r.headers["x-fal-request-id"]


def test_queue_submit_status_logs_result(serve: Any) -> None:
    """Submit → status (IN_QUEUE/IN_PROGRESS/COMPLETED with logs) → result."""
    model = GatedEcho()
    srv = serve(model)
    sub = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "q", "seed": 3},
                     headers=AUTH).json()
    assert set(sub) >= {"request_id", "response_url", "status_url", "cancel_url"}
    assert sub["status_url"] == f"{srv.url}/queue/{APP}/requests/{sub['request_id']}/status"
    st = httpx.get(sub["status_url"], headers=AUTH).json()
    assert st["status"] == "IN_PROGRESS" and st["logs"] is None
    st = httpx.get(sub["status_url"] + "?logs=true", headers=AUTH).json()
    assert [e["message"] for e in st["logs"]][1] == "generating on echo"
    early = httpx.get(sub["response_url"], headers=AUTH)
    assert early.status_code == 400 and "IN_PROGRESS" in early.json()["detail"]
    model.gate.set()
    wait_until(lambda: httpx.get(sub["status_url"], headers=AUTH).json()["status"]
               == "COMPLETED", what="completion")
    st = httpx.get(sub["status_url"] + "?logs=1", headers=AUTH).json()
    assert st["logs"][-1]["level"] == "INFO" and "inference_time" in st["metrics"]
    res = httpx.get(sub["response_url"], headers=AUTH)
    assert res.json()["seed"] == 3 and res.headers["x-fal-request-id"] == sub["request_id"]


def test_queue_status_stream_is_sse(serve: Any) -> None:
    """…/status/stream sends one SSE event per status, ending with COMPLETED."""
    model = GatedEcho()
    srv = serve(model)
    sub = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "q"}, headers=AUTH).json()
    statuses: list[str] = []
    with httpx.stream("GET", sub["status_url"] + "/stream?logs=1", headers=AUTH,
                      timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                statuses.append(json.loads(line[6:])["status"])
                model.gate.set()
    assert statuses[-1] == "COMPLETED" and statuses[0] in {"IN_QUEUE", "IN_PROGRESS"}


def test_queue_full_is_429(serve: Any) -> None:
    """With max_queue=2 and the model busy, the third waiting job is refused with 429."""
    model = GatedEcho()
    srv = serve(model, max_queue=2)
    first = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "1"}, headers=AUTH).json()
    wait_until(lambda: httpx.get(first["status_url"], headers=AUTH).json()["status"]
               == "IN_PROGRESS", what="the first job to start")
    subs = [httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": p}, headers=AUTH)
            for p in "23"]
    assert [s.json()["queue_position"] for s in subs] == [0, 1]
    full = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "4"}, headers=AUTH)
    assert full.status_code == 429 and full.headers["retry-after"] == "1"
    assert full.json()["detail"] == ("queue is full: 2 requests waiting (max_queue 2); "
                                     "retry later")
    assert httpx.post(f"{srv.url}/{APP}", json={"prompt": "5"}, headers=AUTH).status_code == 429
    model.gate.set()
    for s in subs:
        url = s.json()["status_url"]
        wait_until(lambda u=url: httpx.get(u, headers=AUTH).json()["status"] == "COMPLETED",
                   what="the queued jobs")


def test_cancel_queued_running_and_unknown(serve: Any) -> None:
    """Cancel: queued → 202 CANCELLATION_REQUESTED; done → 400 ALREADY_COMPLETED; 404."""
    model = GatedEcho()
    srv = serve(model)
    run = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "1"}, headers=AUTH).json()
    wait_until(lambda: httpx.get(run["status_url"], headers=AUTH).json()["status"]
               == "IN_PROGRESS", what="the first job to start")
    queued = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "2"}, headers=AUTH).json()
    r = httpx.put(queued["cancel_url"], headers=AUTH)
    assert (r.status_code, r.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    st = httpx.get(queued["status_url"], headers=AUTH).json()
    assert st["status"] == "COMPLETED" and st["error_type"] == "request_cancelled"
    assert httpx.get(queued["response_url"], headers=AUTH).status_code == 400
    r = httpx.put(f"{srv.url}/queue/{APP}/requests/nope/cancel", headers=AUTH)
    assert (r.status_code, r.json()) == (404, {"status": "NOT_FOUND"})
    model.gate.set()
    wait_until(lambda: httpx.get(run["status_url"], headers=AUTH).json()["status"]
               == "COMPLETED", what="the first job")
    r = httpx.put(run["cancel_url"], headers=AUTH)
    assert (r.status_code, r.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert model.order == ["1"]


def test_failed_job_reports_error(serve: Any) -> None:
    """A model failure: sync → 500 detail; queue → COMPLETED with error, result 500."""
    srv = serve()
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": "!fail"}, headers=AUTH)
    assert r.status_code == 500 and "asked to fail" in r.json()["detail"]
    assert r.headers["x-fal-request-id"]
    sub = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "!fail"}, headers=AUTH).json()
    wait_until(lambda: httpx.get(sub["status_url"], headers=AUTH).json()["status"]
               == "COMPLETED", what="the job")
    st = httpx.get(sub["status_url"], headers=AUTH).json()
    assert st["error_type"] == "generation_failed"
    assert httpx.get(sub["response_url"], headers=AUTH).status_code == 500


def test_generation_timeout_is_504_and_server_goes_on(serve: Any) -> None:
    """A stuck model: sync → 504 naming the limit; queue → COMPLETED with error
    generation_timeout; the next request is answered; /health counts the timeouts."""
    srv = serve(generation_timeout=0.3)
    r = httpx.post(f"{srv.url}/{APP}", json={"prompt": "!hang"}, headers=AUTH, timeout=30)
    assert r.status_code == 504
    assert "took longer than the server's limit of 0.3 s" in r.json()["detail"]
    sub = httpx.post(f"{srv.url}/queue/{APP}", json={"prompt": "!hang"}, headers=AUTH).json()
    wait_until(lambda: httpx.get(sub["status_url"], headers=AUTH).json()["status"]
               == "COMPLETED", what="the job")
    assert httpx.get(sub["status_url"], headers=AUTH).json()["error_type"] == \
        "generation_timeout"
    assert httpx.get(sub["response_url"], headers=AUTH).status_code == 504
    ok = httpx.post(f"{srv.url}/{APP}", json={"prompt": "fine", "seed": 3}, headers=AUTH)
    assert ok.status_code == 200 and ok.json()["seed"] == 3
    h = health(srv)
    assert h["generation_timeout_s"] == 0.3 and h["generation_timeouts"] == 2


class Receiver:
    """A webhook receiver on 127.0.0.1 that fails its first ``fail_first`` deliveries."""

    def __init__(self, fail_first: int = 1) -> None:
        self.fail_first = fail_first
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

        async def hook(request: Request) -> JSONResponse:
            body = await request.json()
            with self.lock:
                self.bodies.append(body)
                n = len(self.bodies)
            return JSONResponse({"ok": n > self.fail_first},
                                status_code=500 if n <= self.fail_first else 200)

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def test_webhook_is_delivered_with_retry(serve: Any) -> None:
    """fal_webhook gets {status: OK, payload, request_id}, retried after a first 500."""
    receiver = Receiver(fail_first=1)
    with ServerThread(receiver.app) as hook_srv:
        srv = serve(webhook_backoff=0.05, webhook_allow=["127.0.0.1"])
        url = f"{hook_srv.url}/hook"
        sub = httpx.post(f"{srv.url}/queue/{APP}", params={"fal_webhook": url},
                         json={"prompt": "w", "seed": 5}, headers=AUTH).json()
        wait_until(lambda: len(receiver.bodies) >= 2, what="two webhook deliveries")
        logs = httpx.get(sub["status_url"] + "?logs=1", headers=AUTH).json()["logs"]
    first, second = receiver.bodies[:2]
    assert first == second and second["status"] == "OK"
    assert second["request_id"] == sub["request_id"] and second["payload"]["seed"] == 5
    messages = [e["message"] for e in logs]
    assert any("webhook attempt 1 failed: HTTP 500" in m for m in messages)
    assert "webhook delivered (attempt 2)" in messages


def test_webhook_error_body_and_bad_url(serve: Any) -> None:
    """A failed job posts status ERROR with error; a non-http webhook URL is a 422."""
    receiver = Receiver(fail_first=0)
    with ServerThread(receiver.app) as hook_srv:
        srv = serve(webhook_allow=["127.0.0.1"])
        httpx.post(f"{srv.url}/queue/{APP}", params={"fal_webhook": f"{hook_srv.url}/hook"},
                   json={"prompt": "!fail"}, headers=AUTH)
        wait_until(lambda: len(receiver.bodies) >= 1, what="the webhook")
        bad = httpx.post(f"{srv.url}/queue/{APP}", params={"fal_webhook": "ftp://x"},
                         json={"prompt": "x"}, headers=AUTH)
    body = receiver.bodies[0]
    assert body["status"] == "ERROR" and "asked to fail" in body["error"]
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["msg"] == "fal_webhook: must be an http(s) URL, got 'ftp://x'"


def test_health_and_openapi(serve: Any) -> None:
    """/health reports the model and queue; /openapi.json has schemas and the realtime path."""
    srv = serve()
    h = httpx.get(srv.url + "/health")
    assert h.status_code == 200 and h.headers["x-fal-request-id"]
    body = h.json()
    assert body["model"]["name"] == "echo" and body["queue"] == {"length": 0, "max": 64}
    assert body["app_id"] == APP and body["auth"] is True
    spec = httpx.get(srv.url + "/openapi.json").json()
    assert {"Input", "Output", "ImageSize", "FalImage"} <= set(spec["components"]["schemas"])
    run = spec["paths"][f"/{APP}"]["post"]
    assert run["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("Input")
    assert spec["paths"][f"/{APP}/realtime"]["x-fal-protocol"]["type"] == "realtime"
    assert f"/queue/{APP}/requests/{{request_id}}/status" in spec["paths"]


def test_oversized_body_is_refused_without_being_read(serve: Any) -> None:
    """A body over max_message_bytes is a 413 naming the limit, whether it declares its length
    or streams without one (chunked), and the server keeps answering."""
    srv = serve(max_message_bytes=1000)
    big = json.dumps({"prompt": "x" * 5000}).encode()
    json_auth = {**AUTH, "Content-Type": "application/json"}
    r = httpx.post(f"{srv.url}/{APP}", content=big, headers=json_auth)
    assert r.status_code == 413
    assert r.json() == {"detail": f"body: must be at most 1000 bytes, got {len(big)}",
                        "error_type": "payload_too_large"}

    def chunks() -> Any:
        for i in range(0, len(big), 256):
            yield big[i:i + 256]

    r = httpx.post(f"{srv.url}/{APP}", content=chunks(), headers=json_auth)
    assert r.status_code == 413
    assert r.json()["detail"] == "body: must be at most 1000 bytes, got more than 1000"
    ok = httpx.post(f"{srv.url}/{APP}", json={"prompt": "x"}, headers=AUTH)
    assert ok.status_code == 200
