"""``lcm-widgets bench-live``: the live loop as a person meets it, in a real JupyterLab.

One run starts JupyterLab (or Notebook 7) on 127.0.0.1 and headless Chromium
(:mod:`lcm_widgets.bench.jupyter`), then, for each *case*, opens a notebook with a fresh kernel,
draws the same scripted strokes on its canvas for ``seconds`` and measures in the page. The
strokes come from a *driver*: ``synth`` (the default) makes the pointer events in the page
itself at ``input_rate`` a second and detaches Playwright from the browser while it draws
(Chromium is started by us with a debugging port, :func:`~lcm_widgets.bench.jupyter.chromium_cdp`;
Playwright attaches over CDP for the setup and again to read the figures), so no CDP client
slows the page; ``mouse`` drives Playwright's mouse (~30 events/s at most here, with its CDP
client attached throughout). The cases:

* ``studio-echo``: a Studio on ``EchoBackend()`` (an instant model);
* ``floor``: :class:`~lcm_widgets.bench.live_floor.EchoFloor`, a bare anywidget echoing the
  same JPEG frames over the same comm (the least a loop over this transport can do);
* ``floor-direct``: the same echo over the kernel's direct channel (the Studio's default
  transport where the browser can reach the kernel);
* ``studio-tiny``: a Studio on ``LocalLCM("tiny")`` (model-bound: shows the transport's share).

**Stroke→pixels** is measured as a person sees it: a probe in the page samples the output canvas
every animation frame (a 64x64 downscale, hashed) and, when its pixels change, takes the time
minus the pointer-event time of the oldest stroke in the frame now shown. **Results/s** counts
those changes. The per-stage breakdown comes from timestamps each side records for every frame
(the widget's debug trace, docs/widget-protocol.md "Browser test hooks"; the kernel's in the
result's ``t_kernel``): one clock per side (``Date.now()`` in the page, ``time.time()`` in the
kernel), related by the fastest round trip (offset ± half that round trip): frame→``took``, or
frame→result less the kernel's time in between.

``--soak`` samples the kernel's RSS and the page's JS heap (CDP ``Runtime.getHeapUsage`` after
a forced GC) every ``--sample-every`` seconds while drawing. Nothing here asserts a timing.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import jupyter as J

__all__ = ["CASES", "DRIVERS", "analyse", "case_key", "run_cases"]

#: The Studio cell; ``BACKEND`` is replaced per case.
_STUDIO_CELL = """\
from lcm_widgets import Studio
model = {backend}
studio = Studio(model, prompt="a house by a lake", steps=4, strength=0.5, seed=1234,
                display_size=300{extra})
studio"""

_FLOOR_CELL = """\
from lcm_widgets.bench.live_floor import EchoFloor
floor = EchoFloor(transport={transport!r})
floor"""

_BACKENDS = {
    "echo": "__import__('lcm_widgets.backends.echo', fromlist=['EchoBackend']).EchoBackend()",
    "tiny": "__import__('lcm_widgets', fromlist=['LocalLCM']).LocalLCM('tiny', progress=False)",
}

#: case name → (cell source, selector of the input canvas, selector of the widget root)
CASES: dict[str, tuple[str, str, str]] = {
    "studio-echo": (_STUDIO_CELL.format(backend=_BACKENDS["echo"], extra=""),
                    ".lcm-sketchpad .lcm-input canvas", ".lcm-sketchpad"),
    "floor": (_FLOOR_CELL.format(transport="comm"), ".lcm-floor .lcm-floor-input", ".lcm-floor"),
    "floor-direct": (_FLOOR_CELL.format(transport="direct"),
                     ".lcm-floor[data-ready] .lcm-floor-input", ".lcm-floor"),
    "studio-tiny": (_STUDIO_CELL.format(backend=_BACKENDS["tiny"], extra=""),
                    ".lcm-sketchpad .lcm-input canvas", ".lcm-sketchpad"),
}

#: Pause between mouse moves of the scripted strokes (ms). Each move is also a round trip to
#: the browser, so 4 ms gives pointer events faster than the display (Chromium coalesces them
#: per animation frame), as a real mouse or pen does; the tests draw at 16 ms.
STEP_MS = 4.0

#: Installed in the page once the widget is up: samples the output canvas every animation frame.
_PROBE_JS = r"""
(rootSel) => {
  const root = document.querySelector(rootSel);
  const lcm = root.__lcm;
  const out = root.querySelector(".lcm-output canvas, .lcm-floor-output");
  const small = document.createElement("canvas");
  small.width = small.height = 64;
  const ctx = small.getContext("2d", { willReadFrequently: true });
  // the changes seen, in a ring of typed arrays made once: a record that grew per result
  // would be a JS heap rise of the probe's own in a soak (36 000 objects in 600 s)
  const CAP = 1 << 17;
  const probe = { changeT: new Float64Array(CAP), changeSeq: new Float64Array(CAP), n: 0,
                  running: true, last: null, frames: 0, inputs: 0, drawn: 0, errors: [] };
  probe.changes = () => {
    const out = [];
    for (let i = Math.max(0, probe.n - CAP); i < probe.n; i += 1) {
      out.push({ t: probe.changeT[i % CAP], seq: probe.changeSeq[i % CAP] });
    }
    return out;
  };
  // page errors while no CDP client listens (the synth driver): kept here, read at the end
  window.addEventListener("error", (e) => probe.errors.push(
    `${e.message}\n${(e.error && e.error.stack) || ""}`.trim()));
  window.addEventListener("unhandledrejection", (e) => probe.errors.push(String(
    (e.reason && (e.reason.stack || e.reason.message)) || e.reason)));
  const input = root.querySelector(".lcm-input canvas, .lcm-floor-input");
  input.addEventListener("pointermove", () => { probe.inputs += 1; }, { capture: true });
  const ink = document.createElement("canvas");
  ink.width = ink.height = 64;
  const inkCtx = ink.getContext("2d", { willReadFrequently: true });
  let inkLast = null;
  const hash = (d) => {
    let h = 2166136261;
    for (let i = 0; i < d.length; i += 1) { h ^= d[i]; h = Math.imul(h, 16777619); }
    return h >>> 0;
  };
  const tick = () => {
    if (!probe.running) return;
    probe.frames += 1;
    inkCtx.drawImage(input, 0, 0, 64, 64);
    const ih = hash(inkCtx.getImageData(0, 0, 64, 64).data);
    if (ih !== inkLast) { inkLast = ih; probe.drawn += 1; }
    ctx.drawImage(out, 0, 0, 64, 64);
    const h = hash(ctx.getImageData(0, 0, 64, 64).data);
    if (h !== probe.last) {
      probe.last = h;
      probe.changeT[probe.n % CAP] = Date.now();
      probe.changeSeq[probe.n % CAP] = lcm.pacer.newestPainted;
      probe.n += 1;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  window.__lcmProbe = probe;
}
"""

#: The synth driver: pointer events made in the page itself, ``rate`` a second on a timer (as
#: a mouse or pen delivers them, between animation frames), the same kind of strokes as
#: :func:`~lcm_widgets.bench.jupyter.scribble` (a random start, then 16-40 moves of up to
#: 12.5 CSS px each), for ``seconds``. ``jitter`` (0-1) moves each gap between events by up to
#: that fraction of the period, uniformly (the mean rate stays ``rate``): at 0 the events keep
#: one phase against the display for the whole page load. The strokes do not depend on it
#: (their own random stream). No CDP client needs to stay attached while it runs. Returns
#: the page time it started; ``window.__lcmSynth`` counts and says when it is done.
_SYNTH_JS = r"""
({ sel, rate, seconds, seed, jitter }) => {
  const el = document.querySelector(sel);
  const mulberry32 = (a) => () => {
    a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rnd = mulberry32(seed >>> 0);  // the strokes
  const rndGap = mulberry32((seed ^ 0x9E3779B9) >>> 0);  // the jitter of the gaps
  const spread = Math.min(1, Math.max(0, jitter || 0));
  const synth = { done: false, events: 0, strokes: 0, late: 0, t0: Date.now(), t1: null,
                  gapMin: null, gapMax: null };  // the gaps planned (ms), before any lateness
  window.__lcmSynth = synth;
  const period = 1000 / rate;
  let x = 0, y = 0, left = 0;
  const fire = (type, buttons) => el.dispatchEvent(new PointerEvent(type, {
    clientX: x, clientY: y, buttons, button: type === "pointermove" ? -1 : 0, pointerId: 1,
    pointerType: "mouse", isPrimary: true, pressure: buttons ? 0.5 : 0, bubbles: true,
    cancelable: true, composed: true }));
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = start;
  const r = el.getBoundingClientRect();  // once: the page does not scroll while it draws
  const step = () => {
    const now = performance.now();
    if (now >= end) {
      if (left > 0) fire("pointerup", 0);
      synth.done = true;
      synth.t1 = Date.now();
      return;
    }
    if (left === 0) {
      x = r.left + r.width * (0.1 + 0.8 * rnd());
      y = r.top + r.height * (0.1 + 0.8 * rnd());
      fire("pointerdown", 1);
      left = 16 + Math.floor(rnd() * 25);
      synth.strokes += 1;
    } else {
      x = Math.min(r.left + r.width * 0.95, Math.max(r.left + r.width * 0.05, x + 25 * (rnd() - 0.5)));
      y = Math.min(r.top + r.height * 0.95, Math.max(r.top + r.height * 0.05, y + 25 * (rnd() - 0.5)));
      fire("pointermove", 1);
      synth.events += 1;
      left -= 1;
      if (left === 0) fire("pointerup", 0);
    }
    const gap = period * (1 + spread * (2 * rndGap() - 1));
    synth.gapMin = synth.gapMin === null ? gap : Math.min(synth.gapMin, gap);
    synth.gapMax = synth.gapMax === null ? gap : Math.max(synth.gapMax, gap);
    next += gap;
    if (next < now) { synth.late += 1; next = now; }  // never a burst to catch up
    setTimeout(step, Math.max(0, next - performance.now()));
  };
  step();
  return synth.t0;
}
"""

#: Drivers of the strokes: ``synth`` (:data:`_SYNTH_JS`, CDP detached while drawing) and
#: ``mouse`` (Playwright's mouse over CDP, which also slows the page it drives).
DRIVERS = ("synth", "mouse")
#: Pointer events per second of the synth driver.
INPUT_RATE = 60.0
#: The synth driver's jitter: each gap between pointer events is moved by up to this fraction
#: of the period (uniformly; :data:`_SYNTH_JS`). With none, a page load keeps the phase of its
#: first event against the display and its median moves by up to a display frame with it;
#: with 0.5 one page load samples every phase (docs/benchmarks.md, "Input jitter").
INPUT_JITTER = 0.5

_PAINTED_JS = "(rootSel) => document.querySelector(rootSel).__lcm.stats().resultsPainted"

_COLLECT_JS = r"""
(rootSel) => {
  const root = document.querySelector(rootSel);
  const p = window.__lcmProbe;
  return { changes: p.changes(), rafs: p.frames, inputs: p.inputs, drawn: p.drawn,
           errors: p.errors,
           trace: root.__lcm.trace(),
           stats: root.__lcm.stats(), now: Date.now(), status: (root.querySelector(
             ".lcm-status") || {}).textContent || "",
           dataCounters: root.dataset.framesSent !== undefined };
}
"""


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 1)


def clock_offset(trace: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(kernel clock − page clock, ± uncertainty) in ms from the fastest round trip: a
    frame→``took`` (the kernel's receive time inside it), or a frame→result less the kernel's
    own time between receiving the frame and sending the result (``t_kernel``), whichever is
    tighter."""
    best: tuple[float, float] | None = None

    def num(v: Any) -> bool:
        return isinstance(v, int | float)

    for r in trace:
        cands: list[tuple[float, float]] = []
        if all(num(r.get(k)) for k in ("t_sent", "t_took", "k_took")):
            rtt = r["t_took"] - r["t_sent"]
            if rtt >= 0:
                cands.append((r["k_took"] - (r["t_sent"] + r["t_took"]) / 2, rtt / 2))
        k = r.get("kernel") or {}
        if num(r.get("t_sent")) and num(r.get("t_recv")) and num(k.get("recv")) and \
                num(k.get("sent")):
            net = (r["t_recv"] - r["t_sent"]) - (k["sent"] - k["recv"])
            if net >= 0:
                cands.append((k["recv"] - r["t_sent"] - net / 2, net / 2))
        for off, half in cands:
            if best is None or half < best[1]:
                best = (off, half)
    return None if best is None else (round(best[0], 2), round(best[1], 2))


#: stage → (later timestamp, earlier timestamp); ``k.`` are kernel times, shifted by the offset
STAGES = (
    ("wait for credit + send gap", "t_begin", "t_input"),
    ("rasterize + encode", "t_encoded", "t_begin"),
    ("browser→kernel", "k.recv", "t_encoded"),  # model.send itself included
    ("kernel queue", "k.start", "k.recv"),
    ("generate", "k.done", "k.start"),
    ("kernel hold (result credit)", "k.sent", "k.done"),
    ("kernel→browser", "t_recv", "k.sent"),
    ("decode", "t_decoded", "t_recv"),
    ("paint", "t_paint", "t_decoded"),
    ("to screen (next rAF)", "t_shown", "t_paint"),
)


def _stage_values(rec: dict[str, Any], offset: float) -> dict[str, float] | None:
    k = rec.get("kernel") or {}

    def get(name: str) -> float | None:
        v = k.get(name[2:]) if name.startswith("k.") else rec.get(name)
        if not isinstance(v, int | float):
            return None
        return float(v) - offset if name.startswith("k.") else float(v)

    out: dict[str, float] = {}
    for stage, later, earlier in STAGES:
        a, b = get(later), get(earlier)
        if a is None or b is None:
            return None
        out[stage] = a - b
    return out


def analyse(raw: dict[str, Any], t0: float, t1: float) -> dict[str, Any]:
    """Figures of one case from what the page collected between page times ``t0`` and ``t1``."""
    trace = {int(r["seq"]): r for r in raw["trace"]}
    seen: set[int] = set()
    lat: list[float] = []
    shown: list[dict[str, Any]] = []
    changes = [c for c in raw["changes"] if t0 <= c["t"] <= t1]
    for c in changes:
        seq = int(c["seq"])
        rec = trace.get(seq)
        if seq in seen or rec is None or "t_input" not in rec:
            continue
        seen.add(seq)
        rec = {**rec, "t_shown": c["t"]}
        lat.append(c["t"] - rec["t_input"])
        shown.append(rec)
    seconds = (t1 - t0) / 1000
    off = clock_offset(raw["trace"])
    per: list[tuple[float, dict[str, float]]] = []
    if off is not None and shown:
        per = [(r["t_shown"] - r["t_input"], v) for r in shown
               if (v := _stage_values(r, off[0])) is not None]
    median_frame, stages = _stage_figures(per)
    stats = raw.get("stats") or {}
    return {
        "seconds": round(seconds, 2),
        "stroke_to_pixels_ms": {"p50": _pct(lat, 50), "p95": _pct(lat, 95), "n": len(lat)},
        # frames shown whose trace is kept (the newest 1024): a long run counts only those
        "results_per_s": round(len(lat) / seconds, 1) if seconds > 0 else None,
        "screen_changes_per_s": round(len(changes) / seconds, 1) if seconds > 0 else None,
        "frames_sent": stats.get("framesSent"),
        "results_dropped": stats.get("resultsDropped"),
        "max_in_flight": stats.get("maxInFlight"),
        "clock_offset_ms": None if off is None else {"kernel_minus_page": off[0],
                                                     "plus_minus": off[1]},
        "median_frame_ms": median_frame,
        "stages_ms": stages,
        # what pool() needs to merge runs; run_cases() takes it out of what it returns
        POOL_KEY: {"latencies": lat, "per_frame": per},
    }


#: The key under which :func:`analyse` leaves a run's per-frame values for :func:`pool`.
POOL_KEY = "_per_frame"


def _stage_figures(per: list[tuple[float, dict[str, float]]]
                   ) -> tuple[dict[str, float] | None, dict[str, Any]]:
    """(the median frame's stages, p50/p95 of each stage) of (latency, stages) per frame."""
    if not per:
        return None, {}
    per = sorted(per, key=lambda x: x[0])
    median_frame = {k: round(v, 1) for k, v in per[len(per) // 2][1].items()}
    stages = {}
    for stage, _a, _b in STAGES:
        xs = [v[stage] for _, v in per]
        stages[stage] = {"p50": _pct(xs, 50), "p95": _pct(xs, 95)}
    return median_frame, stages


def pool(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One case's figures over several runs (``--repeat``): stroke→pixels and the stages over
    all their frames together, rates averaged, counts added, high-water marks the highest. Each
    page load draws against its own phase of the display, which moves a run's median by up to
    a display frame; pooled, the runs sample those phases. ``runs`` keeps each run's own
    figures (without their per-frame values)."""
    if len(runs) == 1:
        return runs[0]
    lat = [x for r in runs for x in r[POOL_KEY]["latencies"]]
    per = [x for r in runs for x in r[POOL_KEY]["per_frame"]]
    median_frame, stages = _stage_figures(per)

    def mean(key: str) -> float | None:
        xs = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        return round(sum(xs) / len(xs), 1) if xs else None

    def total(key: str) -> int | None:
        xs = [r[key] for r in runs if isinstance(r.get(key), int)]
        return sum(xs) if xs else None

    out = {k: v for k, v in runs[-1].items() if k not in (POOL_KEY, "soak")}
    out.update({
        "seconds": round(sum(r["seconds"] for r in runs), 2),
        "stroke_to_pixels_ms": {"p50": _pct(lat, 50), "p95": _pct(lat, 95), "n": len(lat)},
        "frames_sent": total("frames_sent"), "results_dropped": total("results_dropped"),
        "max_in_flight": max((r["max_in_flight"] for r in runs
                              if isinstance(r.get("max_in_flight"), int)), default=None),
        "clock_offset_ms": None, "median_frame_ms": median_frame, "stages_ms": stages,
        POOL_KEY: {"latencies": lat, "per_frame": per},
        "runs": [{k: v for k, v in r.items() if k != POOL_KEY} for r in runs],
    })
    for key in ("results_per_s", "screen_changes_per_s", "results_painted_per_s",
                "rafs_per_s", "input_events_per_s", "drawing_changes_per_s"):
        out[key] = mean(key)
    if "kernel" in runs[0]:
        ks = [r.get("kernel") or {} for r in runs]
        out["kernel"] = {k: _merge(k, [x.get(k) for x in ks]) for k in ks[0]}
    return out


def _merge(key: str, xs: list[Any]) -> Any:
    """A kernel counter over runs: the highest of a high-water mark (``max`` in its name),
    else the sum."""
    nums = [x for x in xs if isinstance(x, int | float)]
    if not nums:
        return None
    return max(nums) if "max" in key else sum(nums)


def _kernel_json(kc: Any, expr: str) -> Any:
    out = J.kernel_eval(kc, f"import json as _j; print(_j.dumps({expr}, default=str))")
    return json.loads(out.strip().splitlines()[-1])


_RSS = ("(lambda: [int(l.split()[1]) for l in open('/proc/self/status') "
        "if l.startswith('VmRSS')][0] * 1024)()")


def run_case(cdp: J.CdpChromium, server: J.Server, root: Path, name: str, *, seconds: float,
             seed: int = 7, soak_every: float = 0.0, step_ms: float = STEP_MS,
             driver: str = "synth", input_rate: float = INPUT_RATE,
             input_jitter: float = INPUT_JITTER,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Open the case's notebook in a fresh kernel, draw for ``seconds``, return its figures.

    ``driver="synth"``: the strokes are made in the page (:data:`_SYNTH_JS`, ``input_rate``
    pointer events/s, each gap moved by up to ``input_jitter`` of the period) while Playwright is
    detached from the browser; a bare CDP connection (:class:`~lcm_widgets.bench.jupyter.RawCdp`)
    takes the soak samples and Playwright attaches again at the end. ``"mouse"``: Playwright's
    mouse (``step_ms`` apart).
    """
    if driver not in DRIVERS:
        raise ValueError(f"driver: must be one of {', '.join(DRIVERS)}, got {driver!r}")
    cell, canvas_sel, root_sel = CASES[name]
    nb = f"{name}-{driver}.ipynb"
    J.write_notebook(root / nb, [cell])
    sess = server.api("/api/sessions", {"path": nb, "type": "notebook", "name": nb,
                                        "kernel": {"name": "python3"}})
    server.kernel_id = sess["kernel"]["id"]
    page = cdp.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(J.page_error_text(e)))
    kc = None
    try:
        J.open_notebook(page, server, nb, reset=True)
        J.run_first_cell_until(page, canvas_sel, timeout=300)
        if name.startswith("studio"):
            _until(lambda: "ready" in (page.text_content(".lcm-status") or ""), 300)
        canvas = page.locator(canvas_sel)
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        box = dict(canvas.bounding_box() or {})
        page.evaluate(_PROBE_JS, root_sel)
        synth = {"sel": canvas_sel, "rate": input_rate, "seed": seed, "jitter": input_jitter}
        # warm-up: one stroke, until its result is on screen
        if driver == "synth":
            page.evaluate(_SYNTH_JS, {**synth, "seconds": 0.5, "seed": seed + 1000})
        else:
            J.scribble(page, box, seconds=0.5, seed=seed + 1000)
        _until(lambda: page.evaluate("() => window.__lcmProbe.n") > 1, 300)
        page.wait_for_timeout(1000)
        kc = server.kernel_client()
        samples: list[dict[str, float]] = []
        t0 = float(page.evaluate("() => Date.now()"))
        painted0 = int(page.evaluate(_PAINTED_JS, root_sel))
        if driver == "synth":
            t0 = float(page.evaluate(_SYNTH_JS, {**synth, "seconds": seconds}))
            start = time.monotonic()
            every = soak_every if soak_every > 0 else seconds
            cdp.detach()  # nothing of Playwright's in the page while it draws
            # A bare CDP connection asks while it draws (Playwright attaching for each sample
            # left a V8 context per attach in the page: J.RawCdp), made after the first wait,
            # so nothing is attached to the page during a run without samples.
            bare: J.RawCdp | None = None
            try:
                while True:
                    left = seconds - (time.monotonic() - start)
                    time.sleep(max(0.05, min(every, left)))
                    bare = bare or J.RawCdp(cdp.endpoint, nb)
                    if bare.evaluate("window.__lcmSynth.done"):
                        break
                    if soak_every > 0:
                        samples.append(_soak_sample(bare, kc, t0))
                        log(f"[bench-live {name}] {samples[-1]}")
                if soak_every > 0:
                    samples.append(_soak_sample(bare, kc, t0))
            finally:
                if bare is not None:
                    bare.close()
            page = cdp.page(nb)
            page.on("pageerror", lambda e: errors.append(J.page_error_text(e)))
            t1 = float(page.evaluate("() => window.__lcmSynth.t1"))
        elif soak_every > 0:
            end = time.monotonic() + seconds
            with J.RawCdp(cdp.endpoint, nb) as bare:
                while time.monotonic() < end:
                    J.scribble(page, box, seconds=min(soak_every, end - time.monotonic()),
                               seed=seed + len(samples), step_ms=step_ms)
                    samples.append(_soak_sample(bare, kc, t0))
                    log(f"[bench-live {name}] {samples[-1]}")
            t1 = float(page.evaluate("() => Date.now()"))
        else:
            J.scribble(page, box, seconds=seconds, seed=seed, step_ms=step_ms)
            t1 = float(page.evaluate("() => Date.now()"))
        page.wait_for_timeout(1000)  # let the last results land (not counted)
        painted1 = int(page.evaluate(_PAINTED_JS, root_sel))
        raw = page.evaluate(_COLLECT_JS, root_sel)
        fig = analyse(raw, t0, t1)
        fig["driver"] = driver
        if driver == "synth":
            fig["input_rate"] = input_rate
            fig["input_jitter"] = input_jitter
            fig["synth"] = page.evaluate("() => ({ ...window.__lcmSynth })")
        fig["results_painted_per_s"] = round((painted1 - painted0) / max(1e-9, (t1 - t0) / 1000),
                                             1)
        span = max(1e-9, (raw["now"] - t0) / 1000)
        fig["rafs_per_s"] = round(raw["rafs"] / span, 1)
        # what the person did: pointer events, and animation frames whose drawing changed
        fig["input_events_per_s"] = round(raw["inputs"] / span, 1)
        fig["drawing_changes_per_s"] = round(raw["drawn"] / span, 1)
        if name.startswith("studio"):
            ks = _kernel_json(kc, "studio.stats")
            fig["kernel"] = {k: ks.get(k) for k in (
                "frames_in", "started", "completed", "dropped", "skipped", "max_in_flight",
                "max_pending", "max_result_slot", "backend_max_concurrency",
                "max_unacked_results", "ack_timeouts")}
            fig["status"] = raw["status"]
            # the trace hooks only: no data-* counters written per frame (docs/widget-protocol.md)
            fig["data_counters"] = raw["dataCounters"]
        if samples:
            fig["soak"] = samples
        # the page's own record of errors covers the seconds no CDP client listened
        seen = set(errors)
        errors += [e for e in raw.get("errors") or [] if e not in seen]
        fig["page_errors"] = J.page_errors_of_ours(errors)
        return fig
    finally:
        if kc is not None:
            kc.stop_channels()
        with contextlib.suppress(Exception):
            page.close()
        with contextlib.suppress(Exception):
            server.api(f"/api/sessions/{sess['id']}", method="DELETE")


#: Soak samples before this many seconds are warm-up (caches, JIT, the first GCs); the drift
#: is judged on the samples after it.
SOAK_WARMUP_S = 120.0


def soak_drift(samples: list[dict[str, float]], warmup_s: float = SOAK_WARMUP_S
               ) -> dict[str, Any] | None:
    """Range and least-squares slope (MB per 100 s) of the kernel RSS and the JS heap over the
    soak samples taken after ``warmup_s``; None with fewer than two such samples."""
    after = [s for s in samples if s["t_s"] >= warmup_s]
    if len(after) < 2:
        return None
    ts = [s["t_s"] for s in after]
    tm = sum(ts) / len(ts)
    var = sum((t - tm) ** 2 for t in ts)
    out: dict[str, Any] = {"n": len(after), "span_s": round(ts[-1] - ts[0], 1)}
    for key in ("kernel_rss_mb", "js_heap_mb"):
        ys = [s[key] for s in after]
        ym = sum(ys) / len(ys)
        slope = sum((t - tm) * (y - ym) for t, y in zip(ts, ys, strict=True)) / var if var else 0.0
        out[key] = {"min": min(ys), "max": max(ys), "range": round(max(ys) - min(ys), 2),
                    "slope": round(slope * 100, 2)}
    return out


def _soak_sample(raw: J.RawCdp, kc: Any, t0: float) -> dict[str, float]:
    heap = raw.heap_used()
    return {"t_s": round((float(raw.evaluate("Date.now()")) - t0) / 1000, 1),
            "kernel_rss_mb": round(_kernel_json(kc, _RSS) / 2**20, 1),
            "js_heap_mb": round(heap / 2**20, 2)}


def _until(cond: Callable[[], Any], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise TimeoutError(f"bench-live: gave up after {timeout:.0f} s")


def machine() -> dict[str, Any]:
    """Where and when: CPU, cores, load average, commit, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=J.REPO,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"cpu": cpu, "cores": os.cpu_count(), "load_avg": [round(x, 2) for x in
                                                              os.getloadavg()],
            "python": platform.python_version(), "commit": commit or None,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def case_key(name: str, driver: str, drivers: list[str]) -> str:
    """The key of a case's figures: its name, with ``@driver`` when a run has several."""
    return name if len(drivers) == 1 else f"{name}@{driver}"


def run_cases(cases: list[str], *, seconds: float, app: str = "lab", soak_every: float = 0.0,
              step_ms: float = STEP_MS, drivers: list[str] | None = None,
              input_rate: float = INPUT_RATE, input_jitter: float = INPUT_JITTER,
              repeat: int = 1, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``cases`` back to back in one JupyterLab and one Chromium, once per driver (each
    case under every driver before the next case); ``repeat`` rounds of that, each case's
    runs pooled (:func:`pool`)."""
    drivers = list(drivers or ["synth"])
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 50:
        raise ValueError(f"repeat: must be a whole number from 1 to 50, got {repeat!r}")
    if repeat > 1 and soak_every > 0:
        raise ValueError("repeat: a soak runs once (leave repeat at 1)")
    if not 0 <= input_jitter <= 1:
        raise ValueError(f"input_jitter: must be from 0 to 1 (a fraction of the period), got "
                         f"{input_jitter!r}")
    for c in cases:
        if c not in CASES:
            raise ValueError(f"case: must be one of {', '.join(CASES)}, got {c!r}")
    for d in drivers:
        if d not in DRIVERS:
            raise ValueError(f"driver: must be one of {', '.join(DRIVERS)}, got {d!r}")
    out: dict[str, Any] = {"machine": machine(), "app": app, "seconds": seconds,
                           "drivers": drivers, "input_rate": input_rate,
                           "input_jitter": input_jitter,
                           "step_ms": step_ms, "repeat": repeat, "cases": {}}
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="lcm-bench-live-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "root").mkdir()
        first = f"{cases[0]}-warm.ipynb"
        J.write_notebook(tmpdir / "root" / first, ["1"])
        env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        with J.jupyter_server(tmpdir, app=app, notebook=first, env=env) as server, \
                J.chromium_cdp(tmpdir, init_script=J.TRACE_INIT_SCRIPT) as cdp:
            server.api(f"/api/kernels/{server.kernel_id}", method="DELETE")
            for r in range(repeat):
                for c in cases:
                    for d in drivers:
                        round_ = f", round {r + 1} of {repeat}" if repeat > 1 else ""
                        log(f"[bench-live] {c} ({d} driver{round_}): {seconds:.0f} s of "
                            "strokes ...")
                        runs.setdefault(case_key(c, d, drivers), []).append(run_case(
                            cdp, server, tmpdir / "root", c, seconds=seconds,
                            soak_every=soak_every, step_ms=step_ms, driver=d,
                            input_rate=input_rate, input_jitter=input_jitter, log=log,
                            seed=7 + 100 * r))
    for key, rs in runs.items():
        fig = pool(rs)
        fig.pop(POOL_KEY, None)
        out["cases"][key] = fig
    out["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 2)


def summary_lines(res: dict[str, Any]) -> list[str]:
    """The human-readable table of a run."""
    m = res["machine"]
    jit = res.get("input_jitter") or 0
    drv = ", ".join(f"{d} ({res.get('input_rate')} events/s"
                    f"{f', gaps ± {jit:.0%}' if jit else ''})" if d == "synth" else
                    f"{d} ({res.get('step_ms')} ms steps)" for d in res.get("drivers") or [])
    lines = [f"bench-live · {res['app']} · {res['seconds']:.0f} s per case · "
             f"driver {drv or '?'} · {m['cpu']} "
             f"({m['cores']} cores) · load {m['load_avg']} → {m.get('load_avg_end')} · "
             f"commit {m['commit']} · {m['date']}", "",
             f"{'case':<19} {'p50 ms':>7} {'p95 ms':>7} {'results/s':>9} {'sent':>6} "
             f"{'dropped':>7} {'max in flight':>13}   (n frames; drawing changes/s)"]
    def row(name: str, f: dict[str, Any]) -> str:
        s = f["stroke_to_pixels_ms"]
        return (f"{name:<19} {s['p50']!s:>7} {s['p95']!s:>7} "
                f"{f.get('results_painted_per_s')!s:>9} {f['frames_sent']!s:>6} "
                f"{f['results_dropped']!s:>7} {f['max_in_flight']!s:>13}   (n={s['n']}; "
                f"{f.get('drawing_changes_per_s')})")

    for name, f in res["cases"].items():
        lines.append(row(name + (" (pooled)" if f.get("runs") else ""), f))
        for i, r in enumerate(f.get("runs") or [], start=1):
            lines.append(row(f"  run {i}", r))
    cs = res["cases"]
    lines.append("")
    drivers = res.get("drivers") or ["synth"]
    for d, floor in [(d, f) for d in drivers for f in ("floor", "floor-direct")]:
        studio, floor = case_key("studio-echo", d, drivers), case_key(floor, d, drivers)
        if studio not in cs or floor not in cs:
            continue
        a, b = cs[studio], cs[floor]
        sa, sb = a["stroke_to_pixels_ms"], b["stroke_to_pixels_ms"]
        lines += [f"{studio} / {floor}{' (pooled)' if a.get('runs') else ''}: stroke→pixels "
                  f"p50 × {ratio(sa['p50'], sb['p50'])}, p95 × {ratio(sa['p95'], sb['p95'])}, "
                  f"results/s × {ratio(a.get('results_painted_per_s'), b.get('results_painted_per_s'))}"]
        if a.get("runs") and b.get("runs"):
            pairs = list(zip(a["runs"], b["runs"], strict=False))
            lines.append("  each round: " + ", ".join(
                f"p50 × {ratio(x['stroke_to_pixels_ms']['p50'], y['stroke_to_pixels_ms']['p50'])}"
                f" / p95 × {ratio(x['stroke_to_pixels_ms']['p95'], y['stroke_to_pixels_ms']['p95'])}"
                for x, y in pairs))
    for name, f in cs.items():
        lines.append(f"{name}: the page ran {f.get('rafs_per_s')} animation frames/s, got "
                     f"{f.get('input_events_per_s')} pointer events/s, and its drawing changed "
                     f"in {f.get('drawing_changes_per_s')} frames/s (the most results/s it can "
                     "ask for)")
    for name, f in cs.items():
        off = f.get("clock_offset_ms")
        if not f.get("median_frame_ms"):
            continue
        if f.get("runs"):
            clocks = "; ".join(f"{r['clock_offset_ms']['kernel_minus_page']} ± "
                               f"{r['clock_offset_ms']['plus_minus']}" for r in f["runs"]
                               if r.get("clock_offset_ms"))
            clock = f"kernel clock = page clock + (ms, per run) {clocks}"
        else:
            clock = (f"kernel clock = page clock + {off['kernel_minus_page']} ms "
                     f"± {off['plus_minus']} ms")
        lines += ["", f"{name}: the median frame, stage by stage (ms; p50 / p95 over all "
                      f"frames{' of all runs' if f.get('runs') else ''}); {clock}"]
        for stage, v in f["median_frame_ms"].items():
            st = f["stages_ms"].get(stage, {})
            lines.append(f"  {stage:<28} {v:>7}   ({st.get('p50')} / {st.get('p95')})")
        if "kernel" in f:
            lines.append(f"  kernel: {f['kernel']}")
    for name, f in cs.items():
        if f.get("soak"):
            rss = [s["kernel_rss_mb"] for s in f["soak"]]
            heap = [s["js_heap_mb"] for s in f["soak"]]
            lines += ["", f"{name} soak: kernel RSS MB first {rss[0]}, last {rss[-1]}, max "
                          f"{max(rss)}; JS heap MB first {heap[0]}, last {heap[-1]}, "
                          f"max {max(heap)}"]
            d = soak_drift(f["soak"])
            if d is not None:
                lines.append(
                    f"{name} soak after {SOAK_WARMUP_S:.0f} s of warm-up ({d['n']} samples, "
                    f"{d['span_s']} s): kernel RSS {d['kernel_rss_mb']['min']}–"
                    f"{d['kernel_rss_mb']['max']} MB (slope {d['kernel_rss_mb']['slope']:+} "
                    f"MB/100 s), JS heap {d['js_heap_mb']['min']}–{d['js_heap_mb']['max']} MB "
                    f"(slope {d['js_heap_mb']['slope']:+} MB/100 s)")
        if f.get("page_errors"):
            lines.append(f"{name}: page errors {f['page_errors']}")
    return lines
