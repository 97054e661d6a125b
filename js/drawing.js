// @ts-check
/**
 * Pure helpers of the drawing surface (no DOM): pointer geometry, pen pressure, image fitting,
 * an undo/redo history bounded in bytes, and the rule for closing background bitmaps the
 * history let go of. canvas.js wires them to a real <canvas>.
 */

/**
 * Bytes of undo/redo snapshots kept (see `snapshotBytes`): 64 steps of ink at 512², 4 at 2048².
 * The newest undo step is kept whatever its size.
 */
export const MAX_HISTORY_BYTES = 64 * 1024 * 1024;

/**
 * @typedef {{width: number, height: number, close?: () => void}} Bitmap  an ImageBitmap, or
 *   any image source with a size (only those with `close` are ever closed)
 * @typedef {{background: Bitmap|null}} WithBackground
 * @typedef {{ink: {data: {byteLength: number}}, mask?: {data: {byteLength: number}}|null}
 *   & WithBackground} SnapshotLike  the parts of a canvas.js Snapshot these helpers read
 */

/**
 * Map a pointer position in CSS pixels (relative to the page) to canvas pixels.
 * @param {{clientX: number, clientY: number}} ev
 * @param {{left: number, top: number, width: number, height: number}} rect  getBoundingClientRect()
 * @param {number} width  canvas.width (frame pixels)
 * @param {number} height canvas.height
 * @returns {{x: number, y: number}}
 */
export function toCanvasPoint(ev, rect, width, height) {
  const sx = rect.width > 0 ? width / rect.width : 1;
  const sy = rect.height > 0 ? height / rect.height : 1;
  return { x: (ev.clientX - rect.left) * sx, y: (ev.clientY - rect.top) * sy };
}

/**
 * Stroke width for one pointer sample. A pen's `pressure` (0..1) scales the width from 20 % to
 * 100 % of the brush size; mouse and touch report a constant 0.5 (or 0/1), so they draw at
 * full size.
 * @param {number} size brush size in canvas pixels
 * @param {string} pointerType "mouse" | "pen" | "touch"
 * @param {number} pressure
 */
export function strokeWidth(size, pointerType, pressure) {
  if (pointerType !== "pen" || !(pressure > 0)) return size;
  const p = Math.min(1, pressure);
  return Math.max(1, size * (0.2 + 0.8 * p));
}

/**
 * Where to draw an image of `iw`x`ih` into a `w`x`h` canvas so that it covers the canvas
 * (`cover`, cropping the overflow) or fits inside it (`contain`, letterboxed), centred.
 * @param {number} iw @param {number} ih @param {number} w @param {number} h
 * @param {"cover"|"contain"} [mode]
 * @returns {{x: number, y: number, width: number, height: number}}
 */
export function fitRect(iw, ih, w, h, mode = "cover") {
  if (!(iw > 0 && ih > 0)) return { x: 0, y: 0, width: w, height: h };
  const scale = mode === "cover" ? Math.max(w / iw, h / ih) : Math.min(w / iw, h / ih);
  const width = iw * scale;
  const height = ih * scale;
  return { x: (w - width) / 2, y: (h - height) / 2, width, height };
}

/**
 * True for a colour in the form `#rrggbb`.
 * @param {unknown} c
 * @returns {c is string}
 */
export function isHexColor(c) {
  return typeof c === "string" && /^#[0-9a-fA-F]{6}$/.test(c);
}

/**
 * What one snapshot costs in the history: its ink layer (`ink.data.byteLength`, i.e.
 * width x height x 4), its mask layer's as much when the view has one (mask.js), plus its background's width x height x 4 when that bitmap differs from
 * the one of the snapshot just before it in time (`prev`), so a background shared by
 * consecutive steps is counted once.
 * @template {SnapshotLike} S
 * @param {S} s @param {S|undefined} prev
 */
export function snapshotBytes(s, prev) {
  const bg = s.background;
  const bgBytes = bg && bg !== prev?.background ? bg.width * bg.height * 4 : 0;
  return s.ink.data.byteLength + (s.mask?.data.byteLength ?? 0) + bgBytes;
}

/**
 * Close the background bitmaps of `dropped` snapshots that no snapshot in `kept` uses and that
 * are not `current` (the background on screen). Only objects with a `close` method (ImageBitmap)
 * are closed, each once. Returns how many were closed.
 * @param {readonly WithBackground[]} dropped @param {Iterable<WithBackground>} kept
 * @param {Bitmap|null} current
 */
export function closeUnusedBackgrounds(dropped, kept, current) {
  /** @type {Set<Bitmap>} */
  const inUse = new Set();
  if (current) inUse.add(current);
  for (const s of kept) if (s.background) inUse.add(s.background);
  let closed = 0;
  for (const { background: bg } of dropped) {
    if (!bg || inUse.has(bg) || typeof bg.close !== "function") continue;
    bg.close();
    inUse.add(bg); // dropped twice: close once
    closed += 1;
  }
  return closed;
}

/**
 * @template T
 * @typedef {{maxBytes?: number, sizeOf: (item: T, prev: T|undefined) => number,
 *   onDrop?: (dropped: T[]) => void}} HistoryOptions
 *   `sizeOf(item, prev)`: bytes of `item`, where `prev` is the state just before it in time
 *   (undefined for the oldest); `onDrop(items)`: called after items left the history for good
 */

/**
 * An undo/redo history of states bounded in bytes. `push` records the state *before* a change;
 * `undo` takes the current state and returns the one to restore; `redo` the reverse. A new push
 * clears the redo side.
 *
 * The budget: the states of both stacks, in time order (undo stack oldest first, then the redo
 * stack nearest first), cost `Σ sizeOf(state, previous state)`. After each push the oldest undo
 * steps are forgotten while that sum exceeds `maxBytes`, but the newest undo step is always
 * kept. Undo and redo only move states between the stacks and drop nothing, so the state they
 * hand back is never one that `onDrop` just saw.
 * @template T
 */
export class History {
  /** @param {HistoryOptions<T>} opts */
  constructor(opts) {
    this.maxBytes = Math.max(0, opts.maxBytes ?? MAX_HISTORY_BYTES);
    this.sizeOf = opts.sizeOf;
    this.onDrop = opts.onDrop ?? (() => {});
    /** @type {T[]} */
    this.undoStack = [];
    /** @type {T[]} */
    this.redoStack = [];
  }

  /** Every state held, in time order: the undo stack oldest first, then the redo stack. */
  get items() {
    return [...this.undoStack, ...[...this.redoStack].reverse()];
  }

  /** Bytes held by both stacks (see the class comment). */
  get bytes() {
    const timeline = this.items;
    let total = 0;
    for (let i = 0; i < timeline.length; i++) total += this.sizeOf(timeline[i], timeline[i - 1]);
    return total;
  }

  /** @param {T} before the state before the change */
  push(before) {
    const dropped = this.redoStack.splice(0);
    this.undoStack.push(before);
    while (this.undoStack.length > 1 && this.bytes > this.maxBytes) {
      dropped.push(/** @type {T} */ (this.undoStack.shift()));
    }
    if (dropped.length) this.onDrop(dropped);
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }

  /**
   * @param {T} current the state now on the canvas
   * @returns {T|undefined} the state to restore, or undefined when there is nothing to undo
   */
  undo(current) {
    const prev = this.undoStack.pop();
    if (prev === undefined) return undefined;
    this.redoStack.push(current);
    return prev;
  }

  /**
   * @param {T} current the state now on the canvas
   * @returns {T|undefined} the state to restore, or undefined when there is nothing to redo
   */
  redo(current) {
    const next = this.redoStack.pop();
    if (next === undefined) return undefined;
    this.undoStack.push(current);
    return next;
  }

  /** Forget every step (`onDrop` gets them all). */
  clear() {
    const dropped = [...this.undoStack.splice(0), ...this.redoStack.splice(0)];
    if (dropped.length) this.onDrop(dropped);
  }
}

/**
 * The history of canvas snapshots: costed by `snapshotBytes` within `maxBytes`; when steps are
 * dropped, their background bitmaps are closed unless a remaining step or `current()` (the
 * background on screen now) still uses them.
 * @template {SnapshotLike} S
 * @param {() => Bitmap|null} current @param {number} [maxBytes]
 * @returns {History<S>}
 */
export function snapshotHistory(current, maxBytes = MAX_HISTORY_BYTES) {
  /** @type {History<S>} */
  const history = new History({
    maxBytes,
    sizeOf: snapshotBytes,
    onDrop: (dropped) => { closeUnusedBackgrounds(dropped, history.items, current()); },
  });
  return history;
}

/**
 * Paint one segment of a stroke on `g` (a round dot when a === b): the ink's and the mask's
 * brushes are the same brush on different layers.
 * @param {CanvasRenderingContext2D} g @param {{x: number, y: number, w: number}} a
 * @param {{x: number, y: number, w: number}} b @param {string} color @param {boolean} erase
 */
export function paintSegment(g, a, b, color, erase) {
  g.globalCompositeOperation = erase ? "destination-out" : "source-over";
  g.strokeStyle = g.fillStyle = color;
  g.lineCap = "round";
  g.lineJoin = "round";
  if (a.x === b.x && a.y === b.y) {
    g.beginPath();
    g.arc(a.x, a.y, a.w / 2, 0, Math.PI * 2);
    g.fill();
    return;
  }
  g.lineWidth = (a.w + b.w) / 2;
  g.beginPath();
  g.moveTo(a.x, a.y);
  g.lineTo(b.x, b.y);
  g.stroke();
}

/**
 * The whole-pixel box a segment from `a` to `b` may touch (its width, round caps and a pixel
 * of antialiasing), clipped to a `width` x `height` canvas.
 * @param {{x: number, y: number, w: number}} a @param {{x: number, y: number, w: number}} b
 * @param {number} width @param {number} height
 */
export function segmentBox(a, b, width, height) {
  const r = Math.max(a.w, b.w) / 2 + 2;
  const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x) - r));
  const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y) - r));
  const x1 = Math.min(width, Math.ceil(Math.max(a.x, b.x) + r));
  const y1 = Math.min(height, Math.ceil(Math.max(a.y, b.y) + r));
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}
