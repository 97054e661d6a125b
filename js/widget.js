// @ts-check
/**
 * anywidget entry of the Sketchpad (bundled by esbuild into lcm_widgets/static/widget.js).
 *
 * `initialize` does nothing on purpose: anywidget drops every later kernel→browser message of a
 * model whose ESM import plus `initialize` take more than 2 s, so nothing heavy or remote may run
 * there. Each view (`render`) owns its canvas, its frame pacer and its output canvas; the
 * protocol is in docs/widget-protocol.md.
 *
 * Test hooks (the pacer's counters as `data-*` attributes on the root, and `root.__lcm`) exist
 * only when `globalThis.__LCM_WIDGETS_DEBUG__ === true` at render time (the browser tests set it
 * before the page loads; docs/widget-protocol.md, "Browser test hooks"); `"trace"` gives
 * `root.__lcm` and the frame trace without the `data-*` writes (`lcm-widgets bench-live`).
 */

import { SketchCanvas } from "./canvas.js";
import { decodeBitmap, decodePicture, decoderName, encodeJpeg } from "./codec.js";
import { isHexColor } from "./drawing.js";
import { ResultHistory, renderHistory, thumbnail } from "./history.js";
import { MaskLayer } from "./mask.js";
import { FramePacer } from "./pacing.js";
import { fileName, metadata, withText } from "./png.js";
import * as P from "./protocol.js";
import { activityKind, formatParams, formatStatus } from "./status.js";
import { buildSourceParts, wireSources } from "./sources.js";
import { injectStyle } from "./style.js";
import { wireToolbar } from "./toolbar.js";
import { buildParts, renderStatus } from "./ui.js";

/** A frame whose `took` has not come after this long is forgotten (kernel restart, lost msg). */
const TOOK_TIMEOUT_MS = 5000;
/** Frames whose timestamps the debug trace keeps (a ring; `lcm-widgets bench-live` reads it). */
const TRACE_FRAMES = 1024;
/** A direct channel not ready after this long is given up (the comm stays). */
const DIRECT_TIMEOUT_MS = 3000;
/** Direct-channel connections a view tries before it keeps the comm for good. */
const DIRECT_ATTEMPTS = 3;
/** Paint times kept for the status line's results/s. */
const PAINT_TIMES = 32;
/** A `hello` sent as a probe (the direct channel closed, a `took` never came) that gets no
 * answer in this long means the kernel is not answering. */
const PROBE_TIMEOUT_MS = 5000;
/** While results stream, the status line and the history strip follow them at most this
 * often (ms): rebuilding them for every result at display rate costs the page's main thread
 * (style, layout, paint of the notebook) more than encoding the next frame. */
const LIVE_RENDER_MS = 250;
/** At most one frame out per this many ms: under a 60 Hz display frame (16.7 ms), so steady
 * 60 Hz input is not held back, while a faster source gets at most about 71 frames/s (12 ms let
 * a 120 Hz source send more frames than the page could show: docs/benchmarks.md). */
const MIN_SEND_GAP_MS = 14;

/**
 * @typedef {{get(name: string): any, set(name: string, value: any): void,
 *   save_changes(): void, send(content: any, callbacks?: any, buffers?: any[]): void,
 *   on(name: string, cb: (...args: any[]) => void): void,
 *   off(name: string, cb?: (...args: any[]) => void): void}} Model
 */

/**
 * Decode an encoded image (any ArrayBufferView) to an ImageBitmap.
 * @param {unknown} buf @param {string} [mime]
 */
async function decode(buf, mime) {
  return decodeBitmap(imageBytes(buf), mime || P.FRAME_MIME);
}

/** The bytes of an image buffer from the kernel. @param {unknown} buf */
function imageBytes(buf) {
  const bytes = P.toBytes(buf);
  if (!bytes || bytes.byteLength === 0) throw new Error("no image buffer");
  return bytes;
}

/** Set a node's text only when it differs (a same-text write still costs style and layout).
 * @param {HTMLElement} el @param {string} text */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** The test hooks the page asked for (see the module comment): "full" (`true`), "trace"
 * (`"trace"`: `root.__lcm` and the trace, no `data-*` writes) or null.
 * @returns {"full" | "trace" | null} */
function debugLevel() {
  // globalThis has no declared `__LCM_WIDGETS_DEBUG__`: read it through a narrow cast.
  const flag = /** @type {{__LCM_WIDGETS_DEBUG__?: unknown}} */ (globalThis)
    .__LCM_WIDGETS_DEBUG__;
  return flag === true ? "full" : flag === "trace" ? "trace" : null;
}

/** @param {number} v @param {number} lo @param {number} hi @param {number} d */
function clampInt(v, lo, hi, d) {
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v))) : d;
}

class SketchpadView {
  /**
   * @param {Model} model @param {HTMLElement} el @param {AbortSignal} signal
   * @param {"full" | "trace" | null} debug expose the test hooks: `root.__lcm` and the trace,
   *   and with "full" the `data-*` counters too
   */
  constructor(model, el, signal, debug) {
    this.model = model;
    this.signal = signal;
    this.debug = debug !== null;
    /** mirror the counters into `data-*` on every change (DOM work per frame: not for the
     * bench, which reads `root.__lcm`) */
    this.mirror = debug === "full";
    this.viewId = Math.random().toString(36).slice(2, 10);
    this.pacer = new FramePacer();
    /** seq of the newest frame this canvas is known to match in the kernel */
    this.canvasSeq = 0;
    /** newest seq another view sent (we may be behind it) */
    this.behindSeq = 0;
    this.helloFor = 0;
    /** a send waits in a microtask or a timer */
    this.sendPending = false;
    /** performance.now() of the last frame sent */
    this.lastSendAt = -Infinity;
    /** "comm" or "direct": where frames and acks go now (docs/widget-protocol.md) */
    this.transport = "comm";
    /** why the direct channel is not in use ("" while trying or in use) */
    this.transportNote = "";
    /** @type {WebSocket|null} */
    this.ws = null;
    this.directAttempts = 0;
    /** @type {ReturnType<typeof wireSources>|null} the sources bar (sources.js) */
    this.sources = null;
    /** @type {Map<number, Record<string, any>>} debug only: per-frame timestamps, by seq */
    this.trace = new Map();
    /** @type {number[]} when results were painted (ms), oldest first: the results/s */
    this.paintTimes = [];
    this.results = new ResultHistory();
    /** results received and not yet acked (decoding or painting), and the most at once:
     * the kernel's result window bounds it */
    this.resultsOpen = 0;
    this.maxResultsOpen = 0;
    /** @type {{rid: number, seq: number, params: unknown}|null} the newest painted result,
     * not yet in the history strip */
    this.historyNext = null;
    /** @type {number|null} the history item restored last */
    this.restoredRid = null;
    /** @type {unknown} params of the result on screen (its download's metadata) */
    this.shownParams = null;
    /** when the `activity` trait last changed (its seconds so far) */
    this.activitySince = Date.now();
    /** what the activity is, without its step (js/status.js activityKind) */
    this.activityKind = activityKind(model.get("activity"));
    /** the comm is gone (kernel restarted or shut down): this view is over */
    this.dead = false;
    /** @type {number|null} when a probing `hello` went out that no kernel message answered */
    this.probeAt = null;
    /** a probe went unanswered: the kernel is gone or stuck (undone by its next message) */
    this.silent = false;
    this.paused = this.model.get("paused") === true;
    /** @type {Record<string, number>} when a throttled render last ran (`_throttled`) */
    this.renderedAt = {};
    /** @type {Record<string, ReturnType<typeof setTimeout>|null>} its pending trailing run */
    this.renderTimers = {};
    /** the status line last rendered (skip identical renders) */
    this.statusKey = "";
    /** @type {Record<string, string>} debug only: the data-* counters last written */
    this.statsShown = {};
    this.parts = buildParts(el.ownerDocument);
    const { root, inputCanvas } = this.parts;
    inputCanvas.width = this._int("frame_width", 64, 2048, 512);
    inputCanvas.height = this._int("frame_height", 64, 2048, 512);
    this.parts.outputCanvas.width = inputCanvas.width;
    this.parts.outputCanvas.height = inputCanvas.height;
    this.sketch = new SketchCanvas(inputCanvas, {
      onChange: (t, reason) => this._changed(t, reason),
    });
    this.sketch.onHistory = () => this._historyButtons();
    this.sketch.attach(signal);
    /** the inpainting mask layer (mask.js): its own toolbar toggle, never in the frame */
    this.mask = new MaskLayer({ doc: el.ownerDocument, parts: this.parts, sketch: this.sketch,
      signal, changed: (t, reason) => this._changed(t, reason), reason: P.REASON_MASK });
    if (debug) {
      const pacer = this.pacer;
      const view = this;
      /** @type {HTMLElement & {__lcm?: object}} */ (root).__lcm = {
        viewId: this.viewId,
        pacer,
        sketch: this.sketch,
        mask: this.mask,
        get latencies() { return pacer.latencies.slice(); },
        stats: () => pacer.stats(),
        trace: () => [...this.trace.values()],
        get transport() { return view.transport; },
        get decoder() { return decoderName(); },
        get cameraPictures() { return view.sources?.camera.pictures ?? 0; },
        get cameraOn() { return view.sources?.camera.on ?? false; },
        get cameraDevice() { return view.sources?.camera.deviceId ?? ""; },
        direct: () => ({ transport: view.transport, note: view.transportNote,
          attempts: view.directAttempts, ws: view.ws ? view.ws.readyState : null }),
      };
    }
    el.replaceChildren(root);
    this._wireSources(el.ownerDocument);
    this._wireToolbar();
    this._wireLiveButtons();
    this._wireModel();
    this._applyTool();
    this._applyBrush();
    this._layout();
    this._historyButtons();
    this._applyPaused();
    this._renderStatus();
    this._stats();
    const timer = setInterval(() => {
      const now = Date.now();
      if (this.pacer.expire(now, TOOK_TIMEOUT_MS)) {
        this._probe();
        this._requestSend();
      }
      if (this.probeAt !== null && now - this.probeAt >= PROBE_TIMEOUT_MS) this.silent = true;
      this._renderStatus(); // the busy seconds and the results/s move with time
    }, 1000);
    signal.addEventListener("abort", () => {
      clearInterval(timer);
      for (const t of Object.values(this.renderTimers)) if (t) clearTimeout(t);
      this.ws?.close();
    });
    this._hello();
  }

  /** Say hello and expect an answer (a `sync`) within PROBE_TIMEOUT_MS. */
  _probe() {
    if (this.probeAt !== null || this.dead) return;
    this.probeAt = Date.now();
    this._hello();
  }

  /** Any message from the kernel: it is there. */
  _heard() {
    this.probeAt = null;
    if (this.silent) {
      this.silent = false;
      this._renderStatus();
    }
  }

  /** Say hello on the comm (asks for a sync, and for the direct channel). */
  _hello() {
    const origin = globalThis.location?.origin;
    try {
      this.model.send(P.helloMessage(this.viewId,
        typeof origin === "string" && origin !== "null" ? origin : undefined));
    } catch (err) { // the comm is gone (the kernel restarted): this view is over
      console.warn("[lcm_widgets] could not reach the kernel:", err);
    }
  }

  // ---- transports -------------------------------------------------------------------------

  /**
   * Send a frame-path message (`frame`, `ack`) on the transport in use; `extra` (a frame's
   * mask) is the second buffer on the comm, appended to the payload on the direct channel.
   * @param {Record<string, unknown>} msg @param {ArrayBuffer} [buf] @param {Uint8Array} [extra]
   */
  _send(msg, buf, extra) {
    const ws = this.ws;
    if (this.transport === "direct" && ws && ws.readyState === WebSocket.OPEN) {
      ws.send(P.packDirect(msg, buf && extra ? P.concatBytes(buf, extra) : buf ?? null));
    } else {
      this.model.send(msg, undefined, buf ? (extra ? [buf, extra] : [buf]) : undefined);
    }
  }

  /**
   * Try the kernel's direct channel (`url`, `token` came on the comm); keep the comm if it is
   * not ready within DIRECT_TIMEOUT_MS.
   * @param {string} url @param {string} token
   */
  _connectDirect(url, token) {
    if (this.ws || this.signal.aborted || this.directAttempts >= DIRECT_ATTEMPTS) return;
    this.directAttempts += 1;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this._directLost(`direct channel unusable: ${err}`);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    const timer = setTimeout(() => {
      if (this.ws === ws && this.transport !== "direct") ws.close();
    }, DIRECT_TIMEOUT_MS);
    ws.onopen = () => ws.send(P.packDirect({ type: "auth", token, view: this.viewId }));
    ws.onmessage = (ev) => {
      const m = P.unpackDirect(ev.data);
      if (!m) return;
      if (m.header.type === "ready") {
        clearTimeout(timer);
        this.transport = "direct";
        this.transportNote = "";
        this._renderStatus();
        this._stats();
        return;
      }
      this._onMessage(m.header, [m.payload]);
    };
    ws.onclose = () => {
      clearTimeout(timer);
      if (this.ws !== ws) return;
      const was = this.transport === "direct";
      this.ws = null;
      this._directLost(was ? "direct channel closed" : "direct channel unreachable");
    };
  }

  /** Back to the comm: free the credit of a frame sent on the lost channel, say hello again. */
  _directLost(/** @type {string} */ why) {
    const was = this.transport === "direct";
    this.transport = "comm";
    this.transportNote = why;
    if (was && this.pacer.expire(Date.now(), 0)) this._requestSend();
    // The kernel serves that channel for as long as it runs: ask it whether it is still there.
    if (was && !this.signal.aborted) this._probe();
    this._renderStatus();
    this._stats();
  }

  /** @param {string} name @param {number} lo @param {number} hi @param {number} d */
  _int(name, lo, hi, d) {
    return clampInt(Number(this.model.get(name)), lo, hi, d);
  }

  // ---- frames out -------------------------------------------------------------------------

  /** @param {number} t @param {string} reason */
  _changed(t, reason) {
    this.pacer.markDirty(t, reason);
    this._requestSend();
    if (this.paused) this._renderStale();
    this._stats();
  }

  /**
   * Send a frame when there is credit, at most one every MIN_SEND_GAP_MS. A change that comes
   * later than that after the last send goes at once (in a microtask, once the handler that
   * made it is done); a sooner one waits out the rest of the gap. Waiting for the next
   * animation frame instead cost each frame 8 ms at the median when input comes between
   * frames (a pen, a timer, a credit that returns), and a frame sent in an animation frame
   * then held back the next change until the frame after.
   */
  _requestSend() {
    if (this.sendPending || !this.pacer.canSend() || this.signal.aborted || this.paused ||
        this.dead) return;
    this.sendPending = true;
    const go = () => {
      this.sendPending = false;
      void this._sendFrame();
    };
    const wait = this.lastSendAt + MIN_SEND_GAP_MS - performance.now();
    if (wait <= 0) queueMicrotask(go);
    else setTimeout(go, wait);
  }

  async _sendFrame() {
    if (this.signal.aborted) return;
    const ticket = this.pacer.begin(Date.now());
    if (!ticket) return;
    this.lastSendAt = performance.now();
    const canvas = this.parts.inputCanvas;
    const { width, height } = canvas;
    const quality = Math.min(1, Math.max(0.1, Number(this.model.get("jpeg_quality")) || 0.85));
    const t0 = Date.now();
    try {
      const maskP = this.mask.encoded(); // read now, with the canvas
      const buf = encodeJpeg(canvas, quality);
      const mask = await maskP;
      const t1 = Date.now();
      this._send(P.frameMessage(ticket.seq, {
        width, height, t_input: ticket.t_input, reason: ticket.reason,
        mask: mask && { mime: P.MASK_MIME, width: mask.width, height: mask.height,
          bytes: mask.png.byteLength },
      }), buf, mask?.png);
      this.canvasSeq = ticket.seq;
      this._trace(ticket.seq, { t_input: ticket.t_input, t_begin: t0, t_encoded: t1,
        t_sent: Date.now(), bytes: buf.byteLength, mask_bytes: mask?.png.byteLength ?? 0 });
    } catch (err) {
      console.warn("[lcm_widgets] could not send a frame:", err);
      this.pacer.abort(ticket);
    }
    this._stats();
  }

  /**
   * Debug only: merge timestamps into frame `seq`'s trace record (`onlyKnown`: never create
   * one, e.g. for another view's frame).
   * @param {number} seq @param {Record<string, any>} fields @param {boolean} [onlyKnown]
   */
  _trace(seq, fields, onlyKnown = false) {
    if (!this.debug) return;
    const rec = this.trace.get(seq);
    if (rec) {
      if (!("t_paint" in rec)) Object.assign(rec, fields); // the first painted result only
      return;
    }
    if (onlyKnown) return;
    this.trace.set(seq, { seq, ...fields });
    if (this.trace.size > TRACE_FRAMES) {
      const oldest = this.trace.keys().next().value;
      if (oldest !== undefined) this.trace.delete(oldest);
    }
  }

  // ---- messages in ------------------------------------------------------------------------

  /** @param {any} content @param {unknown[]} buffers */
  _onMessage(content, buffers) {
    if (!P.isKernelMessage(content)) return;
    this._heard();
    const bufs = Array.isArray(buffers) ? buffers : [];
    switch (content.type) {
      case P.MSG_TOOK:
        this._trace(Number(content.seq), { t_took: Date.now(), k_took: content.t }, true);
        if (!this.pacer.took(Number(content.seq))) {
          this.behindSeq = Math.max(this.behindSeq, Number(content.seq) || 0);
        }
        this._requestSend();
        this._stats();
        break;
      case P.MSG_RESULT:
        void this._onResult(content, bufs[0], true);
        break;
      case P.MSG_SYNC:
        void this._onSync(content, bufs);
        break;
      case P.MSG_CLEAR_CANVAS:
        this.sketch.clear(P.REASON_CLEAR);
        break;
      case P.MSG_CLEAR_MASK:
        this.mask.clear();
        break;
      case P.MSG_DIRECT:
        if (content.view === this.viewId && typeof content.url === "string" &&
            typeof content.token === "string") {
          this._connectDirect(content.url, content.token);
        }
        break;
      case P.MSG_LOAD_FRAME:
        void this._onLoadFrame(content, bufs[0]);
        break;
      case P.MSG_SET_BACKGROUND:
        decode(bufs[0], content.mime).then(
          (bmp) => this.sketch.setBackground(bmp),
          (err) => console.warn("[lcm_widgets] could not decode the background:", err));
        break;
    }
  }

  /**
   * Decode and paint a result (newest wins, stale ones dropped), then ack it so the kernel may
   * send the next one. Results replayed by `sync` are not acked.
   * @param {any} meta @param {unknown} buf @param {boolean} ack
   */
  async _onResult(meta, buf, ack) {
    const seq = Number(meta.seq);
    const rid = Number(meta.rid);
    const tRecv = Date.now();
    const token = this.pacer.offerResult(seq);
    if (ack) {
      this.resultsOpen += 1;
      this.maxResultsOpen = Math.max(this.maxResultsOpen, this.resultsOpen);
    }
    const done = (/** @type {boolean} */ dropped) => {
      const tPaint = Date.now();
      if (ack) {
        this.resultsOpen -= 1;
        this._send(P.ackMessage(seq, rid, tPaint, dropped));
      }
      this._stats();
      return tPaint;
    };
    if (token === null) return void done(true);
    /** @type {import("./codec.js").Picture} */
    let bmp;
    try {
      bmp = await decodePicture(imageBytes(buf), meta.mime || P.FRAME_MIME);
    } catch (err) {
      console.warn("[lcm_widgets] could not decode a result:", err);
      return void done(true);
    }
    if (this.signal.aborted || !this.pacer.shouldPaint(token, seq)) {
      bmp.close();
      return void done(true);
    }
    const oc = this.parts.outputCanvas;
    if (oc.width !== bmp.width || oc.height !== bmp.height) {
      oc.width = bmp.width;
      oc.height = bmp.height;
      this._layout();
    }
    const tDecoded = Date.now();
    /** @type {CanvasRenderingContext2D} */ (oc.getContext("2d")).drawImage(bmp.image, 0, 0);
    bmp.close();
    // add() of a class already there still writes the attribute (a mutation, style work)
    if (!this.parts.output.classList.contains("lcm-has-result")) {
      this.parts.output.classList.add("lcm-has-result");
    }
    setText(this.parts.resultParams, formatParams(meta.params));
    this.shownParams = meta.params ?? null;
    this.parts.download.disabled = false;
    // The strip takes the newest result at most every LIVE_RENDER_MS (a trailing run keeps
    // the last one): a thumbnail per result cost each live frame a canvas and a copy.
    this.historyNext = { rid, seq, params: meta.params };
    this._throttled("history", () => this._historyAdd());
    this.sources?.resultPainted();
    const tPaint = done(false);
    this.paintTimes.push(tPaint);
    if (this.paintTimes.length > PAINT_TIMES) this.paintTimes.shift();
    if (ack) {
      this._trace(seq, { rid, t_recv: tRecv, t_decoded: tDecoded, t_paint: tPaint,
        kernel: meta.t_kernel ?? null }, true);
    }
    this.pacer.painted(seq, tPaint);
    this._stats();
    this._throttled("status", () => this._renderStatus());
    this._renderStale();
  }

  /**
   * Run `fn` now if the `key` render last ran LIVE_RENDER_MS ago or more, else once when that
   * much time has passed (one trailing run: it shows the newest state).
   * @param {string} key @param {() => void} fn
   */
  _throttled(key, fn) {
    if (this.renderTimers[key]) return;
    const wait = (this.renderedAt[key] ?? 0) + LIVE_RENDER_MS - Date.now();
    if (wait <= 0) {
      this.renderedAt[key] = Date.now();
      fn();
      return;
    }
    this.renderTimers[key] = setTimeout(() => {
      this.renderTimers[key] = null;
      if (this.signal.aborted) return;
      this.renderedAt[key] = Date.now();
      fn();
    }, wait);
  }

  /**
   * Python fed an image as frame `seq` (`Studio.submit_image`): show it in the canvas (undoable)
   * unless a stroke is under way; nothing is sent back.
   * @param {any} content @param {unknown} buf
   */
  async _onLoadFrame(content, buf) {
    const seq = Number(content.seq) || 0;
    this.pacer.observeSeq(seq);
    let bmp;
    try {
      bmp = await decode(buf, content.mime);
    } catch (err) {
      console.warn("[lcm_widgets] could not decode the submitted image:", err);
      return;
    }
    try {
      if (!this.sketch.drawing && seq > this.canvasSeq) {
        this.sketch.load(bmp, true);
        this.canvasSeq = seq;
        this._historyButtons();
      }
    } finally {
      bmp.close();
    }
  }

  /** @param {any} content @param {unknown[]} bufs */
  async _onSync(content, bufs) {
    this.pacer.observeSeq(Number(content.seq) || 0);
    let i = 0;
    if (content.has_frame) {
      const buf = bufs[i++];
      const fseq = Number(content.frame?.seq ?? content.seq) || 0;
      const free = () => !this.sketch.drawing && !this.pacer.dirty && this.pacer.inFlight === null;
      if (fseq > this.canvasSeq && free()) {
        try {
          const bmp = await decode(buf, content.frame?.mime);
          try {
            if (fseq > this.canvasSeq && free()) {
              this.sketch.load(bmp, this.canvasSeq > 0 || this.sketch.history.canUndo);
              this.canvasSeq = fseq;
            }
          } finally {
            bmp.close(); // load() copied it into the ink layer
          }
        } catch (err) {
          console.warn("[lcm_widgets] could not decode the synced frame:", err);
        }
      }
    }
    if (content.has_result && content.result) {
      await this._onResult(content.result, bufs[i], false);
    }
  }

  // ---- toolbar and traits -----------------------------------------------------------------

  /** The sources bar (webcam, result as canvas; sources.js), under the toolbar. */
  _wireSources(/** @type {Document} */ doc) {
    const sp = buildSourceParts(doc);
    this.parts.toolbar.after(sp.bar);
    this.sources = wireSources({
      parts: sp, signal: this.signal, doc, sketch: this.sketch,
      frameSize: () => [this.parts.inputCanvas.width, this.parts.inputCanvas.height],
      output: this.parts.outputCanvas,
      changed: (t, reason) => this._changed(t, reason),
      reasons: { camera: P.REASON_CAMERA, feedback: P.REASON_FEEDBACK },
    });
  }

  _wireToolbar() {
    wireToolbar({
      model: this.model, signal: this.signal, parts: this.parts, sketch: this.sketch,
      onFile: (f) => this._loadFile(f), onSizeInput: () => this._sizeLabel(),
    });
    this.parts.inputCanvas.addEventListener("pointerenter", () => {
      // Another view drew since our canvas was synced: fetch the newest frame before drawing.
      if (this.behindSeq > this.canvasSeq && this.helloFor < this.behindSeq) {
        this.helloFor = this.behindSeq;
        this._hello();
      }
    }, { signal: this.signal });
  }

  /** The pause and download buttons, and the history strip's clicks. */
  _wireLiveButtons() {
    const o = { signal: this.signal };
    this.parts.pause.addEventListener("click", () => {
      const next = !this.paused;
      this.model.set("paused", next); // its change event applies it too
      this.model.save_changes();
      this.paused = next;
      this._applyPaused();
    }, o);
    this.parts.download.addEventListener("click", () => void this._download(), o);
  }

  /** Show the pause state; on resume, send the newest drawing. */
  _applyPaused() {
    const b = this.parts.pause;
    b.setAttribute("aria-pressed", String(this.paused));
    b.textContent = this.paused ? "▶ Resume" : "‖ Pause";
    this.parts.root.classList.toggle("lcm-paused-on", this.paused);
    if (!this.paused) this._requestSend();
    this._renderStatus();
    this._renderStale();
  }

  /** Download the image on screen as PNG, with the params it was made with as text chunks. */
  async _download() {
    const canvas = this.parts.outputCanvas;
    /** @type {Blob|null} */
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    if (!blob) return;
    const png = withText(new Uint8Array(await blob.arrayBuffer()), metadata(this.shownParams));
    const url = URL.createObjectURL(new Blob([new Uint8Array(png)], { type: "image/png" }));
    const a = canvas.ownerDocument.createElement("a");
    a.href = url;
    a.download = fileName(this.shownParams);
    a.style.display = "none";
    this.parts.root.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  /** Put the newest painted result (the output canvas shows it) into the history strip. */
  _historyAdd() {
    const next = this.historyNext;
    this.historyNext = null;
    if (!next) return;
    const oc = this.parts.outputCanvas;
    // From the canvas, not the decoded picture: an ImageDecoder frame is converted from YUV
    // again on every draw, and the canvas holds it converted (docs/benchmarks.md).
    if (this.results.add(next.rid, next.seq, next.params, thumbnail(oc.ownerDocument, oc,
      oc.width, oc.height))) {
      this._renderHistory();
    }
  }

  _renderHistory() {
    renderHistory(this.parts.history, this.results, (item) => {
      if (this.dead) return;
      this.restoredRid = item.rid;
      this.model.send(P.restoreMessage(item.rid, item.params));
      this._renderHistory();
    }, formatParams, this.restoredRid);
  }

  /** Mark the output stale, with the reason: the kernel's (`stale`), or a paused drawing. */
  _renderStale() {
    const kernel = this.model.get("stale");
    let why = typeof kernel === "string" ? kernel : "";
    if (!why && this.paused && this.pacer.dirty) {
      why = "paused: the drawing changed since this image; Resume renders it";
    }
    setText(this.parts.staleNote, why ? `stale — ${why}` : "");
    this.parts.output.classList.toggle("lcm-stale", why !== "");
  }

  /** The comm is gone (kernel restart or shutdown): say so, and take no more strokes. */
  _disconnected() {
    if (this.dead) return;
    this.dead = true;
    this.parts.root.classList.add("lcm-dead");
    for (const b of [this.parts.pause, this.parts.undo, this.parts.redo, this.parts.clear,
      this.parts.upload]) b.disabled = true;
    this.ws?.close();
    this._renderStatus();
  }

  /** @param {Blob} file */
  _loadFile(file) {
    createImageBitmap(file).then(
      (bmp) => this.sketch.setBackground(bmp),
      (err) => console.warn("[lcm_widgets] could not read that image:", err));
  }

  _wireModel() {
    const m = this.model;
    m.on("msg:custom", (content, buffers) => this._onMessage(content, buffers));
    m.on("change:tool", () => this._applyTool());
    m.on("change:brush_size", () => this._applyBrush());
    m.on("change:brush_color", () => this._applyBrush());
    m.on("change:display_size", () => this._layout());
    m.on("change:show_output", () => this._layout());
    const resize = () => {
      const w = this._int("frame_width", 64, 2048, 512);
      const h = this._int("frame_height", 64, 2048, 512);
      if (this.sketch.resize(w, h)) {
        this._layout();
        this._changed(Date.now(), P.REASON_RESIZE);
      }
    };
    m.on("change:frame_width", resize);
    m.on("change:frame_height", resize);
    for (const name of ["status", "stats", "error"]) m.on(`change:${name}`, () => this._renderStatus());
    m.on("change:activity", () => {
      // A new step of the same activity (a model loading) keeps its seconds counting.
      const kind = activityKind(m.get("activity"));
      if (kind !== this.activityKind) this.activitySince = Date.now();
      this.activityKind = kind;
      this._renderStatus();
    });
    m.on("change:stale", () => this._renderStale());
    m.on("change:paused", () => {
      this.paused = this.model.get("paused") === true;
      this._applyPaused();
    });
    // The widget manager marks every model's comm dead when the kernel restarts, and closes
    // the comm when the kernel shuts it down (ipywidgets' WidgetModel events).
    m.on("comm_live_update", () => this._disconnected());
    m.on("comm:close", () => this._disconnected());
  }

  _applyTool() {
    const eraser = this.model.get("tool") === "eraser";
    this.sketch.tool = eraser ? "eraser" : "brush";
    this.parts.eraser.setAttribute("aria-pressed", String(eraser));
    this.parts.brush.setAttribute("aria-pressed", String(!eraser));
    this.parts.input.classList.toggle("lcm-eraser-on", eraser);
  }

  _applyBrush() {
    const size = this._int("brush_size", 1, 200, 8);
    const color = this.model.get("brush_color");
    this.sketch.size = size;
    this.parts.size.value = String(size);
    if (isHexColor(color)) {
      this.sketch.color = color;
      this.parts.color.value = color.toLowerCase();
    }
    this._sizeLabel();
  }

  _sizeLabel() {
    this.parts.sizeValue.textContent = `${this.parts.size.value} px`;
  }

  _historyButtons() {
    this.parts.undo.disabled = this.dead || !this.sketch.history.canUndo;
    this.parts.redo.disabled = this.dead || !this.sketch.history.canRedo;
  }

  /** Size both panels `display_size` CSS px wide (shrinking to fit a narrow cell side by side);
   * each canvas keeps the aspect of its pixel size. */
  _layout() {
    const p = this.parts;
    const ds = this._int("display_size", 64, 4096, 384);
    /** @type {[HTMLDivElement, HTMLCanvasElement][]} */
    const panels = [[p.input, p.inputCanvas], [p.output, p.outputCanvas]];
    for (const [panel, c] of panels) {
      panel.style.flexBasis = `${ds}px`;
      panel.style.maxWidth = `${ds}px`;
      c.style.aspectRatio = `${c.width} / ${Math.max(1, c.height)}`;
    }
    p.root.classList.toggle("lcm-no-output", this.model.get("show_output") === false);
  }

  _renderStatus() {
    const ps = this.pacer.stats();
    const shown = formatStatus({
      status: this.model.get("status"),
      stats: this.model.get("stats"),
      error: this.model.get("error"),
      latencyP50: ps.p50,
      latencyN: this.pacer.latencies.length,
      transport: this.dead || this.silent ? undefined : this.transport,
      transportNote: this.transportNote,
      activity: this.model.get("activity"),
      activitySince: this.activitySince,
      now: Date.now(),
      paintTimes: this.paintTimes,
      painted: ps.resultsPainted,
      paused: this.paused,
      dead: this.dead,
      silent: this.silent,
    });
    const key = JSON.stringify(shown);
    if (key === this.statusKey) return; // the same line: no DOM work
    this.statusKey = key;
    renderStatus(this.parts.status, shown);
  }

  /** Mirror the pacer's counters into data-* attributes (test hook: only in debug mode). */
  _stats() {
    if (!this.mirror) return;
    const s = this.pacer.stats();
    const d = this.parts.root.dataset;
    /** @type {Record<string, string>} */
    const next = {
      view: this.viewId,
      framesSent: String(s.framesSent),
      framesExpired: String(s.framesExpired),
      resultsPainted: String(s.resultsPainted),
      resultsDropped: String(s.resultsDropped),
      inFlight: String(s.inFlight),
      maxInFlight: String(s.maxInFlight),
      maxResultsOpen: String(this.maxResultsOpen),
      seq: String(s.seq),
      dirty: String(this.pacer.dirty),
      transport: this.transport,
      lastLatencyMs: s.lastLatencyMs === null ? "" : String(Math.round(s.lastLatencyMs)),
      latencyP50: s.p50 === null ? "" : String(Math.round(s.p50)),
      latencyP95: s.p95 === null ? "" : String(Math.round(s.p95)),
    };
    for (const [k, v] of Object.entries(next)) {
      if (this.statsShown[k] !== v) d[k] = v; // only what changed: each write is DOM work
    }
    this.statsShown = next;
  }
}

/** Runs once per model. Must stay tiny (see the module docstring). */
function initialize() {}

/**
 * Runs once per view.
 * @param {{model: Model, el: HTMLElement, signal?: AbortSignal}} ctx
 */
function render({ model, el, signal }) {
  const ctrl = new AbortController();
  signal?.addEventListener("abort", () => ctrl.abort());
  injectStyle(el.ownerDocument);
  new SketchpadView(model, el, ctrl.signal, debugLevel());
  return () => ctrl.abort();
}

export default { initialize, render };
