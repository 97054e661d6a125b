"""``lcm-widgets bench-realtime --ray``: realtime throughput of 1 vs N model replicas on Ray
Serve, in one run (docs/scale.md, figures in docs/benchmarks.md).

A private local Ray cluster on 127.0.0.1 serves :class:`~lcm_widgets.backends.echo.EchoBackend`
with ``--echo-delay`` seconds a call (default 0.05), so what is measured is how many frames the
replicas run at once, not this machine's CPU. For each count in ``--replicas`` (``1,2``) the
app is deployed with that many model replicas, then ``--concurrency`` realtime clients (bare
``websockets``, one connection each, one frame in flight each, msgpack frames) send
``--frames`` frames each after ``--warmup``; latency is send-to-result per frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from typing import Any

from .._version import __version__

__all__ = ["run"]


async def _client(url: str, frames: int, warmup: int, name: str) -> list[float]:
    import msgpack
    from websockets.asyncio.client import connect

    lat: list[float] = []
    async with connect(url, compression=None, proxy=None, max_size=None,
                       open_timeout=60) as ws:
        for i in range(warmup + frames):
            frame = msgpack.packb({"prompt": name, "seed": i, "request_id": f"{name}-{i}",
                                   "sync_mode": True}, use_bin_type=True)
            t0 = time.perf_counter()
            await ws.send(frame)
            while True:
                msg = await asyncio.wait_for(ws.recv(), 60)
                if isinstance(msg, bytes):
                    out = msgpack.unpackb(msg)
                    if out.get("request_id") == f"{name}-{i}":
                        break
                else:
                    raise RuntimeError(f"{name}: the server answered {msg[:200]!r}")
            if i >= warmup:
                lat.append(time.perf_counter() - t0)
    return lat


async def _load(url: str, args: argparse.Namespace) -> dict[str, float]:
    from .bench_realtime import _summary

    t0 = time.perf_counter()
    runs = await asyncio.gather(*(_client(url, args.frames, args.warmup, f"c{n}")
                                  for n in range(args.concurrency)))
    wall = time.perf_counter() - t0
    lat = [x for r in runs for x in r]
    per_frame_wall = wall * args.frames / (args.frames + args.warmup)  # the timed share
    return _summary(lat, per_frame_wall, len(lat))


def figures(args: argparse.Namespace) -> dict[str, Any]:
    from ..server.ray_cluster import LocalCluster, free_port

    counts = [int(x) for x in str(args.replicas).split(",")]
    if not counts or min(counts) < 1:
        raise ValueError(f"--replicas: each must be at least 1, got {args.replicas!r}")
    with LocalCluster(num_cpus=max(2, max(counts)), object_store_mb=200,
                      dashboard=False) as cluster:
        import httpx
        import ray
        from ray import serve

        from ..server.ray_serve import build_app

        ray.init(address=cluster.address, log_to_driver=False, _node_ip_address="127.0.0.1")
        try:
            port = free_port()
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            url = f"ws://127.0.0.1:{port}/fal-ai/fast-lcm-diffusion/realtime"
            results: dict[str, Any] = {}
            for n in counts:
                serve.run(build_app({"model": "echo", "replicas": n,
                                     "echo_delay": args.echo_delay, "auth": False,
                                     "session_timeout": None,
                                     "cpus_per_replica": max(2, max(counts)) / max(counts)}),
                          name="lcm-widgets", route_prefix="/")
                deadline = time.monotonic() + 120
                while True:  # until /health lists n answering replicas
                    reps = httpx.get(f"http://127.0.0.1:{port}/health",
                                     timeout=10).json()["ray"]["replicas"]
                    if len(reps) == n and all("error" not in r for r in reps):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{n} replicas never became healthy: {reps}")
                    time.sleep(0.5)
                results[str(n)] = asyncio.run(_load(url, args))
            serve.shutdown()
        finally:
            ray.shutdown()
    base = results[str(counts[0])]
    return {"replicas": results,
            "throughput_ratio": {k: v["msgs_per_s"] / base["msgs_per_s"]
                                 for k, v in results.items()},
            "echo_delay_s": args.echo_delay, "frames": args.frames, "warmup": args.warmup,
            "concurrency": args.concurrency,
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "load_avg": os.getloadavg(), "version": __version__,
                        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}}


def run(args: argparse.Namespace) -> int:
    try:
        figs = figures(args)
    except ValueError as exc:
        print(f"lcm-widgets bench-realtime: error: {exc}")
        return 2
    if args.json:
        print(json.dumps(figs, indent=2))
        return 0
    print(f"bench-realtime --ray: {args.concurrency} realtime clients x {args.frames} frames, "
          f"EchoBackend(delay={args.echo_delay:g} s), local Ray cluster on 127.0.0.1")
    print(f"{'replicas':<10}{'p50 ms':>9}{'p95 ms':>9}{'frames/s':>10}{'x of first':>12}")
    for n, s in figs["replicas"].items():
        print(f"{n:<10}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{s['msgs_per_s']:>10.1f}"
              f"{figs['throughput_ratio'][n]:>12.2f}")
    print(f"machine: {figs['machine']}")
    return 0
