// @ts-check
/**
 * Pure helpers of the drawing surface (no DOM): pointer geometry, pen pressure, image fitting and
 * a bounded undo/redo history. canvas.js wires them to a real <canvas>.
 */

/** Undo steps kept (each is one ImageData of the ink layer: 1 MiB at 512²). */
export const MAX_HISTORY = 30;

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
 * A bounded undo/redo history of states. `push` records the state *before* a change; `undo`
 * takes the current state and returns the one to restore; `redo` the reverse. A new push clears
 * the redo side. The oldest undo steps are forgotten beyond `limit`.
 * @template T
 */
export class History {
  /** @param {number} [limit] */
  constructor(limit = MAX_HISTORY) {
    this.limit = Math.max(1, limit);
    /** @type {T[]} */
    this.undoStack = [];
    /** @type {T[]} */
    this.redoStack = [];
  }

  /** @param {T} before the state before the change */
  push(before) {
    this.undoStack.push(before);
    if (this.undoStack.length > this.limit) this.undoStack.shift();
    this.redoStack.length = 0;
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

  clear() {
    this.undoStack.length = 0;
    this.redoStack.length = 0;
  }
}
