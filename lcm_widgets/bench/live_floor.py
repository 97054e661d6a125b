"""The floor of ``lcm-widgets bench-live``: a bare anywidget that echoes JPEG frames.

:class:`EchoFloor` is the least a live loop over the notebook's comm can do, so the Studio's
figures can be read against it: strokes on its canvas are rasterized to JPEG exactly as the
Sketchpad does (``canvas.toDataURL``, same size and quality), sent as one anywidget custom
message with the bytes as a buffer, echoed back unchanged by the comm handler in the kernel (no
engine, no model, no loop hop, no copy kept), decoded as the Sketchpad decodes (``ImageDecoder``
where the page has it, else ``createImageBitmap``) and drawn. The one rule
it keeps is the least any loop needs: a frame is sent on the next animation frame after a change,
once the previous echo came back (one in flight; otherwise frames would queue in the transport).

``EchoFloor(transport="direct")`` does the same over the kernel's direct channel
(:mod:`lcm_widgets.widgets._direct`, the same server, token and Origin rule as the Sketchpad's),
echoing on the library loop; it falls back to nothing (the bench reports it unreachable).

It exposes the same debug hooks as the Sketchpad (``root.__lcm.pacer.newestPainted`` and
``root.__lcm.trace()``, one record per frame with the same field names), so the bench measures
both the same way. Not a user-facing widget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import anywidget
import traitlets

from ..widgets._direct import DirectServer, Endpoint, origin_of

__all__ = ["EchoFloor"]

_ESM = r"""
const FRAME = 512;
function render({ model, el }) {
  const doc = el.ownerDocument;
  const root = doc.createElement("div");
  root.className = "lcm-floor";
  root.style.display = "flex";
  root.style.gap = "8px";
  const input = doc.createElement("canvas");
  const output = doc.createElement("canvas");
  for (const c of [input, output]) {
    c.width = c.height = FRAME;
    c.style.width = c.style.height = "300px";
    c.style.border = "1px solid #888";
    c.style.touchAction = "none";
  }
  input.className = "lcm-floor-input";
  output.className = "lcm-floor-output";
  root.append(input, output);
  el.replaceChildren(root);
  const ictx = input.getContext("2d");
  ictx.fillStyle = "#fff";
  ictx.fillRect(0, 0, FRAME, FRAME);
  const octx = output.getContext("2d");
  const direct = model.get("transport") === "direct";
  let ws = null;
  const pack = (h, payload) => {
    const b = new TextEncoder().encode(JSON.stringify(h));
    const body = payload ? new Uint8Array(payload) : new Uint8Array(0);
    const out = new Uint8Array(4 + b.length + body.length);
    new DataView(out.buffer).setUint32(0, b.length);
    out.set(b, 4); out.set(body, 4 + b.length);
    return out;
  };
  const quality = Number(model.get("jpeg_quality")) || 0.85;
  const pacer = { newestPainted: -1, framesSent: 0, resultsPainted: 0 };
  const trace = new Map();
  let seq = 0, inFlight = false, dirty = false, tInput = 0, pending = false, last = null;
  const at = (ev) => {
    const r = input.getBoundingClientRect();
    return [(ev.clientX - r.left) * FRAME / r.width, (ev.clientY - r.top) * FRAME / r.height];
  };
  const evTime = (ev) => performance.timeOrigin + ev.timeStamp;
  const changed = (t) => {
    if (!dirty) { dirty = true; tInput = t; }
    schedule();
  };
  // the Sketchpad's rule (js/widget.js): at most one frame every 14 ms, a change later than
  // that after the last send goes at once, a sooner one waits out the rest of the gap
  const MIN_SEND_GAP_MS = 14;
  let lastSendAt = -Infinity;
  const schedule = () => {
    if (pending || inFlight || !dirty) return;
    pending = true;
    const go = () => { pending = false; send(); };
    const wait = lastSendAt + MIN_SEND_GAP_MS - performance.now();
    if (wait <= 0) queueMicrotask(go); else setTimeout(go, wait);
  };
  const send = () => {
    if (inFlight || !dirty) return;
    inFlight = true; dirty = false;
    lastSendAt = performance.now();
    const s = ++seq, rec = { seq: s, t_input: tInput, t_begin: Date.now() };
    trace.set(s, rec);
    if (trace.size > 1024) trace.delete(trace.keys().next().value);
    const buf = jpegBytes(input.toDataURL("image/jpeg", quality));
    rec.t_encoded = Date.now();
    if (direct) ws.send(pack({ type: "frame", seq: s }, buf));
    else model.send({ type: "frame", seq: s }, undefined, [buf.buffer]);
    rec.t_sent = Date.now();
    rec.bytes = buf.byteLength;
    pacer.framesSent += 1;
  };
  const jpegBytes = (url) => {
    const b64 = url.slice(url.indexOf(",") + 1);
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(b64);
    return Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  };
  // the Sketchpad's decoders (js/codec.js): ImageDecoder where the page has it
  const decodeEcho = async (bytes) => {
    if (typeof ImageDecoder === "function") {
      const dec = new ImageDecoder({ data: bytes, type: "image/jpeg" });
      try { return (await dec.decode()).image; } finally { dec.close(); }
    }
    return createImageBitmap(new Blob([bytes], { type: "image/jpeg" }));
  };
  input.addEventListener("pointerdown", (ev) => {
    last = at(ev);
    try { input.setPointerCapture?.(ev.pointerId); } catch { /* synthetic: no active pointer */ }
  });
  input.addEventListener("pointermove", (ev) => {
    if (!last || !(ev.buttons & 1)) return;
    const p = at(ev);
    ictx.strokeStyle = "#000"; ictx.lineWidth = 8; ictx.lineCap = "round";
    ictx.beginPath(); ictx.moveTo(last[0], last[1]); ictx.lineTo(p[0], p[1]); ictx.stroke();
    last = p;
    changed(evTime(ev));
  });
  const up = () => { last = null; };
  input.addEventListener("pointerup", up);
  input.addEventListener("pointercancel", up);
  const onEcho = async (content, buffers) => {
    const rec = trace.get(content.seq) || { seq: content.seq };
    rec.t_recv = Date.now();
    rec.t_took = rec.t_recv;
    rec.k_took = content.t_recv;
    const view = buffers[0];
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const bmp = await decodeEcho(bytes);
    rec.t_decoded = Date.now();
    octx.drawImage(bmp, 0, 0);
    bmp.close();
    rec.t_paint = Date.now();
    rec.kernel = { recv: content.t_recv, start: content.t_recv, done: content.t_recv,
                   sent: content.t_sent };
    pacer.newestPainted = content.seq;
    pacer.resultsPainted += 1;
    inFlight = false;
    schedule();
  };
  model.on("msg:custom", (content, buffers) => {
    if (!content) return;
    if (content.type === "echo") void onEcho(content, buffers);
    if (content.type === "direct" && direct && !ws) {
      ws = new WebSocket(content.url);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => ws.send(pack({ type: "auth", token: content.token, view: "floor" }));
      ws.onmessage = (ev) => {
        const n = new DataView(ev.data).getUint32(0);
        const h = JSON.parse(new TextDecoder().decode(new Uint8Array(ev.data, 4, n)));
        if (h.type === "ready") { root.dataset.ready = "true"; return; }
        if (h.type === "echo") void onEcho(h, [new Uint8Array(ev.data, 4 + n)]);
      };
    }
  });
  if (direct) model.send({ type: "hello", origin: location.origin });
  else root.dataset.ready = "true";
  root.__lcm = { pacer, trace: () => [...trace.values()], stats: () => ({ ...pacer }) };
}
export default { render };
"""


class EchoFloor(anywidget.AnyWidget):  # type: ignore[misc]
    """Echoes every frame's bytes back from the comm handler (see the module docstring)."""

    _esm = _ESM
    jpeg_quality = traitlets.Float(0.85).tag(sync=True)
    transport = traitlets.Unicode("comm", help="'comm' or 'direct'").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.transport not in ("comm", "direct"):
            raise ValueError(f"transport: must be 'comm' or 'direct', got {self.transport!r}")
        self.echoed = 0
        self._endpoint: Endpoint | None = None
        self.on_msg(self._on_comm)

    def _on_comm(self, _widget: Any, content: Any, buffers: Sequence[Any] | None) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "hello" and self.transport == "direct":
            origin = origin_of(content)
            server = DirectServer.get()
            if origin is None or server is None:
                return
            if self._endpoint is None:
                self._endpoint = server.endpoint(self._on_direct)
            self._endpoint.allow_origin(origin)
            self.send({"type": "direct", "url": self._endpoint.url,
                       "token": self._endpoint.token})
        elif content.get("type") == "frame" and buffers:
            t_recv = time.time() * 1000
            self.echoed += 1
            self.send({"type": "echo", "seq": content.get("seq"), "t_recv": t_recv,
                       "t_sent": time.time() * 1000}, [buffers[0]])

    def _on_direct(self, header: dict[str, Any], payload: bytes) -> None:
        # on the library loop
        if header.get("type") != "frame" or self._endpoint is None:
            return
        t_recv = time.time() * 1000
        self.echoed += 1
        self._endpoint.send({"type": "echo", "seq": header.get("seq"), "t_recv": t_recv,
                             "t_sent": time.time() * 1000}, payload)
