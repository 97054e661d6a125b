"""Turn the bench's raw frame samples into numbers (JSON) and markdown tables (stdout).

Definitions (all per frame, milliseconds, p50 = median, p95 = 95th percentile; each p50 is the
median of its own per-frame series, so the p50s of parts need not add up to the p50 of the
whole):

* **ms/frame**: ``time.perf_counter`` around the whole call (JPEG bytes in → JPEG bytes out).
* **fps**: timed frames / their summed wall time (one frame at a time, no pipelining).
* **model compute**: the time inside the probed model calls (:mod:`.probes`), and nothing
  else: the UNet's ``forward`` (every evaluation), the VAE's ``encode`` and ``decode``, and
  the text encoders' ``forward``. Everything inside those calls counts as model compute (for
  example the VAE posterior's ``exp`` inside ``encode``). On a CPU it is their wall time; on
  CUDA, their GPU time from CUDA events.
* **overhead outside model compute** ("outside model"): ms/frame minus model compute. Every
  other thing the frame does: JPEG decode and encode, uint8 ↔ float pixel conversions, noise
  sampling, scheduler math, the data URI, validation, thread hops, Python; on CUDA also the
  host time during which the GPU sat idle (launch gaps, syncs). **The issue's target (≤ 2 ms
  p50 on CPU with ``tiny``) is about this number**, JPEG codec included.
* **JPEG codec** (ours only): LocalLCM's ``decode`` stage plus its ``encode_output`` stage
  (``Output.timings``). ``decode`` is the JPEG decode of ``image_url`` into a uint8 array
  (with a resize when the size differs; the bench sends the output size, so none);
  ``encode_output`` is the JPEG encode plus the base64 ``data:`` URI and the ``Output``
  object. So it is the codec plus a little glue around it, never model work.
* **JPEG codec alone** (image-to-image only): :mod:`.codec`: the same frames' decode and
  encode in a tight loop, with simplejpeg (what LocalLCM uses) and with Pillow: the codec's
  floor on this machine, next to the same work inside the frame loop.
* **the rest** (ours only, "outside model excl. JPEG codec"): overhead minus JPEG codec, per
  frame. "call overhead", a part of the rest, is ms/frame minus LocalLCM's own
  ``timings["total"]`` (validation, the hop to the worker thread and back).
* **ratio**: stock / ours, from the same run (the two sides alternate frame by frame).
* **× floor** (H100/H200 only): ms/frame (and GPU model time) / the calculated floor of
  :mod:`.floors` (docs/gpu.md).
"""

from __future__ import annotations

from typing import Any

from ..stats import Summary, summarize
from .floors import Floor
from .runner import MODEL_STAGES, SideResult

__all__ = ["STAGES", "analyse", "format_tables"]

#: LocalLCM's ``Output.timings`` keys and the row names the tables print.
STAGES: tuple[tuple[str, str], ...] = (
    ("decode", "decode"),
    ("encode_prompt", "encode prompt"),
    ("encode_image", "encode image"),
    ("denoise", "denoise"),
    ("decode_latents", "VAE decode"),
    ("encode_output", "encode output"),
    ("total", "total"),
)
_MODEL_ROWS = {"text_encoder": "text encoder", "vae_encode": "VAE encode", "unet": "UNet",
               "vae_decode": "VAE decode"}
MS = 1000.0
#: The issue's target for ours on CPU with ``tiny``: overhead outside model compute, p50, ms.
TARGET_OUTSIDE_MODEL_MS = 2.0


def _side(side: SideResult, *, cuda: bool, ours: bool) -> dict[str, Any]:
    fr = side.frames
    wall = [f.wall for f in fr]
    model_src = [f.model_gpu if cuda else f.model_wall for f in fr]
    model = [sum(m.values()) for m in model_src]
    out: dict[str, Any] = {
        "frames": len(fr),
        "ms_per_frame": summarize(wall).scaled(MS),
        "fps": len(fr) / sum(wall),
        "model_ms": {s: summarize([m.get(s, 0.0) for m in model_src]).scaled(MS)
                     for s in MODEL_STAGES},
        "model_total_ms": summarize(model).scaled(MS),
        "model_time_source": "cuda_events" if cuda else "perf_counter",
        "outside_model_ms": summarize([w - m for w, m in zip(wall, model, strict=True)]).scaled(MS),
        "calls_per_frame": {s: sorted({f.calls.get(s, 0) for f in fr}) for s in MODEL_STAGES},
        "output_kb_mean": sum(f.out_bytes for f in fr) / len(fr) / 1024,
    }
    if cuda:
        out["model_host_ms"] = summarize([sum(f.model_wall.values()) for f in fr]).scaled(MS)
        out["gpu_busy_fraction_p50"] = out["model_total_ms"].p50 / out["ms_per_frame"].p50
    if ours:
        out["stages_ms"] = {k: summarize([f.timings.get(k, 0.0) for f in fr]).scaled(MS)
                            for k, _ in STAGES}
        codec = [f.timings.get("decode", 0.0) + f.timings.get("encode_output", 0.0) for f in fr]
        out["codec_ms"] = summarize(codec).scaled(MS)
        out["outside_model_excl_codec_ms"] = summarize(
            [w - m - c for w, m, c in zip(wall, model, codec, strict=True)]).scaled(MS)
        # Validation, the loop-thread and worker-thread hops: outside LocalLCM's own "total".
        out["call_overhead_ms"] = summarize(
            [w - f.timings.get("total", 0.0) for w, f in zip(wall, fr, strict=True)]).scaled(MS)
    return out


def analyse(ours: SideResult, stock: SideResult | None, *, cuda: bool,
            floor: Floor | None, stage_pass: SideResult | None = None,
            codec: dict[str, dict[str, Summary]] | None = None) -> dict[str, Any]:
    """All numbers of one run (Summary objects inside; see :func:`to_jsonable`). ``codec``
    is :func:`~.codec.codec_floor`'s result, when it ran."""
    res: dict[str, Any] = {"ours": _side(ours, cuda=cuda, ours=True)}
    if codec is not None:
        res["codec_alone_ms"] = codec
    if stage_pass is not None:
        # CUDA: stage timings from a second pass with a sync after every stage.
        res["ours"]["stages_ms"] = _side(stage_pass, cuda=cuda, ours=True)["stages_ms"]
        res["ours"]["stages_source"] = "second pass, precise_timings=True (sync per stage)"
    if stock is not None:
        res["stock"] = _side(stock, cuda=cuda, ours=False)
        o, s = res["ours"]["ms_per_frame"], res["stock"]["ms_per_frame"]
        res["ratio"] = {"p50": s.p50 / o.p50, "p95": s.p95 / o.p95,
                        "fps": res["ours"]["fps"] / res["stock"]["fps"]}
        res["unet_evals_match"] = (res["ours"]["calls_per_frame"]["unet"]
                                   == res["stock"]["calls_per_frame"]["unet"])
    if floor is not None:
        res["floor"] = floor.to_dict()
        res["x_floor"] = {
            name: {"ms_per_frame_p50": r["ms_per_frame"].p50 / floor.roofline_ms,
                   "gpu_model_p50": r["model_total_ms"].p50 / floor.roofline_ms}
            for name, r in (("ours", res["ours"]), ("stock", res.get("stock")))
            if r is not None}
    return res


def to_jsonable(obj: Any) -> Any:
    """Summaries → dicts, recursively."""
    if isinstance(obj, Summary):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


def _f(x: float) -> str:
    return f"{x:.2f}" if abs(x) < 100 else f"{x:.1f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def format_tables(res: dict[str, Any], *, title: str = "") -> str:
    """Three markdown tables: our stages, model work vs the rest (both sides), the summary
    (printed last)."""
    ours, stock = res["ours"], res.get("stock")
    cuda = ours["model_time_source"] == "cuda_events"
    lines: list[str] = []
    if title:
        lines += [title, ""]
    src = ours.get("stages_source", "Output.timings")
    lines += [f"ours, per stage ({src}), ms", "", _row(["stage", "p50", "p95"]),
              _row(["---"] * 3)]
    for key, name in STAGES:
        s = ours["stages_ms"][key]
        lines.append(_row([name, _f(s.p50), _f(s.p95)]))
    kind = "GPU time (CUDA events)" if cuda else "wall time inside the calls"
    lines += ["", f"model work per frame ({kind}), ms", ""]
    head = ["", "ours p50", "ours p95"] + (["stock p50", "stock p95"] if stock else [])
    lines += [_row(head), _row(["---"] * len(head))]

    def cells(get: Any) -> list[str]:
        out = []
        for side in (ours, stock):
            if side is not None:
                s = get(side)
                out += [_f(s.p50), _f(s.p95)]
        return out

    for key, name in _MODEL_ROWS.items():
        calls = "/".join(str(max(side["calls_per_frame"][key]))
                         for side in (ours, stock) if side is not None)
        lines.append(_row([f"{name} (calls {calls})", *cells(lambda d, k=key: d["model_ms"][k])]))
    lines.append(_row(["model total", *cells(lambda d: d["model_total_ms"])]))
    lines.append(_row(["outside model", *cells(lambda d: d["outside_model_ms"])]))
    lines.append(_row(["ms/frame", *cells(lambda d: d["ms_per_frame"])]))
    if "codec_alone_ms" in res:
        lines += ["", "JPEG codec alone (the same frames in a tight loop, fastest of 5 each; "
                  "the codec's floor here), ms", "", _row(["", "decode p50", "encode p50",
                                                           "decode + encode p50"]),
                  _row(["---"] * 4)]
        names = {"fast": "simplejpeg (what LocalLCM uses)", "pillow": "Pillow"}
        for key, label in names.items():
            c = res["codec_alone_ms"].get(key)
            if c is not None:
                lines.append(_row([label, _f(c["decode"].p50), _f(c["encode"].p50),
                                   _f(c["total"].p50)]))
        st = ours["stages_ms"]
        lines.append(_row(["in the frame loop (ours: decode, encode output stages)",
                           _f(st["decode"].p50), _f(st["encode_output"].p50),
                           _f(ours["codec_ms"].p50)]))
    lines += ["", "summary", ""]
    head = ["", "ours"] + (["stock", "stock/ours"] if stock else [])
    lines += [_row(head), _row(["---"] * len(head))]
    o, s = ours["ms_per_frame"], stock["ms_per_frame"] if stock else None
    ratio = res.get("ratio", {})

    def add(name: str, a: str, b: str = "", r: str = "") -> None:
        lines.append(_row([name, a] + ([b, r] if stock else [])))

    add("ms/frame p50", _f(o.p50), _f(s.p50) if s else "", f"{ratio.get('p50', 0):.2f}x")
    add("ms/frame p95", _f(o.p95), _f(s.p95) if s else "", f"{ratio.get('p95', 0):.2f}x")
    add("fps", _f(ours["fps"]), _f(stock["fps"]) if stock else "", f"{ratio.get('fps', 0):.2f}x")
    add("model compute p50, ms (UNet + VAE + text encoder)", _f(ours["model_total_ms"].p50),
        _f(stock["model_total_ms"].p50) if stock else "")
    add("outside model p50, ms (ms/frame - model compute)", _f(ours["outside_model_ms"].p50),
        _f(stock["outside_model_ms"].p50) if stock else "")
    add("- JPEG codec p50, ms (decode + encode output)", _f(ours["codec_ms"].p50))
    add("- the rest p50, ms (outside model excl. JPEG codec)",
        _f(ours["outside_model_excl_codec_ms"].p50))
    add("- of which call overhead p50, ms (ms/frame - timings total)",
        _f(ours["call_overhead_ms"].p50))
    if not cuda:
        target = TARGET_OUTSIDE_MODEL_MS
        full = ours["outside_model_ms"].p50
        rest = ours["outside_model_excl_codec_ms"].p50
        add(f"target: outside model <= {target:g} ms p50",
            f"{'met' if full <= target else 'not met'} ({_f(full)})")
        add(f"not the target: outside model excl. JPEG codec <= {target:g} ms p50",
            f"{'met' if rest <= target else 'not met'} ({_f(rest)})")
    add("UNet evals/frame", str(max(ours["calls_per_frame"]["unet"])),
        str(max(stock["calls_per_frame"]["unet"])) if stock else "")
    if cuda:
        add("GPU model time p50, ms", _f(ours["model_total_ms"].p50),
            _f(stock["model_total_ms"].p50) if stock else "")
        add("GPU busy (model GPU / wall) p50", f"{ours['gpu_busy_fraction_p50']:.0%}",
            f"{stock['gpu_busy_fraction_p50']:.0%}" if stock else "")
    if "floor" in res:
        fl = res["floor"]
        xf = res["x_floor"]
        add(f"floor {fl['gpu']} ({fl['evals']} evals, {'TAESD' if fl['taesd'] else 'full VAE'}"
            f"), ms", _f(fl["roofline_ms"]))
        add("ms/frame / floor", f"{xf['ours']['ms_per_frame_p50']:.1f}x",
            f"{xf['stock']['ms_per_frame_p50']:.1f}x" if stock else "")
        add("GPU model time / floor", f"{xf['ours']['gpu_model_p50']:.1f}x",
            f"{xf['stock']['gpu_model_p50']:.1f}x" if stock else "")
    return "\n".join(lines)
