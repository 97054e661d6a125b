"""``lcm-widgets serve --ray``: the fal app on a real local Ray cluster on 127.0.0.1
(docs/scale.md).

One private cluster (``LocalCluster``: 2 logical CPUs, a 200 MiB object store, no dashboard)
serves the module; Serve's HTTP proxy listens on 127.0.0.1. The official ``fal_client`` runs
sync, queue and realtime against it unchanged (its hosts pointed at the proxy, as in
tests/conformance/). Every wait is bounded; the cluster is stopped at the end (its own
processes only). Run: ``timeout 900 pytest -m ray tests/scale``.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import io
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import fal_client
import fal_client.client as fc
import httpx
import pytest

from lcm_widgets.server.ray_cluster import LocalCluster, free_port

if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its auth token
    pytest.skip("needs ray[serve] (pip install 'lcm-widgets[ray]')",  # when imported, so
                allow_module_level=True)  # only once the cluster (and its token) exists

pytestmark = [pytest.mark.ray, pytest.mark.slow]

KEY = "ray-id:ray-secret"
APP = "fal-ai/fast-lcm-diffusion"


def jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (20, 120, 220)).save(buf, "JPEG")
    return buf.getvalue()


class Deployed:
    """The Serve app on the module's cluster, reached through Serve's HTTP proxy."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/health", timeout=20).json()
        return body

    def replicas(self, want: int, timeout: float = 60) -> list[dict[str, Any]]:
        """The /health replica list once it shows ``want`` answering replicas."""
        deadline = time.monotonic() + timeout
        last: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            last = self.health()["ray"]["replicas"]
            if len([r for r in last if "error" not in r]) == want and len(last) == want:
                return last
            time.sleep(0.5)
        raise AssertionError(f"/health never listed {want} live replicas; last: {last}")


@pytest.fixture(scope="module")
def cluster(model_cache: str) -> Iterator[LocalCluster]:
    """The module's cluster; its workers inherit LCM_WIDGETS_CACHE (the tiny model's folder,
    set by ``model_cache`` before the cluster starts)."""
    with LocalCluster(num_cpus=2, object_store_mb=200, dashboard=False) as c:
        import ray
        from ray import serve

        ray.init(address=c.address, log_to_driver=False, _node_ip_address="127.0.0.1")
        try:
            yield c
        finally:
            try:
                serve.shutdown()
            finally:
                ray.shutdown()


@pytest.fixture(scope="module")
def echo(cluster: LocalCluster) -> Deployed:
    """Two EchoBackend replicas (0.05 s a call) behind the ingress, with one API key."""
    from ray import serve

    from lcm_widgets.server.ray_serve import build_app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app = build_app({"model": "echo", "replicas": 2, "echo_delay": 0.05,
                     "session_timeout": 60}, keys=[KEY])
    serve.run(app, name="lcm-widgets", route_prefix="/", blocking=False)
    dep = Deployed(port)
    deadline = time.monotonic() + 180
    while True:  # serve.run returns once deployed; the proxy may need a moment more
        try:
            if httpx.get(f"{dep.url}/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the Serve app never answered /health"
        time.sleep(0.5)
    dep.replicas(2, timeout=120)
    return dep


@pytest.fixture
def client(echo: Deployed, monkeypatch: pytest.MonkeyPatch) -> fal_client.SyncClient:
    monkeypatch.setattr(fc, "RUN_URL_FORMAT", f"{echo.url}/")
    monkeypatch.setattr(fc, "QUEUE_URL_FORMAT", f"{echo.url}/queue/")
    monkeypatch.setattr(fc, "REALTIME_URL_FORMAT", f"{echo.ws_url}/")
    monkeypatch.setattr(fc, "REST_URL", echo.url)
    return fal_client.SyncClient(key=KEY, default_timeout=60)


def test_health_lists_replicas(echo: Deployed) -> None:
    """/health lists both model replicas: id, pid, in-flight count, batch sizes."""
    reps = echo.replicas(2)
    assert len({r["id"] for r in reps}) == 2
    assert len({r["pid"] for r in reps}) == 2 and os.getpid() not in {r["pid"] for r in reps}
    for r in reps:
        assert r["in_flight"] >= 0 and "sizes" in r["batching"]
    body = echo.health()
    assert body["model"]["name"] == "echo" and body["auth"] is True


def test_sync_and_queue_with_fal_client(client: fal_client.SyncClient) -> None:
    """run() and submit()/status()/get() through the ingress; the jobs run on replicas."""
    out = client.run(APP, arguments={"prompt": "sync", "seed": 7, "sync_mode": True})
    assert out["seed"] == 7 and out["images"][0]["url"].startswith("data:image/jpeg")
    handle = client.submit(APP, arguments={"prompt": "queued", "seed": 21})
    result = handle.get()
    assert result["seed"] == 21
    status = client.status(APP, handle.request_id, with_logs=True)
    assert isinstance(status, fal_client.Completed) and status.logs
    with pytest.raises(fal_client.client.FalClientHTTPError) as info:
        fal_client.SyncClient(key="ray-id:wrong", default_timeout=20).run(
            APP, arguments={"prompt": "x"})
    assert info.value.status_code == 401


def test_realtime_sessions_land_on_different_replicas(echo: Deployed,
                                                      client: fal_client.SyncClient) -> None:
    """Two realtime sessions (fal_client, JWT minted at the ingress): each is pinned to its
    own replica for its life, and every frame of each comes back in order."""
    with client.realtime(APP, max_buffering=4) as a, client.realtime(APP, max_buffering=4) as b:
        for i in range(5):
            a.send({"prompt": "a", "image_url": jpeg(), "strength": 1, "seed": i,
                    "request_id": f"a-{i}"})
            b.send({"prompt": "b", "image_url": jpeg(), "strength": 1, "seed": i,
                    "request_id": f"b-{i}"})
            out_a, out_b = a.recv(), b.recv()
            assert out_a is not None and out_a["request_id"] == f"a-{i}"
            assert out_b is not None and out_b["request_id"] == f"b-{i}"
        sessions = sorted(r["sessions"] for r in echo.replicas(2))
        assert sessions == [1, 1], f"the two sessions are not on two replicas: {sessions}"


def test_killed_replica_mid_load(echo: Deployed, client: fal_client.SyncClient) -> None:
    """SIGKILL one replica's worker process while two realtime sessions stream and queue jobs
    run: the sessions go on (the frame in flight on the dead replica gets an x-fal-error,
    later frames run on a live replica), and every accepted job finishes or fails with a
    clear error; none is lost. Serve then starts a replacement replica."""
    reps = echo.replicas(2)
    victim = reps[0]
    stop = threading.Event()
    results: dict[str, list[str]] = {"a": [], "b": []}

    def stream(name: str) -> None:
        with client.realtime(APP, max_buffering=2) as conn:
            i = 0
            while not stop.is_set() or i < 3:
                conn.send({"prompt": name, "seed": i, "request_id": f"{name}-{i}"})
                try:
                    out = conn.recv()
                    results[name].append("ok" if out and out["request_id"] == f"{name}-{i}"
                                         else f"odd:{out}")
                except fal_client.client.RealtimeError as exc:
                    results[name].append(f"error:{exc.error}:{exc.reason}")
                i += 1
                if i > 400:
                    break
            results[name].append("end")

    with cf.ThreadPoolExecutor(4) as pool:
        streams = [pool.submit(stream, n) for n in ("a", "b")]
        handles = [client.submit(APP, arguments={"prompt": f"job {i}", "seed": i})
                   for i in range(12)]
        time.sleep(0.3)
        os.kill(victim["pid"], signal.SIGKILL)
        handles += [client.submit(APP, arguments={"prompt": f"late {i}", "seed": 100 + i})
                    for i in range(6)]
        time.sleep(2)
        stop.set()
        for f in streams:
            f.result(timeout=120)
    outcomes = []
    for h in handles:
        try:
            outcomes.append(("ok", h.get()["seed"]))
        except fal_client.client.FalClientHTTPError as exc:
            outcomes.append(("error", exc.status_code, str(exc)))
    assert len(outcomes) == 18
    for o in outcomes:  # finished, or a clear error saying the replica died
        assert o[0] == "ok" or "replica died" in o[2], o
    assert sum(o[0] == "ok" for o in outcomes) >= 12, outcomes
    for name, seen in results.items():
        assert seen[-1] == "end"
        errors = [s for s in seen if s.startswith("error")]
        assert all("replica died" in e for e in errors), errors
        tail = seen[-4:-1]
        assert tail == ["ok"] * 3, f"session {name} did not go on: {seen[-10:]}"
    # Serve replaces the dead replica; /health shows two live ones again, the victim gone
    later = echo.replicas(2, timeout=120)
    assert victim["id"] not in {r["id"] for r in later}
    assert echo.health()["ray"]["replica_deaths"] >= 1


def test_tiny_on_two_replicas(echo: Deployed, client: fal_client.SyncClient) -> None:
    """Two CPU replicas of the real ``tiny`` LocalLCM (the app redeployed in place): sync
    and realtime through fal_client; two sessions on two replicas give the same bytes for the
    same seed, so both replicas run the same model."""
    from ray import serve

    from lcm_widgets.server.ray_serve import build_app

    serve.run(build_app({"model": "tiny", "device": "cpu", "replicas": 2,
                         "session_timeout": 60}, keys=[KEY]),
              name="lcm-widgets", route_prefix="/")
    deadline = time.monotonic() + 300
    while {r.get("model", {}).get("name") for r in echo.health()["ray"]["replicas"]} != \
            {"local"} or echo.health()["model"]["name"] != "local":
        assert time.monotonic() < deadline, echo.health()
        time.sleep(1)
    reps = echo.replicas(2, timeout=300)
    assert {r["model"]["model"] for r in reps} == {"tiny"}
    args = {"prompt": "a cat", "seed": 3, "num_inference_steps": 2, "image_size": {
        "width": 64, "height": 64}, "sync_mode": True}
    out = client.run(APP, arguments=args)
    assert out["seed"] == 3 and out["images"][0]["width"] == 64
    frame = {"prompt": "a cat", "image_url": jpeg(), "strength": 0.5, "seed": 9,
             "num_inference_steps": 2, "image_size": {"width": 64, "height": 64},
             "sync_mode": True}
    with client.realtime(APP) as a, client.realtime(APP) as b:
        a.send({**frame, "request_id": "a"})
        b.send({**frame, "request_id": "b"})
        out_a, out_b = a.recv(), b.recv()
        assert sorted(r["sessions"] for r in echo.replicas(2)) == [1, 1]
    assert out_a is not None and out_b is not None
    assert out_a["images"][0]["url"] == out_b["images"][0]["url"]
