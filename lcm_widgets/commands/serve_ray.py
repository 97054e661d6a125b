"""``lcm-widgets serve --ray``: the same app on Ray Serve (docs/scale.md).

::

    lcm-widgets serve --ray --model tiny --replicas 2            # a private local cluster
    lcm-widgets serve --ray --autoscale 1,4 --gpus-per-replica 0.5
    lcm-widgets serve --ray --address 10.0.0.5:6379               # join `ray start --head`
    lcm-widgets serve --ray --replicas 4 --print-config > serve.yaml   # for `serve deploy`

This module imports no ray: the flags are checked (a bad value names the flag, the limit and
the value, exit status 2) and the serve config is printed without it; ``ray`` is imported only
to deploy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

__all__ = ["add_arguments", "app_args", "run", "serve_config", "validate_ingress",
           "validate_scale"]

#: Most ingress replicas (each polls the job board; more add load, not speed, past this).
MAX_INGRESS = 64

#: The Serve application's name and its builder (what a serve config's import_path names).
APP_NAME = "lcm-widgets"
BUILDER = "lcm_widgets.server.ray_serve:app_builder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--ray`` flags of ``lcm-widgets serve``."""
    g = p.add_argument_group("Ray Serve (pip install \"lcm-widgets[ray]\"; docs/scale.md)")
    g.add_argument("--ray", action="store_true",
                   help="deploy on Ray Serve: an ingress and a model deployment that scale "
                        "apart")
    g.add_argument("--replicas", default="1", metavar="N",
                   help="model replicas (default: 1)")
    g.add_argument("--ingress-replicas", default="1", metavar="N",
                   help="ingress replicas (the fal app; they share the queue through a job "
                        "board; default: 1)")
    g.add_argument("--autoscale", default=None, metavar="MIN,MAX",
                   help="autoscale the model replicas between MIN and MAX instead of "
                        "--replicas")
    g.add_argument("--target-in-flight", default="2", metavar="FRAMES",
                   help="with --autoscale: frames in flight per replica that Serve aims at "
                        "(default: 2)")
    g.add_argument("--gpus-per-replica", default="0", metavar="GPUS",
                   help="GPUs each model replica reserves (fractions allowed: 0.5; default 0)")
    g.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="join this Ray cluster (`ray start --head` on the head node); default: "
                        "start a private local one on 127.0.0.1")
    g.add_argument("--ray-cpus", type=float, default=None, metavar="N",
                   help="logical CPUs of the private local cluster (default: this machine's, "
                        "at least one per replica)")
    g.add_argument("--echo-delay", type=float, default=0.0, metavar="SECONDS",
                   help="with --model echo: seconds each call takes (a stand-in model)")
    g.add_argument("--print-config", action="store_true",
                   help="print the serve config (YAML) that `serve deploy` accepts, and exit")


def validate_scale(replicas: Any, autoscale: Any, gpus_per_replica: Any,
                   target_in_flight: Any = 2.0) -> tuple[int, tuple[int, int] | None, float]:
    """Check the scale flags: ``(replicas, (min, max) or None, gpus)``. A bad value raises
    ValueError naming the flag, the limit and the value. ``autoscale`` is ``"MIN,MAX"`` or a
    pair."""
    text = str(replicas).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--replicas: must be a whole number of at least 1, got {replicas!r}")
    n = int(text)
    pair: tuple[int, int] | None = None
    if autoscale is not None:
        parts = autoscale.split(",") if isinstance(autoscale, str) else list(autoscale)
        if len(parts) != 2 or not all(str(x).strip().isdigit() for x in parts):
            raise ValueError(f"--autoscale: must be MIN,MAX, two whole numbers (e.g. 1,4), "
                             f"got {autoscale!r}")
        lo, hi = (int(str(x).strip()) for x in parts)
        if hi < 1 or lo > hi:
            raise ValueError(f"--autoscale: needs 0 <= MIN <= MAX and MAX >= 1, got "
                             f"{autoscale!r}")
        pair = (lo, hi)
    try:
        gpus = float(gpus_per_replica)
    except (TypeError, ValueError):
        raise ValueError(f"--gpus-per-replica: must be a number of GPUs (0, 0.5, 1, 2...), "
                         f"got {gpus_per_replica!r}") from None
    if not (gpus == 0 or 0 < gpus <= 1 or (gpus > 1 and gpus.is_integer())):
        raise ValueError(f"--gpus-per-replica: must be 0, a fraction up to 1, or a whole "
                         f"number of GPUs, got {gpus_per_replica!r}")
    if not _number(target_in_flight) > 0:
        raise ValueError(f"--target-in-flight: must be more than 0 frames per replica, got "
                         f"{target_in_flight!r}")
    return n, pair, gpus


def _number(value: Any) -> float:
    """``value`` as a float, or -1 when it is not a number (every limit checked refuses -1)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return -1.0


def validate_ingress(ingress_replicas: Any, lease_s: Any = 10.0) -> tuple[int, float]:
    """Check ``--ingress-replicas`` (1 to :data:`MAX_INGRESS`) and the board's lease
    (seconds an ingress may stay silent before its jobs move on; more than 1):
    ``(replicas, lease_s)``. A bad value raises ValueError naming the flag, the limit and
    the value."""
    text = str(ingress_replicas).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_INGRESS:
        raise ValueError(f"--ingress-replicas: must be a whole number from 1 to {MAX_INGRESS}, "
                         f"got {ingress_replicas!r}")
    lease = _number(lease_s)
    if not lease > 1:
        raise ValueError(f"ingress_lease_s: must be more than 1 second, got {lease_s!r}")
    return int(text), lease


def app_args(args: argparse.Namespace) -> dict[str, Any]:
    """The builder's ``args`` (a serve config's ``args:``) from the flags; no secrets."""
    from .serve import parse_apps

    n, pair, gpus = validate_scale(args.replicas, args.autoscale, args.gpus_per_replica,
                                   args.target_in_flight)
    n_ingress, _lease = validate_ingress(args.ingress_replicas)
    apps = parse_apps(args.app, args.model)
    if len(apps) > 1:
        raise ValueError(f"--app: serve --ray serves one app, got {len(apps)} "
                         f"({', '.join(a for a, _ in apps)}); run one deployment per app")
    app_id, model = apps[0]
    out: dict[str, Any] = {
        "model": model, "device": args.device, "app_id": app_id,
        "auth": not args.no_auth, "batch": bool(args.batch), "max_queue": args.max_queue,
        "session_timeout": args.session_timeout or None,
        "generation_timeout": args.generation_timeout or None,
        "gpus_per_replica": gpus, "cpus_per_replica": 0.0 if gpus else 1.0,
        "ingress_replicas": n_ingress,
    }
    if model == "echo":
        out["echo_delay"] = args.echo_delay
    if pair is not None:
        out["autoscale"] = list(pair)
        out["target_in_flight"] = float(args.target_in_flight)
    else:
        out["replicas"] = n
    return out


def serve_config(args: argparse.Namespace) -> str:
    """The serve config YAML (``serve deploy serve.yaml``). Keys are not in it: the builder
    reads ``LCM_WIDGETS_KEYS``/``FAL_KEY`` and ``LCM_WIDGETS_TOKEN_SECRET`` from the
    cluster's environment (set them in the RayService's runtime_env or the pod)."""
    import json

    doc = {"proxy_location": "EveryNode",
           "http_options": {"host": args.host, "port": args.port},
           "applications": [{"name": APP_NAME, "route_prefix": "/", "import_path": BUILDER,
                             "args": app_args(args)}]}
    try:
        import yaml

        text: str = yaml.safe_dump(doc, sort_keys=False)
        return text
    except ImportError:  # JSON is YAML too
        return json.dumps(doc, indent=2) + "\n"


def run(args: argparse.Namespace) -> int:
    """Deploy on Ray Serve and wait until Ctrl-C (or print the config and exit)."""
    try:
        built = app_args(args)
    except ValueError as exc:
        print(f"lcm-widgets serve: error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        sys.stdout.write(serve_config(args))
        return 0
    import importlib.util

    from .._extras import need

    if importlib.util.find_spec("ray") is None:  # not imported yet: Ray reads its auth token
        need("ray", "ray", "ray.serve", what="lcm-widgets serve --ray")  # when imported
    from ..server import keys_from_env, keys_from_file
    from ..server.ray_cluster import LocalCluster

    keys = keys_from_env()
    if args.keys_file:
        keys += keys_from_file(args.keys_file)
    if built["auth"] and not keys:
        import secrets

        keys = [f"lcmw-{secrets.token_hex(4)}:{secrets.token_urlsafe(18)}"]
        print("lcm-widgets serve: no API key configured; generated one for this run:\n\n"
              f"    FAL_KEY={keys[0]}\n", file=sys.stderr)
    cluster = None
    if args.address is None:
        replicas = built.get("replicas") or built["autoscale"][1]
        cpus = args.ray_cpus or max(os.cpu_count() or 1, replicas)
        cluster = LocalCluster(num_cpus=cpus, dashboard=True).start()
        print(f"lcm-widgets serve: local Ray cluster {cluster.address}, dashboard "
              f"{cluster.dashboard_url}", file=sys.stderr)
    try:
        import ray
        from ray import serve

        from ..server.ray_serve import build_app

        if cluster is not None:
            ray.init(address=cluster.address, log_to_driver=False,
                     _node_ip_address="127.0.0.1")
        else:
            ray.init(address=args.address, log_to_driver=False)
        serve.start(http_options={"host": args.host, "port": args.port})
        serve.run(build_app(built, keys=keys), name=APP_NAME, route_prefix="/")
        base = f"http://{args.host}:{args.port}"
        app = built["app_id"]
        print(f"lcm-widgets serve: {built['model']} on Ray Serve as {app}\n"
              f"  sync      POST {base}/{app}\n  queue     {base}/queue/{app}\n"
              f"  realtime  ws://{args.host}:{args.port}/{app}/realtime\n"
              f"  health    {base}/health", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        try:
            if "serve" in sys.modules.get("ray", object()).__dict__:
                from ray import serve as _serve

                _serve.shutdown()
        finally:
            if "ray" in sys.modules:
                import ray as _ray

                _ray.shutdown()
            if cluster is not None:
                cluster.stop()
