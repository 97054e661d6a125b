"""``lcm-widgets serve``: a fal-compatible endpoint for a local model.

    lcm-widgets serve --model tiny --port 8000
    lcm-widgets serve --model echo --no-auth          # instant fake model, for clients' tests
    lcm-widgets serve --app fal-ai/fast-lcm-diffusion=lcm-dreamshaper-v7 \
                      --app fal-ai/fast-turbo-diffusion=sd-turbo    # several apps, one port
    lcm-widgets serve --model lcm-dreamshaper-v7 --controlnet scribble \
                      --lora ./pixel-art.safetensors=0.8            # a ControlNet, a LoRA

Keys come from ``--keys-file``, ``LCM_WIDGETS_KEYS`` (comma-separated) or ``FAL_KEY``. With auth
on and no key configured, a random key is generated and printed once. The server binds
127.0.0.1 unless ``--host`` says otherwise; binding elsewhere with ``--no-auth`` prints a
warning, because anyone who can reach the port can then use the GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import sys
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["LOG_LEVELS", "AppModel", "bind_warning", "log_config", "parse_apps",
           "parse_model_flags", "register"]

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
#: uvicorn's levels (``trace`` is its own, below DEBUG).
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
log = logging.getLogger("lcm_widgets.serve")


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="serve a model over fal's REST, queue and realtime protocols",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny",
                   help="'echo' (instant fake), 'tiny' (random-weight test model), a preset "
                        "or a diffusers model id/folder (default: tiny)")
    p.add_argument("--device", default=None, help="torch device for local models")
    p.add_argument("--app", action="append", default=None, metavar="ID[=MODEL]",
                   help="endpoint id to serve, optionally with its model (default: "
                        "fal-ai/fast-lcm-diffusion with --model); repeat it to serve several "
                        "apps on one port, each with its own schema (fal-ai/fast-turbo-"
                        "diffusion: the turbo app)")
    p.add_argument("--controlnet", action="append", default=[], metavar="[APP=]NAME",
                   help="a ControlNet to load next to the model: scribble, canny, "
                        "tiny-controlnet (for tiny), a Hugging Face id or a folder; requests "
                        "pick it with the controlnet field (repeatable: the first is the "
                        "default). It goes to every app with a local model, or with APP= to "
                        "that --app only")
    p.add_argument("--lora", action="append", default=[], metavar="[APP=]PATH[=SCALE]",
                   help="a LoRA (a .safetensors file, a folder holding one, or a Hugging Face "
                        "id) loaded and applied at SCALE (0-4, default 1) to every request "
                        "that leaves loras out; requests may name it in loras (repeatable). "
                        "Every app with a local model, or with APP= that --app only")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    p.add_argument("--no-auth", action="store_true", help="accept requests without a key")
    p.add_argument("--keys-file", default=None, help="file with one API key per line")
    p.add_argument("--max-queue", type=int, default=64,
                   help="REST/queue jobs that may wait before 429 (default: 64)")
    p.add_argument("--session-timeout", type=float, default=60.0,
                   help="close idle realtime sessions after this many seconds; 0 = never")
    p.add_argument("--max-buffering", type=int, default=8,
                   help="frames a realtime session buffers when the client gives no "
                        "max_buffering (1..60, default: 8)")
    p.add_argument("--timings", action="store_true",
                   help="send an x-fal-message timings frame after each realtime result")
    p.add_argument("--batch", action="store_true",
                   help="run compatible frames of several sessions as one batch")
    p.add_argument("--public-url", default=None,
                   help="base URL for /files links when behind a proxy")
    p.add_argument("--generation-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="answer a generation that takes longer with an error (HTTP 504, "
                        "realtime GENERATION_TIMEOUT) and move on (default: 120; 0 = no "
                        "limit)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="a browser origin (https://app.example, or '*') allowed beside "
                        "loopback ones to open WebSockets, POST and get CORS headers "
                        "(repeatable)")
    p.add_argument("--webhook-allow", action="append", default=[], metavar="NETWORK",
                   help="a network (10.0.0.0/8, 127.0.0.1) webhooks may go to although it is "
                        "loopback, private or link-local (repeatable; refused by default)")
    p.add_argument("--state-dir", default=None, metavar="DIR",
                   help="keep accepted queue jobs and their results in DIR/jobs.sqlite3, so "
                        "a restarted server finishes or reports every one (default: memory "
                        "only)")
    p.add_argument("--job-retention", type=float, default=24 * 3600.0, metavar="SECONDS",
                   help="how long a finished queue job stays readable (default: 86400)")
    p.add_argument("--upload-ttl", type=float, default=3600.0, metavar="SECONDS",
                   help="how long an uploaded file (fal_client.upload_*, fal.storage.upload) "
                        "is kept (default: 3600)")
    p.add_argument("--max-upload-bytes", type=int, default=8 * 1024 * 1024, metavar="BYTES",
                   help="largest uploaded file (default: 8388608)")
    p.add_argument("--log-level", default="info", choices=LOG_LEVELS,
                   help="for uvicorn's loggers and the lcm_widgets ones (default: info)")
    from .serve_ray import add_arguments

    add_arguments(p)  # --ray and its flags (lcm_widgets/commands/serve_ray.py)
    p.set_defaults(func=run)


def bind_warning(host: str, auth: bool) -> str | None:
    """The loud warning for serving without auth on a non-loopback address, else None."""
    if auth or host in _LOOPBACK:
        return None
    return (f"lcm-widgets serve: WARNING: auth is off and the server binds {host}; anyone who "
            "can reach this port can use the model. Use --host 127.0.0.1 or configure keys "
            "(LCM_WIDGETS_KEYS, FAL_KEY or --keys-file).")


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config with the ``lcm_widgets`` loggers added at ``level``: same
    handler kind and formatter class (``uvicorn.logging.DefaultFormatter``), plus the logger's
    name, so a library line reads like uvicorn's and says where it came from."""
    import copy

    from uvicorn.config import LOG_LEVELS as UVICORN_LEVELS
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["formatters"]["lcm_widgets"] = {**cfg["formatters"]["default"],
                                        "fmt": "%(levelprefix)s %(name)s: %(message)s"}
    cfg["handlers"]["lcm_widgets"] = {**cfg["handlers"]["default"], "formatter": "lcm_widgets"}
    cfg["loggers"]["lcm_widgets"] = {"handlers": ["lcm_widgets"], "propagate": False,
                                     "level": UVICORN_LEVELS[level]}
    return cfg


def parse_apps(values: list[str] | None, model: str) -> list[tuple[str, str]]:
    """``--app`` values → ``[(app_id, model)]``: ``ID=MODEL``, or ``ID`` with ``--model``;
    none → the LCM app with ``--model``. Raises ValueError naming a bad or repeated one."""
    apps: list[tuple[str, str]] = []
    for value in values or ["fal-ai/fast-lcm-diffusion"]:
        app_id, sep, app_model = value.partition("=")
        app_id = app_id.strip().strip("/")
        if sep and not app_model.strip():
            raise ValueError(f"--app: a model must follow '=', got {value!r} (ID=MODEL, or ID "
                             "alone to use --model)")
        if any(a == app_id for a, _ in apps):
            raise ValueError(f"--app: each endpoint id may be given once, got {app_id!r} "
                             "twice")
        apps.append((app_id, app_model.strip() if sep else model))
    return apps


class AppModel(NamedTuple):
    """What one app's backend loads: the model, its ControlNets and its default LoRAs
    (``(path, scale)``). Apps with equal ones share one backend."""

    model: str
    controlnets: tuple[str, ...] = ()
    loras: tuple[tuple[str, float], ...] = ()


def _split_app(value: str, app_ids: list[str]) -> tuple[str | None, str]:
    """``APP=REST`` → (APP, REST) when APP is a served app id; else (None, value)."""
    head, sep, rest = value.partition("=")
    if sep and head.strip().strip("/") in app_ids:
        return head.strip().strip("/"), rest
    return None, value


def _check_controlnet(name: str) -> str:
    """A ``--controlnet`` value: a preset, a folder that exists, or a Hugging Face id."""
    from ..models.controlnets import CONTROLNETS

    kinds = f"one of {', '.join(CONTROLNETS)}, a Hugging Face id (owner/name) or a folder"
    name = name.strip()
    if name in CONTROLNETS or Path(name).expanduser().is_dir():
        return name
    if name.startswith(("/", ".", "~")):
        raise ValueError(f"--controlnet: must be {kinds}; no folder {name!r}")
    if name.count("/") != 1 or not all(name.split("/")):
        raise ValueError(f"--controlnet: must be {kinds}, got {name!r}")
    return name


def _check_lora(value: str) -> tuple[str, float]:
    """A ``--lora`` ``PATH[=SCALE]``: a safetensors LoRA and a scale in the schema's range."""
    from ..backends.local.lora import lora_source
    from ..errors import InvalidInput
    from ..schema import validate_model
    from ..schema_extensions import LoraWeight

    path, _, scale_text = value.rpartition("=") if "=" in value else (value, "", "1")
    try:
        scale = float(scale_text)
    except ValueError:
        raise ValueError(f"--lora: SCALE after '=' must be a number, got {scale_text!r} in "
                         f"{value!r} (PATH[=SCALE], or APP=PATH[=SCALE] with APP an --app id)"
                         ) from None
    if not path.strip():
        raise ValueError(f"--lora: PATH must not be empty, got {value!r}")
    try:
        weight = validate_model(LoraWeight, {"path": path.strip(), "scale": scale})
        lora_source(weight.path)
    except InvalidInput as exc:  # "scale: must be between 0 and 4, got 5.0" → "SCALE: ..."
        text = str(exc)
        if text.startswith("scale:"):
            text = "SCALE" + text[len("scale:"):]
        elif text.startswith(("path:", "lora:")):
            text = "PATH " + text.partition(":")[2].strip()
        raise ValueError(f"--lora: {text}") from None
    return weight.path, weight.scale


def parse_model_flags(apps: list[tuple[str, str]], controlnets: list[str] | None = None,
                      loras: list[str] | None = None) -> dict[str, AppModel]:
    """``--controlnet`` and ``--lora`` values → each app's :class:`AppModel`.

    A value without ``APP=`` goes to every app with a local model (not ``echo``); ``APP=``
    (an ``--app`` id) to that app only. Raises ValueError naming the flag, what it takes and
    the value: an unknown ControlNet, a LoRA that is not safetensors, a scale out of range, an
    ``APP`` that is not served, one given to an ``echo`` app, or ``APP=SCALE`` (ambiguous).
    """
    ids = [a for a, _ in apps]
    out = {a: AppModel(m) for a, m in apps}

    def targets(flag: str, app: str | None, value: str) -> list[str]:
        names = [app] if app is not None else [a for a, m in apps if m != "echo"]
        echo = [a for a in names if out[a].model == "echo"]
        if echo or not names:
            raise ValueError(f"{flag}: needs an app with a local model; "
                             f"{echo[0] if echo else ', '.join(ids)} serves 'echo', got "
                             f"{value!r}")
        return names

    for value in controlnets or []:
        app, name = _split_app(value, ids)
        checked = _check_controlnet(name)
        for a in targets("--controlnet", app, value):
            if checked not in out[a].controlnets:
                out[a] = out[a]._replace(controlnets=(*out[a].controlnets, checked))
    for value in loras or []:
        app, rest = _split_app(value, ids)
        if app is not None and "=" not in rest and _is_number(rest):
            raise ValueError(f"--lora: {value!r} is ambiguous: {app!r} is an --app id and "
                             f"also reads as a LoRA with a scale; write APP=PATH=SCALE or "
                             "PATH=SCALE")
        if app is None and value.count("=") > 1:
            head = value.partition("=")[0]
            raise ValueError(f"--lora: APP in APP=PATH=SCALE must be an --app id of this "
                             f"server ({', '.join(ids)}), got {head!r}")
        weight = _check_lora(rest)
        for a in targets("--lora", app, value):
            out[a] = out[a]._replace(loras=(*out[a].loras, weight))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _backend(args: argparse.Namespace, model: str | AppModel | None = None) -> Any:
    spec = AppModel(args.model if model is None else model) if not isinstance(
        model, AppModel) else model
    if spec.model == "echo":
        from ..backends.echo import EchoBackend

        return EchoBackend()
    from ..backends.local import LocalLCM

    lcm = LocalLCM(spec.model, device=args.device,
                   controlnet=list(spec.controlnets) or None)
    for path, scale in spec.loras:
        lcm.load_lora(path, scale, activate=False)
    if spec.loras:
        lcm.set_loras([{"path": p, "scale": s} for p, s in spec.loras])
    return lcm


def _load_backends(args: argparse.Namespace, specs: list[AppModel]) -> dict[AppModel, Any]:
    """One backend per distinct :class:`AppModel`. A ControlNet or LoRA that fails to load
    (it does not fit the model, or it is not there) raises ValueError naming its flag."""
    from ..errors import LCMWidgetsError

    backends: dict[AppModel, Any] = {}
    for spec in specs:
        if spec in backends:
            continue
        try:
            backends[spec] = _backend(args, spec)
        except LCMWidgetsError as exc:
            text = str(exc)
            if spec.loras and text.startswith(("lora", "loras")):
                raise ValueError(f"--lora: {text}") from None
            if spec.controlnets and "controlnet" in text.lower():
                raise ValueError(f"--controlnet: {text}") from None
            raise
    return backends


def run(args: argparse.Namespace) -> int:
    """Start the server in the foreground until Ctrl-C."""
    if getattr(args, "ray", False):  # the same app on Ray Serve (docs/scale.md)
        for flag, given in (("--controlnet", args.controlnet), ("--lora", args.lora)):
            if given:
                print(f"lcm-widgets serve: error: {flag}: not supported with --ray (the "
                      f"replicas load the model alone), got {given[0]!r}", file=sys.stderr)
                return 2
        from .serve_ray import run as run_ray

        return run_ray(args)
    import logging.config

    from .._extras import need

    need("server", "fastapi", "uvicorn", what="lcm-widgets serve")

    import uvicorn

    from ..server import ServerConfig, create_app, keys_from_env, keys_from_file
    from ..server.background import uvicorn_config
    from ..server.storage import UploadLimits

    keys = keys_from_env()
    if args.keys_file:
        keys += keys_from_file(args.keys_file)
    auth = not args.no_auth
    if auth and not keys:
        key = f"lcmw-{secrets.token_hex(4)}:{secrets.token_urlsafe(18)}"
        keys = [key]
        print("lcm-widgets serve: no API key configured (LCM_WIDGETS_KEYS, FAL_KEY or "
              f"--keys-file); generated one for this run:\n\n    FAL_KEY={key}\n",
              file=sys.stderr)
    warning = bind_warning(args.host, auth)
    if warning:
        print(warning, file=sys.stderr)
    try:
        apps = parse_apps(args.app, args.model)
        config = ServerConfig(app_id=apps[0][0], keys=keys, auth=auth, max_queue=args.max_queue,
                              session_timeout=args.session_timeout or None,
                              default_buffering=args.max_buffering, emit_timings=args.timings,
                              batch=args.batch, public_url=args.public_url, own_backend=True,
                              generation_timeout=args.generation_timeout or None,
                              allowed_origins=args.allow_origin,
                              webhook_allow=args.webhook_allow, state_dir=args.state_dir,
                              job_retention=args.job_retention,
                              uploads=UploadLimits(ttl=args.upload_ttl,
                                                   max_bytes=args.max_upload_bytes))
        for app_id, _ in apps[1:]:
            dataclasses.replace(config, app_id=app_id)  # each id checked before any model loads
        specs = parse_model_flags(apps, args.controlnet, args.lora)
    except ValueError as exc:  # a flag out of range: say which, before loading a model
        print(f"lcm-widgets serve: error: {exc}", file=sys.stderr)
        return 2
    logging.config.dictConfig(log_config(args.log_level))  # before the model loads: its lines too
    log.debug("config: app=%s auth=%s keys=%d max_queue=%d batch=%s generation_timeout=%s",
              ",".join(f"{a}={m}" for a, m in apps), auth, len(keys), args.max_queue, args.batch, args.generation_timeout)
    try:  # one backend per model (and its ControlNets and LoRAs), shared by the apps naming it
        loaded = _load_backends(args, [specs[a] for a, _ in apps])
    except ValueError as exc:  # a ControlNet or LoRA that does not load: before serving
        print(f"lcm-widgets serve: error: {exc}", file=sys.stderr)
        return 2
    backends = {a: loaded[specs[a]] for a, _ in apps}
    app: Any
    if len(apps) == 1:
        app = create_app(backends[apps[0][0]], config)
    else:
        from ..server import create_multi_app

        app = create_multi_app([(a, backends[a]) for a, _ in apps], config)
    banner = "\n".join(f"lcm-widgets serve: {backends[a].info.name} ({backends[a].info.model}"
                       f"{_extras_text(specs[a])}) as {a}" for a, _ in apps)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started and self.servers:
                port = self.servers[0].sockets[0].getsockname()[1]
                print(_layout(banner, args.host, port, [a for a, _ in apps]), file=sys.stderr,
                      flush=True)

    _Server(uvicorn_config(app, host=args.host, port=args.port, log_level=args.log_level,
                           log_config=log_config(args.log_level))).run()
    return 0


def _extras_text(spec: AppModel) -> str:
    """``, controlnet tiny-controlnet, lora DIR@0.8`` for the banner (empty without)."""
    parts = [f"controlnet {n}" for n in spec.controlnets]
    parts += [f"lora {p}@{s:g}" for p, s in spec.loras]
    return "".join(f", {p}" for p in parts)


def _layout(banner: str, host: str, port: int, app_ids: list[str]) -> str:
    """The URLs a client needs, printed once the port is bound."""
    base = f"http://{host}:{port}"
    lines = [banner]
    for app_id in app_ids:
        lines += [f"  sync      POST {base}/{app_id}",
                  f"  queue     {base}/queue/{app_id}",
                  f"  realtime  ws://{host}:{port}/{app_id}/realtime"]
    lines += [f"  tokens    POST {base}/tokens/", f"  health    {base}/health"]
    return "\n".join(lines)
