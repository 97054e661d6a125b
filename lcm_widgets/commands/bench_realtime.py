"""``lcm-widgets bench-realtime``: what the realtime transport adds on top of the model.

Starts our server (uvicorn on 127.0.0.1 port 0) around an *instant* echo model that returns a
pre-encoded tiny JPEG, so the model costs ~0. Then, in one run, it times

(a) ``RealtimeBackend.generate`` over loopback, sequentially (one in flight per client),
(b) the same ``generate`` calls made directly on the in-process backend, and
(c) a bare ``websockets`` client sending the same msgpack frames (the transport + server floor,
    so (a) - (c) is what our client adds),

and prints p50/p95 latency and messages/s, the overhead over the model (the p50 difference)
and the ratios. Each frame is a real 512x512 JPEG sent as msgpack ``bin`` (what the Studio
sends). ``--concurrency N`` runs N clients, each on its own connection.

``--server thread`` (default) runs uvicorn on a thread of this process, as the issue asks;
client and server then share one GIL. ``--server process`` runs it in a child process, which
is how the kernel and ``lcm-widgets serve`` really meet.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import platform
import statistics
import time
from typing import Any

from .._version import __version__
from ..schema import FalImage, Input, Output

__all__ = ["InstantEcho", "register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench-realtime", help="time the realtime WebSocket round trip against in-process calls",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=500, help="timed requests per client (500)")
    p.add_argument("--concurrency", type=int, default=1, help="clients, one connection each (1)")
    p.add_argument("--warmup", type=int, default=50, help="untimed requests first (50)")
    p.add_argument("--size", type=int, default=512, help="side of the JPEG frame sent (512)")
    p.add_argument("--server", choices=("thread", "process"), default="thread",
                   help="uvicorn on a thread of this process (default) or in a child process")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    g = p.add_argument_group("Ray Serve (lcm_widgets/commands/bench_ray.py)")
    g.add_argument("--ray", action="store_true",
                   help="throughput of model replicas on a local Ray Serve cluster instead")
    g.add_argument("--replicas", default="1,2", metavar="N[,N...]",
                   help="with --ray: replica counts to measure in turn (default: 1,2)")
    g.add_argument("--echo-delay", type=float, default=0.05, metavar="SECONDS",
                   help="with --ray: seconds each EchoBackend call takes (default: 0.05)")
    p.set_defaults(func=run)


class InstantEcho:
    """A zero-work model: every request gets the same pre-encoded 8x8 JPEG (a data URI)."""

    def __init__(self) -> None:
        from PIL import Image

        from ..backends.base import BackendInfo

        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (200, 40, 90)).save(buf, "JPEG", quality=80)
        self._jpeg = buf.getvalue()
        self._url = "data:image/jpeg;base64," + base64.b64encode(self._jpeg).decode()
        self.info = BackendInfo(name="instant-echo", model="instant-echo")

    async def generate(self, inp: Input) -> Output:
        img = FalImage(url=self._url, width=8, height=8, content_type="image/jpeg",
                       content=self._jpeg)
        return Output(images=[img], seed=inp.seed or 0, prompt=inp.prompt,
                      has_nsfw_concepts=[False], request_id=inp.request_id or None)

    async def aclose(self) -> None:
        return None


def _frame(size: int) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    for i in range(0, size, max(8, size // 16)):
        d.line([(0, i), (size, size - i)], fill=(i % 256, 80, 160), width=3)
    d.ellipse([size // 4, size // 4, 3 * size // 4, 3 * size // 4], outline="black", width=6)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _summary(lat_s: list[float], wall_s: float, n: int) -> dict[str, float]:
    ms = sorted(x * 1e3 for x in lat_s)
    return {"p50_ms": statistics.median(ms), "p95_ms": ms[int(0.95 * (len(ms) - 1))],
            "mean_ms": statistics.fmean(ms), "msgs_per_s": n / wall_s if wall_s else 0.0}


async def _timed(call: Any, inputs: list[Input], warmup: int) -> tuple[list[float], float]:
    for inp in inputs[:warmup]:
        await call(inp)
    lat: list[float] = []
    t_start = time.perf_counter()
    for inp in inputs[warmup:]:
        t0 = time.perf_counter()
        await call(inp)
        lat.append(time.perf_counter() - t0)
    return lat, time.perf_counter() - t_start


async def _raw(base_url: str, inputs: list[Input], warmup: int) -> tuple[list[float], float]:
    """The floor: a bare websockets client, pre-encoded frames, no request matching."""
    import msgpack
    from websockets.asyncio.client import connect

    frames = [msgpack.packb({**i.model_dump(exclude_unset=True), "request_id": str(n),
                             "sync_mode": True}, use_bin_type=True)
              for n, i in enumerate(inputs)]
    url = base_url.replace("http", "ws", 1) + "/fal-ai/fast-lcm-diffusion/realtime"
    async with connect(url, compression=None, proxy=None, max_size=None) as ws:
        async def call(f: bytes) -> None:
            await ws.send(f)
            await ws.recv()
        return await _timed(call, frames, warmup)


async def _bench(args: argparse.Namespace, base_url: str, model: InstantEcho) -> dict[str, Any]:
    from ..backends.realtime import RealtimeBackend

    frame = _frame(args.size)
    n = args.frames + args.warmup
    inputs = [Input(prompt="a cat", image_url=frame, seed=i, strength=0.5,
                    num_inference_steps=4) for i in range(n)]
    clients = [RealtimeBackend("fal-ai/fast-lcm-diffusion", base_url=base_url, key=None)
               for _ in range(args.concurrency)]
    try:
        t0 = time.perf_counter()
        runs = await asyncio.gather(*(_timed(c.generate, inputs, args.warmup) for c in clients))
        wall = time.perf_counter() - t0
    finally:
        for c in clients:
            await c.aclose()
    lat = [x for r, _ in runs for x in r]
    remote = _summary(lat, max(w for _, w in runs), args.frames * args.concurrency)
    remote["wall_s_including_warmup"] = wall
    raw_lat, raw_wall = await _raw(base_url, inputs, args.warmup)
    raw = _summary(raw_lat, raw_wall, args.frames)
    local_lat, local_wall = await _timed(model.generate, inputs, args.warmup)
    local = _summary(local_lat, local_wall, args.frames)
    return {"remote": remote, "raw_websocket": raw, "in_process": local,
            "client_overhead_p50_ms": remote["p50_ms"] - raw["p50_ms"],
            "server_overhead_p50_ms": remote["p50_ms"] - local["p50_ms"],
            "latency_ratio_p50": remote["p50_ms"] / local["p50_ms"] if local["p50_ms"] else None,
            "throughput_ratio": (local["msgs_per_s"] / remote["msgs_per_s"]
                                 if remote["msgs_per_s"] else None),
            "frame_bytes": len(frame), "frames": args.frames, "warmup": args.warmup,
            "concurrency": args.concurrency, "server": args.server}


_CHILD = """
import sys
from lcm_widgets.commands.bench_realtime import InstantEcho
from lcm_widgets.server import ServerConfig, ServerThread, create_app
with ServerThread(create_app(InstantEcho(), ServerConfig(auth=False, session_timeout=None))) as srv:
    print(srv.port, flush=True)
    sys.stdin.read()
"""


def _figures(args: argparse.Namespace) -> dict[str, Any]:
    import subprocess
    import sys

    from ..server import ServerConfig, ServerThread, create_app

    model = InstantEcho()
    if args.server == "thread":
        app = create_app(model, ServerConfig(auth=False, session_timeout=None))  # type: ignore[arg-type]
        with ServerThread(app) as srv:
            return asyncio.run(_bench(args, srv.url, model))
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        return asyncio.run(_bench(args, f"http://127.0.0.1:{port}", model))
    finally:
        child.kill()
        child.wait()


def run(args: argparse.Namespace) -> int:
    if getattr(args, "ray", False):
        from .bench_ray import run as run_ray

        return run_ray(args)
    figures = _figures(args)
    figures["machine"] = {"python": platform.python_version(), "cpu": platform.processor()
                          or platform.machine(), "version": __version__}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    r, raw, loc = figures["remote"], figures["raw_websocket"], figures["in_process"]
    print(f"bench-realtime: {args.frames} frames x {args.concurrency} client(s), "
          f"{figures['frame_bytes']} B JPEG each, instant echo model, 127.0.0.1, "
          f"server on a {args.server}")
    print(f"{'':<28}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}{'msgs/s':>10}")
    for name, s in (("(a) RealtimeBackend", r), ("(c) bare websockets client", raw),
                    ("(b) in-process backend", loc)):
        print(f"{name:<28}{s['p50_ms']:>9.3f}{s['p95_ms']:>9.3f}{s['mean_ms']:>9.3f}"
              f"{s['msgs_per_s']:>10.0f}")
    print(f"server overhead (p50 (a) - (b)): {figures['server_overhead_p50_ms']:.3f} ms; "
          f"of which our client (a) - (c): {figures['client_overhead_p50_ms']:.3f} ms")
    print(f"ratios: latency p50 (a)/(b) {figures['latency_ratio_p50']:.0f}x; "
          f"throughput (b)/(a) {figures['throughput_ratio']:.0f}x")
    return 0
