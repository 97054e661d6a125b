"""``lcm-widgets generate`` (one image from the command line) and ``lcm-widgets doctor``.

    lcm-widgets generate --prompt "a red house" --model tiny -o out.jpg
    lcm-widgets generate --prompt "a castle" --image sketch.png --strength 0.5 --num-images 2 \\
        -o out.jpg                  # writes out-0.jpg and out-1.jpg
    lcm-widgets doctor              # versions, CUDA, which backends are usable and why not
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInput

__all__ = ["DTYPES", "doctor_report", "register"]

#: The dtype names LocalLCM takes (``resolve_device_dtype``), full names first.
DTYPES = ("float16", "bfloat16", "float32", "fp16", "bf16", "fp32", "half")


def register(subparsers: Any) -> None:
    """Add the ``generate`` and ``doctor`` subcommands."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "generate", help="generate images with the local backend and write them to files",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompt", required=True, help="what to draw")
    p.add_argument("--negative-prompt", default="", help="what not to draw (LCM-LoRA models)")
    p.add_argument("--image", default=None, help="source image file: image-to-image")
    p.add_argument("--model", default="lcm-dreamshaper-v7",
                   help="preset (lcm-dreamshaper-v7, tiny, runwayml/stable-diffusion-v1-5, "
                        "stabilityai/stable-diffusion-xl-base-1.0), a model id or a folder "
                        "(default: lcm-dreamshaper-v7)")
    p.add_argument("--steps", type=int, default=4, help="num_inference_steps (default: 4)")
    p.add_argument("--strength", type=float, default=0.5,
                   help="image-to-image strength (default: 0.5)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    p.add_argument("--guidance", type=float, default=1.5, help="guidance_scale (default: 1.5)")
    p.add_argument("--size", default=None,
                   help="WIDTHxHEIGHT or a preset name (default: the image's size, or the "
                        "model's native square)")
    p.add_argument("--num-images", type=int, default=1, help="images to make (default: 1)")
    p.add_argument("--format", choices=("jpeg", "png"), default=None,
                   help="output format (default: from the -o suffix, else jpeg)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--dtype", default=None, choices=DTYPES,
                   help="torch dtype (default: float16 on CUDA, else float32)")
    p.add_argument("--vae", choices=("full", "taesd"), default=None, help="VAE to use")
    p.add_argument("--no-safety-checker", action="store_true",
                   help="do not load or run the safety checker")
    p.add_argument("-o", "--output", default="out.jpg",
                   help="output file; with several images, -0, -1... are added before the "
                        "suffix (default: out.jpg)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_generate)

    d: argparse.ArgumentParser = subparsers.add_parser(
        "doctor", help="show versions, devices and which backends are usable")
    d.set_defaults(func=_doctor)


def _size(text: str | None) -> Any:
    if text is None:
        return None
    if "x" in text:
        w, _, h = text.lower().partition("x")
        try:
            return {"width": int(w), "height": int(h)}
        except ValueError:
            raise InvalidInput(f"--size: must be WIDTHxHEIGHT like 512x512 or a preset name, "
                               f"got {text!r}", field="image_size") from None
    return text


def _generate(args: argparse.Namespace) -> int:
    from ..backends.local import LocalLCM
    from ..schema import parse_input

    out = Path(args.output)
    fmt = args.format or ("png" if out.suffix.lower() == ".png" else "jpeg")
    request: dict[str, Any] = {
        "prompt": args.prompt, "negative_prompt": args.negative_prompt,
        "num_inference_steps": args.steps, "guidance_scale": args.guidance,
        "num_images": args.num_images, "format": fmt, "seed": args.seed,
        "image_size": _size(args.size),
    }
    if args.image is not None:
        try:
            request["image_url"] = Path(args.image).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"--image: cannot read {args.image!r} ({exc.strerror})",
                               field="image_url") from exc
        request["strength"] = args.strength
    inp = parse_input(request)  # validate before the (slow) model load
    lcm = LocalLCM(args.model, device=args.device, dtype=args.dtype, vae=args.vae,
                   safety_checker=not args.no_safety_checker, warmup=False,
                   progress=not args.quiet, compile=False)
    result = lcm.generate_sync(inp)
    paths = [out] if len(result.images) == 1 else [
        out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(len(result.images))]
    for path, image in zip(paths, result.images, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image.data())
        print(f"wrote {path} ({image.width}x{image.height} {fmt}, {image.file_size} bytes)")
    print(f"seed: {result.seed}")
    print("timings: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in result.timings.items()))
    if any(result.has_nsfw_concepts):
        print("note: the safety checker flagged some images (written black)", file=sys.stderr)
    return 0


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    except Exception as exc:  # a broken install: report, do not crash the doctor
        return f"broken ({type(exc).__name__}: {exc})"
    return str(getattr(mod, "__version__", "installed"))


def doctor_report() -> list[str]:
    """Lines describing the environment and which backends are usable, and why not."""
    from .._version import __version__

    lines = [f"lcm-widgets {__version__}",
             f"python {platform.python_version()} ({sys.executable})",
             f"platform {platform.platform()}"]
    names = ("torch", "diffusers", "transformers", "accelerate", "peft", "safetensors",
             "anywidget", "ipywidgets", "jupyterlab", "notebook", "ipykernel", "fastapi",
             "uvicorn", "websockets", "httpx", "msgpack", "pydantic", "PIL", "numpy",
             "simplejpeg")
    versions = {name: _version(name) for name in names}
    for name in names:
        lines.append(f"  {name:<13} {versions[name] or 'missing'}")
    cuda = "torch missing"
    if versions["torch"] and not versions["torch"].startswith("broken"):
        import torch

        if torch.cuda.is_available():
            cuda = ", ".join(f"cuda:{i} {torch.cuda.get_device_name(i)}"
                             for i in range(torch.cuda.device_count()))
        else:
            cuda = f"not available (torch {torch.__version__})"
    lines.append(f"CUDA: {cuda}")
    from .. import _jpeg

    lines.append(f"JPEG codec for frames: {_jpeg.name()}"
                 + ("" if _jpeg.available() else
                    " (slower; pip install simplejpeg, and unset LCM_WIDGETS_JPEG)"))
    lines.append("backends:")
    missing = [n for n in ("torch", "diffusers", "transformers") if not versions[n]]
    if missing:
        lines.append(f"  local: not usable ({', '.join(missing)} missing; "
                     'pip install "lcm-widgets[local]")')
    else:
        where = cuda if not cuda.startswith("not") else "CPU only: slow except for 'tiny'"
        lines.append(f"  local: usable (torch {versions['torch']}; {where})")
        if not versions["peft"]:
            lines.append("    LCM-LoRA presets (runwayml/..., stabilityai/...) need peft: "
                         "pip install peft")
    remote_missing = [n for n in ("websockets", "httpx") if not versions[n]]
    if remote_missing:
        lines.append(f"  realtime: not usable ({', '.join(remote_missing)} missing; "
                     'pip install "lcm-widgets[remote]")')
    elif not os.environ.get("FAL_KEY"):
        lines.append("  realtime: usable with your own server; for fal.ai, FAL_KEY not set")
    else:
        lines.append("  realtime: usable (FAL_KEY set)")
    server_missing = [n for n in ("fastapi", "uvicorn", "websockets") if not versions[n]]
    lines.append(f"  server: not usable ({', '.join(server_missing)} missing; "
                 'pip install "lcm-widgets[server]")' if server_missing else "  server: usable")
    widget_missing = [n for n in ("anywidget", "ipywidgets") if not versions[n]]
    lines.append(f"  widgets: not usable ({', '.join(widget_missing)} missing)"
                 if widget_missing else "  widgets: usable")
    offline = os.environ.get("HF_HUB_OFFLINE")
    lines.append(f"HF_HUB_OFFLINE={offline}" if offline else "HF_HUB_OFFLINE not set")
    from ..models.tiny import cache_root

    lines.append(f"model cache (tiny, arch): {cache_root()}")
    return lines


def _doctor(args: argparse.Namespace) -> int:
    print("\n".join(doctor_report()))
    return 0
