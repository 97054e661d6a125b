// @ts-check
/**
 * The drawing surface of one Sketchpad view: pointer input (mouse, pen with pressure, touch),
 * brush and eraser, undo/redo, clear and a background image. Everything stays in the browser;
 * the owner is told through `onChange(t_input, reason)` and rasterizes the visible canvas itself.
 *
 * Layers: a white base, the background image (cover-fitted; the webcam's `live` picture
 * replaces it while the camera is on), then the ink layer. The eraser cuts
 * holes in the ink layer only, so erasing reveals the background. The visible canvas is the
 * composite at frame size (frame_width x frame_height), scaled by CSS.
 */

import {
  closeUnusedBackgrounds, fitRect, paintSegment, segmentBox, snapshotHistory, strokeWidth,
  toCanvasPoint,
} from "./drawing.js";

/**
 * @typedef {CanvasImageSource & {width: number, height: number}} Img
 * @typedef {{ink: ImageData, background: Img|null, mask?: ImageData|null}} Snapshot
 * @typedef {{snapshot(): ImageData|null, restore(s: ImageData|null|undefined): void,
 *   resize(w: number, h: number): void}} MaskHook  the inpainting mask layer (mask.js)
 */

/** Epoch ms of a DOM event (falls back to Date.now()). @param {Event} ev */
export function eventTime(ev) {
  const origin = globalThis.performance?.timeOrigin;
  return origin && ev.timeStamp > 0 ? origin + ev.timeStamp : Date.now();
}

export class SketchCanvas {
  /**
   * @param {HTMLCanvasElement} canvas the visible canvas (its width/height = frame size)
   * @param {{onChange: (tInput: number, reason: string) => void}} opts
   */
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.onChange = opts.onChange;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    this.ink = document.createElement("canvas");
    this.ink.width = canvas.width;
    this.ink.height = canvas.height;
    this.inkCtx = /** @type {CanvasRenderingContext2D} */ (
      this.ink.getContext("2d", { willReadFrequently: true }));
    /** @type {Img|null} */
    this.background = null;
    /** @type {Img|null} a live picture (the webcam, sources.js) shown instead of the
     * background while set; not part of the undo history */
    this.live = null;
    /** @type {"brush"|"eraser"} */
    this.tool = "brush";
    this.size = 8;
    this.color = "#000000";
    /** @type {import("./drawing.js").History<Snapshot>} bounded in bytes; closes the
     * background bitmaps of the steps it drops */
    this.history = snapshotHistory(() => this.background);
    /** @type {number|null} pointer drawing the current stroke */
    this.pointerId = null;
    /** @type {{x: number, y: number, w: number}|null} */
    this.last = null;
    /** @type {MaskHook|null} the mask layer (mask.js): its strokes are undo steps too */
    this.maskLayer = null;
    /** Called after undo/redo availability may have changed. */
    this.onHistory = () => {};
    this.compose();
  }

  /** Listen to pointer events on the visible canvas until `signal` aborts. */
  attach(/** @type {AbortSignal} */ signal) {
    const c = this.canvas;
    c.style.touchAction = "none";
    const o = { signal };
    c.addEventListener("pointerdown", (ev) => this._down(ev), o);
    c.addEventListener("pointermove", (ev) => this._move(ev), o);
    c.addEventListener("pointerup", (ev) => this._up(ev), o);
    c.addEventListener("pointercancel", (ev) => this._up(ev), o);
    c.addEventListener("lostpointercapture", (ev) => this._up(ev), o);
    c.addEventListener("contextmenu", (ev) => ev.preventDefault(), o);
  }

  get drawing() {
    return this.pointerId !== null;
  }

  /** @returns {Snapshot} */
  snapshot() {
    return {
      ink: this.inkCtx.getImageData(0, 0, this.ink.width, this.ink.height),
      background: this.background,
      mask: this.maskLayer?.snapshot() ?? null,
    };
  }

  /** @param {Snapshot} s */
  restore(s) {
    if (s.ink.width !== this.ink.width || s.ink.height !== this.ink.height) {
      const tmp = document.createElement("canvas");
      tmp.width = s.ink.width;
      tmp.height = s.ink.height;
      /** @type {CanvasRenderingContext2D} */ (tmp.getContext("2d")).putImageData(s.ink, 0, 0);
      this.inkCtx.clearRect(0, 0, this.ink.width, this.ink.height);
      this.inkCtx.drawImage(tmp, 0, 0, this.ink.width, this.ink.height);
    } else {
      this.inkCtx.putImageData(s.ink, 0, 0);
    }
    this.background = s.background;
    this.maskLayer?.restore(s.mask);
    this.compose();
  }

  /**
   * Redraw the visible canvas: white, background, ink. With a rect (whole pixels), only that
   * part: the same pixels the whole redraw makes there, for a fraction of the work.
   * @param {{x: number, y: number, width: number, height: number}} [rect]
   */
  compose(rect) {
    const { ctx, canvas } = this;
    if (rect) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(rect.x, rect.y, rect.width, rect.height);
      ctx.clip();
      this.compose();
      ctx.restore();
      return;
    }
    ctx.globalCompositeOperation = "source-over";
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const bg = this.live ?? this.background;
    if (bg) {
      const r = fitRect(bg.width, bg.height, canvas.width, canvas.height, "cover");
      ctx.drawImage(bg, r.x, r.y, r.width, r.height);
    }
    ctx.drawImage(this.ink, 0, 0);
  }

  /** Change the frame size, scaling what is drawn. @param {number} w @param {number} h */
  resize(w, h) {
    if (w === this.canvas.width && h === this.canvas.height) return false;
    const old = document.createElement("canvas");
    old.width = this.ink.width;
    old.height = this.ink.height;
    /** @type {CanvasRenderingContext2D} */ (old.getContext("2d")).drawImage(this.ink, 0, 0);
    this.canvas.width = this.ink.width = w;
    this.canvas.height = this.ink.height = h;
    this.inkCtx.drawImage(old, 0, 0, w, h);
    this.maskLayer?.resize(w, h);
    this.compose();
    return true;
  }

  /** Record the current state for undo (call before a change). */
  checkpoint() {
    this.history.push(this.snapshot());
    this.onHistory();
  }

  undo() {
    const prev = this.history.undo(this.snapshot());
    if (!prev) return false;
    this.restore(prev);
    this.onHistory();
    this.onChange(Date.now(), "undo");
    return true;
  }

  redo() {
    const next = this.history.redo(this.snapshot());
    if (!next) return false;
    this.restore(next);
    this.onHistory();
    this.onChange(Date.now(), "redo");
    return true;
  }

  /** Blank canvas: no ink, no background (undoable). */
  clear(reason = "clear") {
    this.checkpoint();
    this.inkCtx.clearRect(0, 0, this.ink.width, this.ink.height);
    this.background = null;
    this.compose();
    this.onChange(Date.now(), reason);
  }

  /** Show `img` under the ink (undoable). @param {Img} img */
  setBackground(img) {
    this.checkpoint();
    this.background = img;
    this.compose();
    this.onChange(Date.now(), "background");
  }

  /**
   * Replace everything with a flattened image (a frame from another view), without telling the
   * owner: the kernel already has it. Undoable unless `undoable` is false (a view's first sync).
   * @param {Img} img @param {boolean} [undoable]
   */
  load(img, undoable = true) {
    if (undoable) this.checkpoint();
    const old = this.background;
    this.background = null;
    // Not undoable: no step keeps the old background, so close it unless history still has it.
    if (!undoable) closeUnusedBackgrounds([{ background: old }], this.history.items, null);
    this.inkCtx.globalCompositeOperation = "source-over";
    this.inkCtx.clearRect(0, 0, this.ink.width, this.ink.height);
    this.inkCtx.drawImage(img, 0, 0, this.ink.width, this.ink.height);
    this.compose();
  }

  /** @param {PointerEvent} ev @param {DOMRect} [rect] the canvas's box, when known */
  _sample(ev, rect = this.canvas.getBoundingClientRect()) {
    const p = toCanvasPoint(ev, rect, this.canvas.width, this.canvas.height);
    return { ...p, w: strokeWidth(this.size, ev.pointerType, ev.pressure) };
  }

  /** @param {PointerEvent} ev */
  _down(ev) {
    if (this.pointerId !== null || (ev.pointerType === "mouse" && ev.button !== 0)) return;
    ev.preventDefault();
    this.pointerId = ev.pointerId;
    try {
      this.canvas.setPointerCapture(ev.pointerId);
    } catch {
      // synthetic events (tests) have no active pointer to capture
    }
    this.checkpoint();
    const s = this._sample(ev);
    this.last = s;
    this._segment(s, s);
    this.onChange(eventTime(ev), "stroke");
  }

  /** @param {PointerEvent} ev */
  _move(ev) {
    if (ev.pointerId !== this.pointerId || !this.last) return;
    ev.preventDefault();
    const events = typeof ev.getCoalescedEvents === "function" ? ev.getCoalescedEvents() : [];
    const rect = this.canvas.getBoundingClientRect();
    for (const e of events.length ? events : [ev]) {
      const s = this._sample(e, rect);
      this._segment(this.last, s);
      this.last = s;
    }
    this.onChange(eventTime(ev), "stroke");
  }

  /** @param {PointerEvent} ev */
  _up(ev) {
    if (ev.pointerId !== this.pointerId) return;
    this.pointerId = null;
    this.last = null;
  }

  /**
   * Draw one segment of the stroke on the ink layer (a dot when a === b).
   * @param {{x: number, y: number, w: number}} a @param {{x: number, y: number, w: number}} b
   */
  _segment(a, b) {
    paintSegment(this.inkCtx, a, b, this.color, this.tool === "eraser");
    this.compose(segmentBox(a, b, this.canvas.width, this.canvas.height));
  }
}
