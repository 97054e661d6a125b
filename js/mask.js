// @ts-check
/**
 * The Sketchpad's inpainting mask (docs/studio.md, "The mask brush"): a layer of its own, the
 * frame's size, painted with the toolbar's "mask" toggle on. It is shown translucent red over
 * the drawing and never baked into the frame's pixels; each frame carries it as a separate
 * greyscale PNG (white: repaint, black: keep), which the Studio passes on as `mask_url`.
 *
 * The pure part (no DOM, tested under node): `maskFromAlpha` (the layer's alpha → 0/255
 * bytes), `encodeGrayPng` (an 8-bit single-channel PNG, deflated by the platform's
 * CompressionStream) and `MaskCache` (encode once per change: frames sent while the mask is
 * unchanged reuse the same bytes). `MaskLayer` wires them to the view: the toggle, "clear
 * mask", pointer strokes on the input canvas, and the SketchCanvas undo history (canvas.js
 * snapshots the layer through its `maskLayer` hook, so undo/redo cover mask strokes).
 */

import { crc32 } from "./png.js";
import { paintSegment, strokeWidth, toCanvasPoint } from "./drawing.js";

/** Alpha at or above this counts as painted (antialiased edges and faint eraser leftovers
 * below it count as black, so a mask erased everywhere is empty again). */
export const MASK_THRESHOLD = 128;
/** How the layer is shown over the drawing (its CSS opacity) and the colour it is painted in. */
export const OVERLAY_OPACITY = 0.4;
export const OVERLAY_COLOR = "#ff0000";

/**
 * The mask bytes (one per pixel: 255 painted, 0 not) of an RGBA buffer, from its alpha.
 * `painted` is false when no pixel reaches the threshold (then there is no mask to send).
 * @param {ArrayLike<number>} rgba width*height*4 bytes @param {number} [threshold]
 * @returns {{gray: Uint8Array, painted: boolean}}
 */
export function maskFromAlpha(rgba, threshold = MASK_THRESHOLD) {
  const n = Math.floor(rgba.length / 4);
  const gray = new Uint8Array(n);
  let painted = false;
  for (let i = 0; i < n; i++) {
    if (rgba[i * 4 + 3] >= threshold) {
      gray[i] = 255;
      painted = true;
    }
  }
  return { gray, painted };
}

/**
 * zlib-deflate `bytes` with the platform's CompressionStream (browsers, node 18+).
 * @param {Uint8Array} bytes
 * @returns {Promise<Uint8Array>}
 */
async function deflate(bytes) {
  const stream = new Blob([new Uint8Array(bytes)]).stream()
    .pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * One PNG chunk: length, type, data, CRC over type and data.
 * @param {string} type four ASCII letters @param {Uint8Array} data
 */
function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * An 8-bit greyscale PNG (colour type 0, no filter) of `gray` (width*height bytes, row by
 * row). A mostly black 512x512 mask deflates to a few KB.
 * @param {number} width @param {number} height @param {Uint8Array} gray
 * @returns {Promise<Uint8Array>}
 */
export async function encodeGrayPng(width, height, gray) {
  if (!(width > 0 && height > 0) || gray.length !== width * height) {
    throw new RangeError(`gray: must hold width*height = ${width * height} bytes, got ` +
      `${gray.length}`);
  }
  const raw = new Uint8Array(height * (width + 1)); // each row: filter byte 0, then the pixels
  for (let y = 0; y < height; y++) raw.set(gray.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth; colour type 0 (grey), compression, filter, interlace all 0
  const parts = [chunk("IHDR", ihdr), chunk("IDAT", await deflate(raw)),
    chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(8 + parts.reduce((n, p) => n + p.length, 0));
  out.set([137, 80, 78, 71, 13, 10, 26, 10], 0);
  let at = 8;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * @typedef {{width: number, height: number, png: Uint8Array}} EncodedMask
 * @typedef {{width: number, height: number, rgba: ArrayLike<number>}} MaskPixels
 * @typedef {import("./ui.js").Parts} Parts
 * @typedef {import("./canvas.js").SketchCanvas} SketchCanvas
 */

/**
 * The mask as sent, encoded once per change. `bump()` on every change of the layer; `get`
 * reads the pixels synchronously (the same moment the frame is rasterized), then encodes them
 * unless the version did not move since the last encoding. `encodes` counts the encodings.
 */
export class MaskCache {
  /** @param {(w: number, h: number, gray: Uint8Array) => Promise<Uint8Array>} [encode] */
  constructor(encode = encodeGrayPng) {
    this.encode = encode;
    /** bumped on every change of the layer */
    this.version = 0;
    /** @type {{version: number, mask: EncodedMask|null}|null} the last encoding */
    this.entry = null;
    this.encodes = 0;
  }

  bump() {
    this.version += 1;
  }

  /** True when the mask changed since it was last encoded (or was never encoded). */
  get changed() {
    return this.entry === null || this.entry.version !== this.version;
  }

  /**
   * The encoded mask, or null when nothing is painted. `read()` gives the layer's pixels (null:
   * no layer yet); it is called only when the mask changed.
   * @param {() => MaskPixels|null} read
   * @returns {Promise<EncodedMask|null>}
   */
  async get(read) {
    if (!this.changed && this.entry) return this.entry.mask;
    const version = this.version;
    const px = read();
    const m = px ? maskFromAlpha(px.rgba) : null;
    let mask = null;
    if (px && m && m.painted) {
      this.encodes += 1;
      mask = { width: px.width, height: px.height, png: await this.encode(px.width, px.height, m.gray) };
    }
    // Changed again while encoding: keep the result for this frame, encode anew for the next.
    this.entry = { version, mask };
    return mask;
  }
}

/**
 * The mask layer of one view: toolbar buttons, the overlay, pointer strokes while the toggle
 * is on. The overlay canvas is made on first use (a view never masked has one input canvas).
 */
export class MaskLayer {
  /**
   * @param {{doc: Document, parts: Parts, sketch: SketchCanvas, signal: AbortSignal,
   *   changed: (t: number, reason: string) => void, reason: string}} opts
   *   `changed(t, reason)`: the mask changed (a drawing change: the view sends a frame)
   */
  constructor({ doc, parts, sketch, signal, changed, reason }) {
    this.doc = doc;
    this.parts = parts;
    this.sketch = sketch;
    this.changed = changed;
    this.reason = reason;
    this.cache = new MaskCache();
    /** the toggle: the pointer paints the mask instead of drawing */
    this.on = false;
    /** @type {HTMLCanvasElement|null} the layer itself, shown as the overlay */
    this.layer = null;
    /** @type {number|null} */
    this.pointerId = null;
    /** @type {{x: number, y: number, w: number}|null} */
    this.last = null;
    this.erasing = false;
    this.toggle = this._button("lcm-mask", "◐ Mask",
      "Mask brush: paint where the model may repaint (Alt or the eraser tool: erase mask)");
    this.toggle.setAttribute("aria-pressed", "false");
    this.clearButton = this._button("lcm-mask-clear", "Clear mask",
      "Clear the inpainting mask (the whole image is repainted again)");
    parts.clear.after(this.clearButton);
    parts.clear.after(this.toggle);
    const o = { signal };
    this.toggle.addEventListener("click", () => this.setOn(!this.on), o);
    this.clearButton.addEventListener("click", () => this.clear(), o);
    // Capture phase on the panel: mask strokes never reach the SketchCanvas's listeners.
    const input = parts.input;
    const cap = { signal, capture: true };
    input.addEventListener("pointerdown", (ev) => this._down(ev), cap);
    input.addEventListener("pointermove", (ev) => this._move(ev), cap);
    for (const t of ["pointerup", "pointercancel", "lostpointercapture"]) {
      input.addEventListener(t, (ev) => this._up(/** @type {PointerEvent} */ (ev)), cap);
    }
    sketch.maskLayer = this;
    this._buttons();
  }

  /** @param {string} cls @param {string} label @param {string} title */
  _button(cls, label, title) {
    const b = this.doc.createElement("button");
    b.type = "button";
    b.className = cls;
    b.title = title;
    b.setAttribute("aria-label", title);
    b.textContent = label;
    return b;
  }

  /** Switch the pointer between drawing and painting the mask. @param {boolean} on */
  setOn(on) {
    this.on = on;
    if (on) this._ensureLayer();
    this.toggle.setAttribute("aria-pressed", String(on));
    this.parts.input.classList.toggle("lcm-mask-on", on);
  }

  _ensureLayer() {
    if (this.layer) return this.layer;
    const c = this.doc.createElement("canvas");
    c.className = "lcm-mask-overlay";
    c.setAttribute("aria-hidden", "true");
    c.width = this.sketch.canvas.width;
    c.height = this.sketch.canvas.height;
    Object.assign(c.style, {
      position: "absolute", left: "0", top: "0", width: "100%", height: "100%",
      pointerEvents: "none", opacity: String(OVERLAY_OPACITY),
    });
    this.sketch.canvas.after(c);
    this.layer = c;
    return c;
  }

  /** @returns {CanvasRenderingContext2D} */
  _ctx() {
    return /** @type {CanvasRenderingContext2D} */ (
      this._ensureLayer().getContext("2d", { willReadFrequently: true }));
  }

  _buttons() {
    this.clearButton.disabled = this.layer === null;
  }

  /** A change of the layer: re-encode before the next frame, and send one. */
  _bump(/** @type {number} */ t) {
    this.cache.bump();
    this._buttons();
    this.changed(t, this.reason);
  }

  /** Clear the mask (undoable); the next frame carries none. */
  clear() {
    if (!this.layer) return;
    this.sketch.checkpoint();
    const ctx = this._ctx();
    ctx.clearRect(0, 0, this.layer.width, this.layer.height);
    this._bump(Date.now());
  }

  /**
   * The mask to send with the frame being rasterized now: pixels read at once, encoded only
   * when they changed since the last frame (MaskCache); null when nothing is painted.
   * @returns {Promise<EncodedMask|null>}
   */
  encoded() {
    return this.cache.get(() => {
      const c = this.layer;
      if (!c) return null;
      return { width: c.width, height: c.height,
        rgba: this._ctx().getImageData(0, 0, c.width, c.height).data };
    });
  }

  // ---- the SketchCanvas hooks (canvas.js: snapshot, restore, resize) -------------------

  /** @returns {ImageData|null} the layer for an undo step (null: no layer yet) */
  snapshot() {
    const c = this.layer;
    return c ? this._ctx().getImageData(0, 0, c.width, c.height) : null;
  }

  /** Put an undo step's layer back. @param {ImageData|null|undefined} s */
  restore(s) {
    if (!s && !this.layer) return;
    const c = this._ensureLayer();
    const ctx = this._ctx();
    ctx.clearRect(0, 0, c.width, c.height);
    if (s && s.width === c.width && s.height === c.height) ctx.putImageData(s, 0, 0);
    else if (s) {
      const tmp = this.doc.createElement("canvas");
      tmp.width = s.width;
      tmp.height = s.height;
      /** @type {CanvasRenderingContext2D} */ (tmp.getContext("2d")).putImageData(s, 0, 0);
      ctx.drawImage(tmp, 0, 0, c.width, c.height);
    }
    this.cache.bump(); // the undo/redo frame the SketchCanvas asks for carries it
    this._buttons();
  }

  /** The frame size changed: scale the mask with the drawing. @param {number} w @param {number} h */
  resize(w, h) {
    const c = this.layer;
    if (!c || (c.width === w && c.height === h)) return;
    const old = this.doc.createElement("canvas");
    old.width = c.width;
    old.height = c.height;
    /** @type {CanvasRenderingContext2D} */ (old.getContext("2d")).drawImage(c, 0, 0);
    c.width = w;
    c.height = h;
    this._ctx().drawImage(old, 0, 0, w, h);
    this.cache.bump();
  }

  // ---- pointer strokes ------------------------------------------------------------------

  /** @param {PointerEvent} ev */
  _sample(ev) {
    const canvas = this.sketch.canvas;
    const p = toCanvasPoint(ev, canvas.getBoundingClientRect(), canvas.width, canvas.height);
    return { ...p, w: strokeWidth(this.sketch.size, ev.pointerType, ev.pressure) };
  }

  /** @param {PointerEvent} ev */
  _down(ev) {
    if (!this.on || ev.target !== this.sketch.canvas) return;
    ev.stopPropagation(); // the drawing tools never see a mask stroke
    if (this.pointerId !== null || this.sketch.drawing ||
        (ev.pointerType === "mouse" && ev.button !== 0)) return;
    ev.preventDefault();
    this.pointerId = ev.pointerId;
    this.erasing = ev.altKey || this.sketch.tool === "eraser";
    try {
      this.sketch.canvas.setPointerCapture(ev.pointerId);
    } catch {
      // synthetic events (tests) have no active pointer to capture
    }
    this.sketch.checkpoint();
    const s = this._sample(ev);
    this.last = s;
    this._segment(s, s);
    this._bump(Date.now());
  }

  /** @param {PointerEvent} ev */
  _move(ev) {
    if (!this.on && this.pointerId === null) return;
    if (ev.target === this.sketch.canvas) ev.stopPropagation();
    if (ev.pointerId !== this.pointerId || !this.last) return;
    ev.preventDefault();
    const events = typeof ev.getCoalescedEvents === "function" ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) {
      const s = this._sample(e);
      this._segment(this.last, s);
      this.last = s;
    }
    this._bump(Date.now());
  }

  /** @param {PointerEvent} ev */
  _up(ev) {
    if (ev.pointerId !== this.pointerId) return;
    ev.stopPropagation();
    this.pointerId = null;
    this.last = null;
  }

  /**
   * One segment of a mask stroke (a dot when a === b).
   * @param {{x: number, y: number, w: number}} a @param {{x: number, y: number, w: number}} b
   */
  _segment(a, b) {
    paintSegment(this._ctx(), a, b, OVERLAY_COLOR, this.erasing);
  }
}
