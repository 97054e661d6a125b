"""``lcm-widgets bench``: time LocalLCM's lean path against the stock diffusers pipeline.

Runs ``--warmup`` untimed and ``--frames`` timed sketch frames through
``LocalLCM.generate_sync`` and, alternating frame by frame in the same run, through
:func:`lcm_widgets.backends.local.reference.reference_output` (the stock pipeline ``__call__``
on the same components). See :mod:`lcm_widgets.bench.runner` for exactly what each side
includes and :mod:`lcm_widgets.bench.report` for what each number means. Prints markdown
tables (the compact summary last) and, with ``--json``, writes every number.

``--arch sd15|sdxl`` benchmarks the full-size architecture with random weights
(:mod:`lcm_widgets.models.arch`), built into the model cache on first use.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    p = subparsers.add_parser(
        "bench", help="time the local backend against the stock diffusers pipeline",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--model", default="tiny",
                   help="preset, Hugging Face id or local folder (default: tiny)")
    p.add_argument("--arch", choices=("sd15", "sdxl"), default=None,
                   help="full-size random-weight architecture instead of --model")
    p.add_argument("--frames", type=int, default=30, help="timed frames per side (default 30)")
    p.add_argument("--warmup", type=int, default=3,
                   help="untimed frames per side after loading (default 3)")
    p.add_argument("--steps", type=int, default=4, help="num_inference_steps (default 4)")
    p.add_argument("--strength", type=float, default=0.5, help="img2img strength (default 0.5)")
    p.add_argument("--guidance", type=float, default=1.5, help="guidance_scale (default 1.5)")
    p.add_argument("--size", type=int, default=None,
                   help="square frame side (default: the model's native size)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--dtype", choices=("fp16", "bf16", "fp32"), default=None,
                   help="default fp16 on CUDA, fp32 on CPU")
    p.add_argument("--taesd", action="store_true", help="use TAESD instead of the full VAE")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the UNet and VAE (default: on for CUDA, off for CPU)")
    p.add_argument("--compile-mode", default=None,
                   help="torch.compile mode (implies --compile): max-autotune (the CUDA "
                        "default), reduce-overhead (CUDA graphs, compiles faster), default")
    p.add_argument("--compile-backend", default=None, choices=("inductor", "eager", "aot_eager"),
                   help="torch.compile backend (implies --compile): inductor (default), or "
                        "eager / aot_eager (graph capture and guards only: seconds, for dry runs "
                        "and recompile checks, not for figures)")
    p.add_argument("--sketch-quality", type=int, default=None,
                   help="JPEG quality of the sketch frames (default: the Sketchpad's, 85)")
    p.add_argument("--txt2img", action="store_true", help="text-to-image instead of img2img")
    p.add_argument("--no-stock", dest="stock", action="store_false",
                   help="skip the stock pipeline (ours only)")
    p.add_argument("--controlnet", default=None,
                   help="also time each frame with this ControlNet (scribble, canny, "
                        "tiny-controlnet, an id or folder): the extra cost per frame")
    p.add_argument("--lora", default=None,
                   help="also time each frame with this LoRA (an id, .safetensors file or "
                        "folder; 'tiny' for a random one on the tiny model) at scale 1")
    p.add_argument("--json", dest="json_path", default=None, help="write every number here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def _log(args: argparse.Namespace, msg: str) -> None:
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def _check_args(args: argparse.Namespace, cuda: bool) -> None:
    from ..errors import BackendUnavailable, InvalidInput

    if args.frames < 1:
        raise InvalidInput(f"--frames: must be at least 1, got {args.frames}")
    if args.warmup < 0:
        raise InvalidInput(f"--warmup: must be at least 0, got {args.warmup}")
    if args.sketch_quality is not None and not 1 <= args.sketch_quality <= 100:
        raise InvalidInput(f"--sketch-quality: must be between 1 and 100, got "
                           f"{args.sketch_quality}")
    if args.size is not None and (args.size < 64 or args.size % 8):
        raise InvalidInput(f"--size: must be a multiple of 8, at least 64, got {args.size}")
    if args.arch == "sdxl" and not cuda:
        raise BackendUnavailable(
            "--arch sdxl: needs --device cuda (the SDXL UNet alone is 2.6 B parameters; on a "
            "CPU a frame takes minutes and the fp32 build about 14 GB of memory)")


def _environment(torch: Any, device: Any) -> dict[str, Any]:
    import diffusers

    env: dict[str, Any] = {
        "date": _dt.date.today().isoformat(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_1min_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
    }
    try:
        import transformers

        env["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        import subprocess

        root = Path(__file__).resolve().parents[2]
        env["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        env["git_commit"] = None
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def run(args: argparse.Namespace) -> int:
    """Load, run, print, write JSON. Returns the exit status."""
    from ..backends.local import LocalLCM
    from ..backends.local.loading import import_torch, resolve_device_dtype
    from ..bench.floors import frame_floor, gpu_kind
    from ..bench.report import analyse, format_tables, to_jsonable
    from ..bench.runner import make_sketches, run_frames
    from ..errors import InvalidInput
    from ..schema import ImageSize, Input

    torch, diffusers = import_torch()
    # The stock pipeline logs the same notices on every call (disabled safety checker, custom
    # timesteps); they would bury the tables.
    diffusers.utils.logging.set_verbosity_error()
    device, dtype = resolve_device_dtype(args.device, args.dtype)
    cuda = device.type == "cuda"
    _check_args(args, cuda)
    model = args.model
    if args.arch:
        from ..models.arch import ensure_arch

        if not cuda:
            _log(args, f"bench: --arch {args.arch} on the CPU: building and running the "
                       "full-size model takes minutes per frame; fine for a look, not a figure")
        _log(args, f"bench: building/loading the random-weight {args.arch} "
                   f"({str(dtype).removeprefix('torch.')}) in the model cache…")
        model = str(ensure_arch(args.arch, str(dtype).removeprefix("torch."),
                                device="cuda" if cuda else "cpu"))
    compile_arg = args.compile_mode or args.compile
    if args.compile is False and (args.compile_mode or args.compile_backend):
        flag = "--compile-mode" if args.compile_mode else "--compile-backend"
        raise InvalidInput(f"{flag}: cannot be combined with --no-compile")
    if args.compile_backend not in (None, "inductor") and args.compile_mode:
        raise InvalidInput(f"--compile-mode: only the inductor backend takes a mode, got "
                           f"--compile-backend {args.compile_backend}")
    _log(args, f"bench: loading {model} on {device} {dtype} "
               f"(vae={'taesd' if args.taesd else 'full'}, compile={compile_arg})")
    lcm = LocalLCM(model, device=str(device), dtype=dtype, safety_checker=False,
                   compile=compile_arg, vae="taesd" if args.taesd else None,
                   progress=not args.quiet, warmup=True, compile_backend=args.compile_backend,
                   controlnet=args.controlnet)
    variants: dict[str, dict[str, Any]] = {}
    if args.controlnet:
        variants[f"+ controlnet {args.controlnet}"] = {"controlnet": args.controlnet}
    if args.lora:
        from ..schema_extensions import LoraWeight

        where: Any = args.lora
        if args.lora == "tiny":
            from ..models.tiny_lora import ensure_tiny_lora

            where = ensure_tiny_lora(0)
        name = lcm.load_lora(where, activate=False)
        variants[f"+ lora {args.lora}"] = {"loras": (LoraWeight(path=name, scale=1.0),)}
    size = args.size or lcm.native_size
    n = args.warmup + args.frames
    base: dict[str, Any] = {"prompt": "a watercolor landscape with mountains, detailed",
                            "seed": 42, "num_inference_steps": args.steps,
                            "guidance_scale": args.guidance, "format": "jpeg",
                            "enable_safety_checker": False}
    if args.controlnet:
        base["controlnet"] = "none"  # the plain frame; the variant switches it on
    if args.txt2img:
        inputs = [Input(**base, image_size=ImageSize(width=size, height=size))
                  for _ in range(n)]
    else:
        from ..protocol.widget import DEFAULT_JPEG_QUALITY

        args.sketch_quality = args.sketch_quality or round(DEFAULT_JPEG_QUALITY * 100)
        sketches = make_sketches(n, size, quality=args.sketch_quality)
        inputs = [Input(**base, image_url=b, strength=args.strength) for b in sketches]
    _log(args, f"bench: {args.warmup} warm-up + {args.frames} timed frames per side, "
               f"{size}x{size}, {'txt2img' if args.txt2img else 'img2img'}, "
               f"steps {args.steps}" + ("" if args.txt2img else
                                        f", strength {args.strength}, sketch JPEG quality "
                                        f"{args.sketch_quality}"))
    ours, stock = run_frames(lcm, inputs, warmup=args.warmup, cuda=cuda, stock=args.stock,
                             log=lambda m: _log(args, m))
    stage_pass = None
    if cuda:
        # Stage timings on CUDA need a sync after each stage; keep that out of the timed pass.
        _log(args, "bench: CUDA stage pass (precise_timings=True)")
        lcm.precise_timings = True
        try:
            stage_pass, _ = run_frames(lcm, inputs, warmup=args.warmup, cuda=True, stock=False)
        finally:
            lcm.precise_timings = False
    codec = None
    if not args.txt2img:
        from ..bench.codec import codec_floor

        _log(args, "bench: the JPEG codec alone on the same frames")
        codec = codec_floor(sketches[args.warmup:], [f.output for f in ours.frames],
                            quality=lcm.jpeg_quality)
    env = _environment(torch, device)
    arch = args.arch or {"lcm-dreamshaper-v7": "sd15", "runwayml/stable-diffusion-v1-5": "sd15",
                         "stabilityai/stable-diffusion-xl-base-1.0": "sdxl"}.get(args.model)
    evals = max(f.calls.get("unet", 0) for f in ours.frames)
    floor = frame_floor(gpu_kind(env.get("gpu")), arch, evals=evals, taesd=args.taesd,
                        img2img=not args.txt2img, size=size) if cuda else None
    res = analyse(ours, stock, cuda=cuda, floor=floor, stage_pass=stage_pass, codec=codec)
    config = {k: v for k, v in vars(args).items() if k != "func"}
    config.update(model=model, size=size, device=str(device),
                  dtype=str(dtype).removeprefix("torch."), compile_mode=lcm.compile_mode,
                  compile_backend=lcm.compile_backend, compile_seconds=lcm.compile_seconds,
                  backend=vars(lcm.info))
    res = {"config": config, "environment": env, **res}
    title = (f"lcm-widgets bench: {args.arch or args.model}, {size}x{size}, "
             f"{'txt2img' if args.txt2img else f'img2img steps {args.steps} strength {args.strength}'}"
             f", {device} {config['dtype']}, vae {'taesd' if args.taesd else 'full'}, "
             f"compile {lcm.compile_mode or 'off'}, {args.frames} frames "
             f"({env.get('gpu') or platform.processor() or platform.machine()}, "
             f"torch {env['torch']}, diffusers {env['diffusers']})")
    if stock is not None and not res["unet_evals_match"]:
        _log(args, "bench: warning: ours and stock ran different numbers of UNet evaluations")
    if cuda and floor is None:
        _log(args, f"bench: no floor for {env.get('gpu')!r} / {arch or args.model} at {size}px "
                   "(docs/gpu.md has H100/H200 floors for sd15 at 512 and sdxl at 1024)")
    print(format_tables(res, title=title))
    if variants:
        from ..bench.extras import extra_cost, format_extra_cost

        _log(args, f"bench: plain vs {', '.join(variants)}, alternating, ours only")
        extra = extra_cost(lcm, inputs, variants, warmup=args.warmup)
        res["extra_cost"] = extra
        print()
        print(format_extra_cost(extra, title="extra cost per frame (same run, alternating "
                                              "order; wall ms of generate_sync)"))
    if args.json_path:
        path = Path(args.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_jsonable(res), indent=1, default=str))
        _log(args, f"bench: wrote {path}")
    return 0
