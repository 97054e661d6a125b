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
import json
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
    # /health counts every call that found its replica dead: each frame error the sessions
    # saw and each job run again (both 0 when the victim had nothing in flight at the kill
    # and Serve's router learned of the death before routing it more)
    ray_health = echo.health()["ray"]
    frame_errors = sum(s.startswith("error") for seen in results.values() for s in seen)
    assert ray_health["replica_deaths"] >= frame_errors + ray_health["job_reruns"], \
        (ray_health, results)


# -- two ingress replicas: the queue on the job board -------------------------------------

AUTH = {"Authorization": f"Key {KEY}"}
INGRESS = "x-lcm-ingress"


def _other(send: Any, than: str, tries: int = 150) -> httpx.Response:
    """``send()`` again until an ingress other than ``than`` answers (Serve's proxy picks the
    ingress replica; each try is a fresh connection)."""
    seen = []
    for _ in range(tries):
        r: httpx.Response = send()
        seen.append(r.headers.get(INGRESS))
        if r.headers.get(INGRESS) not in (None, than):
            return r
    raise AssertionError(f"no ingress other than {than} answered in {tries} tries: "
                         f"{sorted(set(map(str, seen)))}")


def _ingresses(dep: Deployed, want: int = 2, timeout: float = 120) -> dict[str, dict[str, Any]]:
    """The ingress replicas that answer /health (id -> their ``ray.ingress``), once ``want``
    different ones have answered."""
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < want:
        assert time.monotonic() < deadline, f"only {sorted(seen)} answered /health"
        try:
            r = httpx.get(f"{dep.url}/health", timeout=10)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if r.status_code == 200 and r.json().get("ray", {}).get("ingress"):
            ing = r.json()["ray"]["ingress"]
            assert r.headers[INGRESS] == ing["id"]
            seen[ing["id"]] = ing
        else:
            time.sleep(0.2)
    return seen


@pytest.fixture(scope="module")
def multi(echo: Deployed) -> Deployed:
    """The app redeployed in place with 2 ingress replicas (a queue job slot count of 2 each,
    a 4 s lease) and 2 EchoBackend replicas of 0.3 s a call."""
    from ray import serve

    from lcm_widgets.server.ray_serve import build_app

    serve.run(build_app({"model": "echo", "replicas": 2, "echo_delay": 0.3,
                         "ingress_replicas": 2, "job_concurrency": 2, "ingress_lease_s": 4,
                         "session_timeout": 60}, keys=[KEY]),
              name="lcm-widgets", route_prefix="/")
    _ingresses(echo, 2)
    echo.replicas(2, timeout=120)
    return echo


def _submit(dep: Deployed, **args: Any) -> httpx.Response:
    for _ in range(50):  # a proxy that still routes to a killed ingress answers 5xx
        try:
            r = httpx.post(f"{dep.url}/queue/{APP}", json={"prompt": "p", **args},
                           headers=AUTH, timeout=30)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if r.status_code < 500:
            return r
        time.sleep(0.2)
    raise AssertionError(f"submit kept failing: {r.status_code} {r.text[:200]}")


def test_two_ingresses_share_the_queue(multi: Deployed) -> None:
    """A job submitted through one ingress has its status, SSE status stream and result
    answered by the other; a job cancelled through the other ingress is cancelled; a result
    image and an upload stored through one are served by the other (x-lcm-ingress)."""
    base = f"{multi.url}/queue/{APP}/requests"
    sub = _submit(multi, seed=5)
    assert sub.status_code == 200, sub.text
    job, via = sub.json()["request_id"], sub.headers[INGRESS]
    st = _other(lambda: httpx.get(f"{base}/{job}/status", headers=AUTH, timeout=20), via)
    assert st.status_code == 200 and st.json()["request_id"] == job
    assert st.json()["status"] in {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
    # a token minted at one ingress is valid at the other (the shared secret)
    tok = httpx.post(f"{multi.url}/tokens/", headers=AUTH, timeout=20,
                     json={"allowed_apps": ["fast-lcm-diffusion"], "token_expiration": 120})
    assert tok.status_code == 201, tok.text
    bearer = {"Authorization": f"Bearer {tok.json()}"}
    st = _other(lambda: httpx.get(f"{base}/{job}/status", headers=bearer, timeout=20),
                tok.headers[INGRESS])
    assert st.status_code == 200 and st.json()["request_id"] == job, st.text

    def sse() -> httpx.Response:
        req = httpx.Request("GET", f"{base}/{job}/status/stream", headers=AUTH)
        client = httpx.Client(timeout=30)
        r = client.send(req, stream=True)
        r.extensions["lcm_client"] = client
        if r.headers.get(INGRESS) == via:
            r.close()
            client.close()
        return r

    stream = _other(sse, via)
    events = []
    try:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["status"] == "COMPLETED":
                    break
    finally:
        stream.close()
        stream.extensions["lcm_client"].close()
    assert events and events[-1]["status"] == "COMPLETED" and "error" not in events[-1], events
    res = _other(lambda: httpx.get(f"{base}/{job}", headers=AUTH, timeout=20), via)
    assert res.status_code == 200 and res.json()["seed"] == 5
    took = []
    with httpx.Client(timeout=20) as http:
        for _ in range(40):
            t0 = time.perf_counter()
            assert http.get(f"{base}/{job}/status", headers=AUTH).status_code == 200
            took.append(time.perf_counter() - t0)
    took.sort()
    print(f"FIGURE status through the proxy and the board: p50 {took[20] * 1000:.1f} ms, "
          f"p95 {took[37] * 1000:.1f} ms (40 requests, one connection)")
    # a file of a sync_mode=false result, stored by the ingress that ran it: read by any
    sub = _submit(multi, seed=6, sync_mode=False)
    job2 = sub.json()["request_id"]
    deadline = time.monotonic() + 60
    while (r := httpx.get(f"{base}/{job2}/status", headers=AUTH, timeout=20)).json()[
            "status"] != "COMPLETED":
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    url = httpx.get(f"{base}/{job2}", headers=AUTH, timeout=20).json()["images"][0]["url"]
    assert "/files/" in url
    img = _other(lambda: httpx.get(url, timeout=20), "nobody")
    first = img.headers[INGRESS]
    img2 = _other(lambda: httpx.get(url, timeout=20), first)
    assert img.status_code == img2.status_code == 200 and img.content == img2.content
    assert img.content[:2] == b"\xff\xd8"
    # an upload through one ingress: read back, and used as an input, through the other
    ini = httpx.post(f"{multi.url}/storage/upload/initiate", headers=AUTH, timeout=20,
                     json={"content_type": "image/jpeg", "file_name": "a.jpg"})
    assert ini.status_code == 200, ini.text
    put = httpx.put(ini.json()["upload_url"], content=jpeg(), timeout=20,
                    headers={"content-type": "image/jpeg"})
    assert put.status_code == 200, put.text
    file_url = ini.json()["file_url"]
    got = _other(lambda: httpx.get(file_url, headers=AUTH, timeout=20), ini.headers[INGRESS])
    assert got.status_code == 200 and got.content == jpeg()
    out = _other(lambda: httpx.post(f"{multi.url}/{APP}", headers=AUTH, timeout=60, json={
        "prompt": "up", "image_url": file_url, "strength": 1, "seed": 8, "sync_mode": True}),
        ini.headers[INGRESS])
    assert out.status_code == 200 and out.json()["seed"] == 8, out.text
    # cancel: 24 jobs submitted at once; 4 run at a time (2 slots on each ingress), the
    # others wait on the board. Each is cancelled once, last first, 8 at a time, and some of
    # those cancels reach the other ingress. A job whose cancel was accepted (202) ends
    # cancelled, any other (400 ALREADY_COMPLETED) with its result: one outcome each. (A
    # round where no accepted cancel crossed, on a loaded machine, is done again: 3 at most.)
    crossed, cancelled = 0, 0
    for _round in range(3):
        with cf.ThreadPoolExecutor(8) as pool:
            subs = list(pool.map(lambda i: _submit(multi, seed=100 + i), range(24)))
            ids = [(r.json()["request_id"], r.headers[INGRESS]) for r in subs]
            cancels = list(pool.map(lambda j: httpx.put(f"{base}/{j[0]}/cancel",
                                                        headers=AUTH, timeout=20),
                                    ids[::-1]))
        codes = {}
        for (job_id, submitted_via), c in zip(ids[::-1], cancels, strict=True):
            assert c.status_code in (202, 400), c.text
            codes[job_id] = c.status_code
            crossed += c.headers[INGRESS] != submitted_via and c.status_code == 202
        for job_id, _ in ids:
            deadline = time.monotonic() + 60
            while (r := httpx.get(f"{base}/{job_id}/status", headers=AUTH,
                                  timeout=20)).json()["status"] != "COMPLETED":
                assert time.monotonic() < deadline, r.text
                time.sleep(0.2)
            outcome = r.json().get("error_type") or "ok"
            assert outcome == ("request_cancelled" if codes[job_id] == 202 else "ok"), \
                (codes[job_id], r.json())
            cancelled += outcome == "request_cancelled"
            res = httpx.get(f"{base}/{job_id}", headers=AUTH, timeout=20)
            assert (res.status_code == 200) == (outcome == "ok"), res.text
        if crossed:
            break
    assert crossed >= 1, f"no accepted cancel came through the other ingress: {codes}"
    # a second cancel of a finished job: ALREADY_COMPLETED, from either ingress
    c = httpx.put(f"{base}/{ids[-1][0]}/cancel", headers=AUTH, timeout=20)
    assert c.status_code == 400 and c.json()["status"] == "ALREADY_COMPLETED"


def test_fal_client_on_two_ingresses(multi: Deployed, client: fal_client.SyncClient) -> None:
    """The official fal_client, unchanged, against two ingresses: sync runs, queue jobs
    (submit, status, result), and realtime sessions (a token minted at whichever ingress,
    the WebSocket taken by whichever)."""
    for i in range(4):
        out = client.run(APP, arguments={"prompt": "sync", "seed": i, "sync_mode": True})
        assert out["seed"] == i
    handles = [client.submit(APP, arguments={"prompt": "queued", "seed": 40 + i})
               for i in range(6)]
    assert sorted(h.get()["seed"] for h in handles) == [40 + i for i in range(6)]
    for h in handles:
        status = client.status(APP, h.request_id, with_logs=True)
        assert isinstance(status, fal_client.Completed) and status.logs
    for _ in range(2):
        with client.realtime(APP, max_buffering=4) as conn:
            for i in range(3):
                conn.send({"prompt": "rt", "seed": i, "request_id": f"rt-{i}"})
                got = conn.recv()
                assert got is not None and got["request_id"] == f"rt-{i}"


def test_cluster_listens_on_loopback_only(cluster: LocalCluster, multi: Deployed) -> None:
    """Every listening socket of the private cluster's processes (the head, its workers, the
    Serve proxy and replicas) and of this driver is on 127.0.0.1."""
    import psutil

    root = psutil.Process(cluster._proc.pid)  # type: ignore[union-attr]
    procs = [root, *root.children(recursive=True), psutil.Process()]
    listening = []
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    listening.append((proc.pid, proc.name(), conn.laddr.ip, conn.laddr.port))
        except psutil.Error:
            continue
    names = " ".join(p[1] for p in listening)
    assert "ServeReplica" in names and "ProxyActor" in names and "raylet" in names, listening
    wrong = [p for p in listening if p[2] not in {"127.0.0.1", "::ffff:127.0.0.1"}]
    assert not wrong, f"listening beyond 127.0.0.1: {wrong}"


def test_killed_ingress_mid_queue(multi: Deployed) -> None:
    """SIGKILL one ingress replica's worker while jobs wait on the board and run on both
    ingresses: every accepted job ends COMPLETED, with its result or a clear error; none is
    lost. The killed ingress's jobs are run again by the other once its lease (4 s) runs out,
    and Serve starts a replacement ingress."""
    ing = _ingresses(multi, 2)
    victim = sorted(ing.values(), key=lambda i: i["id"])[0]
    base = f"{multi.url}/queue/{APP}/requests"
    accepted = []
    with cf.ThreadPoolExecutor(8) as pool:
        for r in pool.map(lambda i: _submit(multi, seed=200 + i), range(14)):
            assert r.status_code == 200, r.text
            accepted.append(r.json()["request_id"])
    deadline = time.monotonic() + 60
    while True:  # kill it while it holds jobs (its /health says how many); more jobs meanwhile
        r = httpx.get(f"{multi.url}/health", timeout=10)
        if r.headers.get(INGRESS) == victim["id"] and r.json()["ray"]["ingress"]["held"]:
            break
        assert time.monotonic() < deadline, "the victim never held a job"
        r = _submit(multi, seed=250 + len(accepted))
        assert r.status_code == 200, r.text
        accepted.append(r.json()["request_id"])
    os.kill(victim["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    for i in range(6):
        r = _submit(multi, seed=300 + i)
        assert r.status_code == 200, r.text
        accepted.append(r.json()["request_id"])
    outcomes: dict[str, Any] = {}
    deadline = time.monotonic() + 180
    while len(outcomes) < len(accepted):
        assert time.monotonic() < deadline, f"not COMPLETED: {set(accepted) - set(outcomes)}"
        for job_id in accepted:
            if job_id in outcomes:
                continue
            try:
                r = httpx.get(f"{base}/{job_id}/status", headers=AUTH, timeout=10)
            except httpx.HTTPError:
                continue
            if r.status_code == 200 and r.json()["status"] == "COMPLETED":
                outcomes[job_id] = r.json()
            else:
                assert r.status_code in (200, 500, 502, 503), r.text  # never 404: not lost
        time.sleep(0.3)
    recovered_s = time.monotonic() - killed_at
    errors = [o for o in outcomes.values() if "error" in o]
    for o in errors:
        assert o["error_type"] == "generation_failed" and "died" in o["error"], o
    # a job fails only when both its holders were taken for dead (a loaded machine can stall
    # the surviving ingress past the 4 s lease too); one SIGKILL fails none otherwise
    assert len(errors) <= 2, errors
    for job_id in accepted:
        r = httpx.get(f"{base}/{job_id}", headers=AUTH, timeout=20)
        assert r.status_code == (500 if "error" in outcomes[job_id] else 200), r.text
    board = multi.health()["ray"]["board"]
    assert board["ingress_deaths"] >= 1 and board["requeued"] >= 1, board
    print(f"FIGURE killed ingress: {len(accepted)} jobs accepted, all COMPLETED "
          f"{recovered_s:.1f} s after the SIGKILL (lease 4 s), {len(errors)} with an error, "
          f"{board['requeued']} queued again")
    later = _ingresses(multi, 2, timeout=180)  # the replacement
    assert victim["id"] not in later


def test_board_goes_with_the_app(multi: Deployed) -> None:
    """The board is no detached actor: deleting the application removes it."""
    import ray
    from ray import serve

    board = multi.health()["ray"]["board"]
    name, namespace = board["name"], board["namespace"]
    assert ray.get_actor(name, namespace=namespace) is not None
    serve.delete("lcm-widgets")
    deadline = time.monotonic() + 60
    while True:
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            break
        assert time.monotonic() < deadline, f"board {name} outlived its application"
        time.sleep(0.5)


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
