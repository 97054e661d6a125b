"""``@fal-ai/client`` 1.10.1 (Node 20, ``ws``), unmodified, against our server on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest
from conformance_helpers import APP, KEY, HoldSlowEcho, run_node

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.server import ServerConfig, ServerThread, create_app

pytestmark = pytest.mark.conformance


def test_js_realtime_round_trip_errors_and_token_recovery() -> None:
    """connect/send/onResult, x-fal-error → onError, Unauthorized → new token → result."""
    with ServerThread(create_app(EchoBackend(), ServerConfig(keys=[KEY]))) as srv:
        out = run_node("realtime.mjs", srv.port)
    rt = out["roundTrip"]
    assert rt["first"] == {"request_id": "r1", "url": "data:image/jpeg;base64,",
                           "width": 64, "seed": 42, "isObject": "object"}
    assert rt["error"]["status"] == 400
    assert rt["error"]["message"] == ("VALIDATION_ERROR: num_inference_steps: must be between "
                                      "1 and 50, got 80")
    assert rt["second"] == {"request_id": "r2"}
    # the server answers a code-less close with 1000, so no spurious 1005 onError
    assert rt["errorsAfterClose"] == []
    auth = out["auth"]
    assert auth["providerCalls"] == [f"{APP}/realtime", f"{APP}/realtime"]
    assert [e["status"] for e in auth["errors"]] == [1008]
    assert "Unauthorized" in auth["errors"][0]["message"]
    assert auth["result"] == "a2"
    assert all(u.startswith(f"wss://fal.run/{APP}/realtime?fal_jwt_token=T")
               for u in out["wsUrls"])


def test_js_run_validation_subscribe_cancel() -> None:
    """fal.run, ValidationError.fieldErrors, 401, subscribe with logs (poll + SSE), cancel."""
    model = HoldSlowEcho()
    with ServerThread(create_app(model, ServerConfig(keys=[KEY]))) as srv:
        jobs = srv.app.state.lcm.jobs
        stop = threading.Event()

        def release_after_cancel() -> None:
            # the "slow" job is held until the queued job has been cancelled
            while not stop.is_set():
                if any(j.error_type == "request_cancelled" for j in list(jobs._jobs.values())):
                    model.release.set()
                    return
                time.sleep(0.01)

        watcher = threading.Thread(target=release_after_cancel, daemon=True)
        watcher.start()
        try:
            out = run_node("http.mjs", srv.port)
        finally:
            stop.set()
            model.release.set()
    assert out["run"]["seed"] == 7 and out["run"]["requestId"]
    assert out["run"]["url"] == "data:image/jpeg;base64,"
    val = out["validation"]
    assert val["isValidationError"] and val["status"] == 422
    assert val["fieldErrors"] == [{"loc": ["body", "num_inference_steps"],
                                   "msg": "num_inference_steps: must be between 1 and 50, "
                                          "got 80", "type": "less_than_equal"}]
    assert val["requestId"]
    assert out["unauthorized"]["status"] == 401 and out["unauthorized"]["isApiError"]
    assert out["unauthorized"]["body"]["detail"] == "unknown API key"
    sub = out["subscribe"]
    assert sub["seed"] == 9 and sub["url"].startswith(f"http://127.0.0.1:{srv.port}/files/")
    assert sub["updates"][-1]["status"] == "COMPLETED"
    assert any(m["message"].startswith("completed in") for m in sub["updates"][-1]["logs"])
    assert out["streaming"]["seed"] == 11 and out["streaming"]["statuses"][-1] == "COMPLETED"
    assert out["cancel"]["submitStatus"] == "IN_QUEUE"
    assert out["cancel"]["status"] == "COMPLETED"
    assert out["cancel"]["error_type"] == "request_cancelled"
    assert out["cancel"]["result"]["status"] == 400
    assert out["slowStatus"] == "COMPLETED"


def test_blog_json_text_client() -> None:
    """The 2023 blog's hand-written client (node ``ws``, no fal library): JSON.stringify(input)
    as a text frame in, JSON text out with images[0].url (a data URI) and timings.inference;
    a bad input is an x-fal-error and the connection goes on."""
    with ServerThread(create_app(EchoBackend(), ServerConfig(keys=[KEY]))) as srv:
        out = run_node("blog.mjs", srv.port)
    assert out["first"] == {"isText": True, "url": "data:image/jpeg;base64,", "width": 64,
                            "inference": "number", "seed": 42, "request_id": "b1",
                            "steps": 2}
    assert out["error"]["isText"] and out["error"]["data"]["type"] == "x-fal-error"
    assert out["error"]["data"]["error"] == "VALIDATION_ERROR"
    assert "num_inference_steps: must be between 1 and 50, got 80" in \
        out["error"]["data"]["reason"]
    assert out["second"]["isText"] and out["second"]["seed"] == 7
    assert out["second"]["request_id"] is None and out["second"]["inference"] == "number"


def test_js_storage_upload_and_blob_auto_upload() -> None:
    """fal.storage.upload(Blob) → a URL of this server; a Blob/File in fal.run and
    fal.subscribe input is uploaded automatically; refusals are ApiErrors; per key."""
    config = ServerConfig(keys=[KEY, "other-id:other-secret"])
    with ServerThread(create_app(EchoBackend(), config)) as srv:
        out = run_node("storage.mjs", srv.port)
    assert out["upload"]["url"].startswith(f"http://127.0.0.1:{srv.port}/storage/files/")
    assert out["upload"]["width"] == 64
    auto = out["autoRun"]
    assert auto["width"] == 64 and auto["seed"] == 5
    assert auto["bodyRequestId"] == auto["requestId"]  # the body carries the header's id
    assert out["autoSubscribe"] == {"width": 64, "seed": 6}
    refused = out["refused"]
    assert refused["status"] == 422
    assert refused["body"]["detail"][0]["msg"].startswith(
        "content_type: this server stores images only")
    other = out["otherKey"]
    assert other["status"] == 422 and "no uploaded file" in other["body"]["detail"][0]["msg"]


def test_js_stream() -> None:
    """fal.stream: the async iterator yields a preview per step then the output, done() is
    the output; an image Blob in the input is uploaded first; a 422 rejects done()."""
    with ServerThread(create_app(EchoBackend(), ServerConfig(keys=[KEY]))) as srv:
        out = run_node("stream.mjs", srv.port)
    events = out["events"]
    assert [e["step"] for e in events] == [1, 2, 3, None]
    assert [e["partial"] for e in events] == [True, True, True, False]
    assert events[0]["url"] == "data:image/jpeg;base64,"
    assert out["done"]["seed"] == 8 and out["done"]["partial"] is False
    assert out["done"]["url"].startswith(f"http://127.0.0.1:{srv.port}/files/")
    assert out["requestId"]
    assert out["i2i"] == {"steps": [1, 2, None], "width": 64}
    bad = out["bad"]
    assert bad["status"] == 422 and bad["fieldErrors"][0]["msg"] == (
        "num_inference_steps: must be between 1 and 50, got 0")


def test_js_two_apps_each_answer_with_their_own_schema() -> None:
    """@fal-ai/client against a two-app server: fal.run and fal.realtime (a token minted per
    app) on each app answer with its schema and defaults; ValidationError.fieldErrors and the
    realtime onError name the field with each app's limit."""
    from lcm_widgets.server import create_multi_app

    turbo = "fal-ai/fast-turbo-diffusion"
    app = create_multi_app({APP: EchoBackend(), turbo: EchoBackend()}, ServerConfig(keys=[KEY]))
    with ServerThread(app) as srv:
        out = run_node("apps.mjs", srv.port)
    lcm, tur = out["lcm"], out["turbo"]
    assert lcm["run"]["url"].startswith(f"http://127.0.0.1:{srv.port}/files/")
    assert {**lcm["run"], "url": None} == {"seed": 5, "steps": 6, "hasPrompt": True,
                                           "url": None}
    assert tur["run"] == {"seed": 5, "steps": 2, "hasPrompt": False,
                          "url": "data:image/jpeg;base64,"}
    for side, steps, limit in ((lcm, 80, 50), (tur, 8, 4)):
        assert side["validation"]["isValidationError"] and side["validation"]["status"] == 422
        assert side["validation"]["fieldErrors"] == [{
            "loc": ["body", "num_inference_steps"], "type": "less_than_equal",
            "msg": f"num_inference_steps: must be between 1 and {limit}, got {steps}"}]
        rt = side["realtime"]
        assert (rt["request_id"], rt["seed"], rt["after"]) == ("a1", 8, "a2")
        assert rt["url"] == "data:image/jpeg;base64,"
        assert rt["error"]["message"] == (f"VALIDATION_ERROR: num_inference_steps: must be "
                                          f"between 1 and {limit}, got 99")
    assert lcm["realtime"]["hasPrompt"] and not tur["realtime"]["hasPrompt"]


def test_js_two_apps_inpainting() -> None:
    """@fal-ai/client calls {app}/inpainting of each app of a two-app server: fal.run and
    fal.realtime answer images; a broken mask is a ValidationError (422) whose fieldErrors
    name mask_url, and an onError on the socket, after which it answers again."""
    from lcm_widgets.server import create_multi_app

    turbo = "fal-ai/fast-turbo-diffusion"
    app = create_multi_app({APP: EchoBackend(), turbo: EchoBackend()}, ServerConfig(keys=[KEY]))
    with ServerThread(app) as srv:
        out = run_node("inpaint.mjs", srv.port)
    for side, steps in ((out["lcm"], 6), (out["turbo"], 2)):
        assert {**side["run"], "width": None} == {"seed": 5, "steps": steps, "width": None,
                                                  "url": "data:image/jpeg;base64,"}
        assert side["run"]["width"] > 0
        assert side["bad"] == {"isValidationError": True, "status": 422,
                               "loc": ["body", "mask_url"]}
        rt = side["realtime"]
        assert (rt["request_id"], rt["seed"], rt["images"], rt["after"]) == ("m1", 4, 1, "m2")
        assert rt["error"].startswith("INVALID_IMAGE: mask_url:")
