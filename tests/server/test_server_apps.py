"""The turbo app and several apps on one server (docs/server.md, "The turbo app", "Several apps
on one server"): each app's own schema, per-app tokens, /health's list, the CLI's --app."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
from server_helpers import AUTH, KEY, jpeg, wait_until
from test_server_cli import serve_cli
from websockets.sync.client import connect

from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.commands.serve import parse_apps
from lcm_widgets.server import ServerConfig, ServerThread, create_app, create_multi_app

LCM = "fal-ai/fast-lcm-diffusion"
TURBO = "fal-ai/fast-turbo-diffusion"


@pytest.fixture
def two_apps() -> Iterator[ServerThread]:
    """One server, the LCM app and the turbo app, each on its own EchoBackend."""
    app = create_multi_app({LCM: EchoBackend(), TURBO: EchoBackend()},
                           ServerConfig(keys=[KEY]))
    with ServerThread(app) as srv:
        yield srv


def _run(srv: ServerThread, app: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{srv.url}/{app}", json=body, headers=AUTH, timeout=30)


def test_each_app_validates_with_its_own_schema(two_apps: ServerThread) -> None:
    """Defaults, limits and fields are each app's: turbo runs 2 steps and answers data URIs
    without `prompt` by default and refuses 8 steps; the LCM app runs 6, answers /files URLs
    with `prompt`, and refuses 80 steps and turbo's model names."""
    lcm = _run(two_apps, LCM, {"prompt": "a cat", "seed": 3})
    turbo = _run(two_apps, TURBO, {"prompt": "a cat", "seed": 3})
    assert lcm.status_code == turbo.status_code == 200, (lcm.text, turbo.text)
    lcm_out, turbo_out = lcm.json(), turbo.json()
    assert lcm_out["num_inference_steps"] == 6 and lcm_out["prompt"] == "a cat"
    assert lcm_out["images"][0]["url"].startswith(f"{two_apps.url}/files/")
    assert turbo_out["num_inference_steps"] == 2 and "prompt" not in turbo_out
    assert turbo_out["images"][0]["url"].startswith("data:image/jpeg;base64,")
    assert (turbo_out["images"][0]["width"], turbo_out["images"][0]["height"]) == (512, 512)
    bad = _run(two_apps, TURBO, {"prompt": "x", "num_inference_steps": 8})
    assert bad.status_code == 422
    assert bad.json()["detail"] == [{"loc": ["body", "num_inference_steps"],
                                     "type": "less_than_equal",
                                     "msg": "num_inference_steps: must be between 1 and 4, "
                                            "got 8"}]
    bad = _run(two_apps, LCM, {"prompt": "x", "num_inference_steps": 80})
    assert bad.json()["detail"][0]["msg"] == ("num_inference_steps: must be between 1 and 50, "
                                              "got 80")
    bad = _run(two_apps, LCM, {"prompt": "x", "model_name": "stabilityai/sd-turbo"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "model_name"]
    # fields of the other app's schema are ignored, as fal's apps ignore unknown fields
    png = _run(two_apps, TURBO, {"prompt": "x", "format": "png", "guidance_rescale": 0.5})
    assert png.status_code == 200 and png.json()["images"][0]["content_type"] == "image/jpeg"
    lcm_png = _run(two_apps, LCM, {"prompt": "x", "format": "png", "sync_mode": True})
    assert lcm_png.json()["images"][0]["content_type"] == "image/png"
    # the session keeps working after each refusal
    assert _run(two_apps, TURBO, {"prompt": "x", "num_inference_steps": 4}).status_code == 200


def test_tokens_are_per_app_and_realtime_uses_each_schema(two_apps: ServerThread) -> None:
    """A token for the turbo alias opens turbo's socket, not the LCM one's; each socket
    answers with its app's schema and its 422 names the field."""
    token = httpx.post(f"{two_apps.url}/tokens/", headers=AUTH,
                       json={"allowed_apps": ["fast-turbo-diffusion"]}).json()
    refused = httpx.post(f"{two_apps.url}/{LCM}", json={"prompt": "x"},
                         headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and "not valid for app" in refused.json()["detail"]
    with connect(f"{two_apps.ws_url}/{LCM}/realtime?fal_jwt_token={token}") as ws:
        assert "Unauthorized" in str(ws.recv(timeout=30))
    url = f"{two_apps.ws_url}/{TURBO}/image-to-image/realtime?fal_jwt_token={token}"
    with connect(url) as ws:
        ws.send(msgpack.packb({"prompt": "a dog", "image_url": jpeg(), "request_id": "t1"}))
        out = msgpack.unpackb(ws.recv(timeout=30))
        ws.send(msgpack.packb({"prompt": "a dog", "image_url": jpeg(), "strength": 0.2,
                               "request_id": "t2"}))
        err = str(ws.recv(timeout=30))
        ws.send(msgpack.packb({"prompt": "again", "request_id": "t3"}))
        missing = str(ws.recv(timeout=30))
    assert out["request_id"] == "t1" and "prompt" not in out
    assert out["images"][0]["url"].startswith("data:")  # turbo's sync_mode default: true
    assert "VALIDATION_ERROR" in err and "int(2 * 0.2) = 0" in err
    assert "image_url: is required for image-to-image" in missing


def test_health_lists_the_apps_and_shared_routes_work(two_apps: ServerThread) -> None:
    """/health has one entry per app with its schema and model; an upload made once is an
    input of either app; an unknown path's 404 (and an unknown WebSocket's NOT_FOUND) names
every app."""
    apps = httpx.get(f"{two_apps.url}/health").json()["apps"]
    assert list(apps) == [LCM, TURBO]
    assert apps[TURBO]["schema"] == "fast-turbo-diffusion" and apps[TURBO]["model"] == "echo"
    assert apps[LCM]["schema"] == "fast-lcm-diffusion"
    init = httpx.post(f"{two_apps.url}/storage/upload/initiate", headers=AUTH,
                      json={"content_type": "image/jpeg", "file_name": "s.jpg"}).json()
    assert httpx.put(init["upload_url"], content=jpeg()).status_code == 200
    for app in (LCM, TURBO):
        r = _run(two_apps, f"{app}/image-to-image", {"prompt": "x", "image_url":
                                                      init["file_url"], "strength": 0.5})
        assert r.status_code == 200, r.text
    assert httpx.get(f"{two_apps.url}/health").json()["apps"][TURBO]["generations"] == 1
    missing = httpx.post(f"{two_apps.url}/fal-ai/other", json={"prompt": "x"}, headers=AUTH)
    assert missing.status_code == 404
    assert f"/{LCM} (sync)" in missing.json()["detail"]
    assert f"/queue/{TURBO} (queue)" in missing.json()["detail"]
    with connect(f"{two_apps.ws_url}/fal-ai/other/realtime") as ws:
        text = str(ws.recv(timeout=30))
    assert "NOT_FOUND" in text and f"/{TURBO}/realtime" in text and f"/{LCM}/realtime" in text


def test_single_turbo_app_documents_its_schema() -> None:
    """--app fal-ai/fast-turbo-diffusion alone: the OpenAPI Input is turbo's (1..4 steps,
    default 2), and the queue answers with turbo's shape."""
    with ServerThread(create_app(EchoBackend(), ServerConfig(app_id=TURBO, keys=[KEY]))) as srv:
        doc = httpx.get(f"{srv.url}/openapi.json").json()
        steps = doc["components"]["schemas"]["Input"]["properties"]["num_inference_steps"]
        assert (steps["maximum"], steps["default"]) == (4, 2)
        assert "prompt" not in doc["components"]["schemas"]["Output"]["properties"]
        sub = httpx.post(f"{srv.url}/queue/{TURBO}", json={"prompt": "q", "seed": 1},
                         headers=AUTH).json()
        wait_until(lambda: httpx.get(sub["status_url"], headers=AUTH).json()["status"]
                   == "COMPLETED", what="the queued turbo job")
        result = httpx.get(sub["response_url"], headers=AUTH).json()
    assert result["seed"] == 1 and "prompt" not in result and result["num_inference_steps"] == 2


def test_multi_app_config_errors_and_state_dirs(tmp_path: Path) -> None:
    """No app or an app twice is refused naming it; with a state directory each app keeps its
    jobs under DIR/<owner>/<alias>."""
    with pytest.raises(ValueError, match="at least one app"):
        create_multi_app({}, ServerConfig())
    with pytest.raises(ValueError, match="'fal-ai/x' 2 times"):
        create_multi_app([("fal-ai/x", EchoBackend()), ("fal-ai/x/", EchoBackend())])
    app = create_multi_app({LCM: EchoBackend(), TURBO: EchoBackend()},
                           ServerConfig(keys=[KEY], state_dir=str(tmp_path)))
    with ServerThread(app) as srv:
        assert _run(srv, f"queue/{TURBO}", {"prompt": "x"}).status_code == 200
    assert (tmp_path / "fal-ai" / "fast-turbo-diffusion" / "jobs.sqlite3").is_file()
    assert (tmp_path / "fal-ai" / "fast-lcm-diffusion" / "jobs.sqlite3").is_file()


def test_parse_apps() -> None:
    """--app ID=MODEL, ID alone (with --model), none (the LCM app); errors name the value."""
    assert parse_apps(None, "tiny") == [(LCM, "tiny")]
    assert parse_apps([f"{LCM}=lcm-dreamshaper-v7", f"/{TURBO}/=sd-turbo", "me/x"], "echo") == [
        (LCM, "lcm-dreamshaper-v7"), (TURBO, "sd-turbo"), ("me/x", "echo")]
    with pytest.raises(ValueError, match="a model must follow '='"):
        parse_apps([f"{TURBO}="], "tiny")
    with pytest.raises(ValueError, match="given once"):
        parse_apps([LCM, f"{LCM}=echo"], "tiny")


def test_serve_two_apps_from_the_cli() -> None:
    """`serve --app LCM=echo --app TURBO=echo`: both answer with their own schema; a bad
    --app exits with status 2 before loading a model."""
    with serve_cli("--no-auth", "--app", f"{LCM}=echo", "--app", f"{TURBO}=echo") as (url, _):
        assert list(httpx.get(f"{url}/health").json()["apps"]) == [LCM, TURBO]
        r = httpx.post(f"{url}/{TURBO}", json={"prompt": "x", "num_inference_steps": 5})
        assert r.status_code == 422 and "between 1 and 4, got 5" in r.text
        assert httpx.post(f"{url}/{LCM}", json={"prompt": "x",
                                                "num_inference_steps": 5}).status_code == 200
    bad = subprocess.run([sys.executable, "-m", "lcm_widgets", "serve", "--no-auth", "--port",
                          "0", "--app", f"{TURBO}="], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "--app: a model must follow '='" in bad.stderr


@pytest.mark.slow
def test_tiny_turbo_through_the_turbo_app(model_cache: str) -> None:
    """The turbo app on the real tiny-turbo LocalLCM: 1-step text-to-image and image-to-image
    over REST, same seed → same bytes; fal's model name for another model is refused."""
    pytest.importorskip("diffusers")
    from lcm_widgets.backends.local import LocalLCM

    lcm = LocalLCM("tiny-turbo", progress=False, warmup=False)
    config = ServerConfig(app_id=TURBO, keys=[KEY], own_backend=True)
    with ServerThread(create_app(lcm, config)) as srv:
        t2i = {"prompt": "a cat", "seed": 7, "num_inference_steps": 1, "guidance_scale": 0,
               "image_size": {"width": 64, "height": 64}}
        i2i = {"prompt": "a cat", "seed": 7, "num_inference_steps": 2, "strength": 0.5,
               "image_url": "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode(),
               "guidance_scale": 0, "image_size": {"width": 64, "height": 64}}
        for body in (t2i, i2i):
            a, b = _run(srv, TURBO, body), _run(srv, TURBO, body)
            assert a.status_code == 200, a.text
            assert a.json()["images"][0]["url"] == b.json()["images"][0]["url"]
            assert a.json()["seed"] == 7 and a.json()["images"][0]["width"] == 64
        other = _run(srv, TURBO, {**t2i, "model_name": "stabilityai/sdxl-turbo"})
        assert other.status_code == 422 and "tiny-turbo" in other.json()["detail"][0]["msg"]
