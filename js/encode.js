// @ts-check
/**
 * JPEG encoding of the frames off the page's main thread.
 *
 * `canvas.toBlob` encodes on the main thread (in Chromium, in its idle time), so while the
 * page is busy with the live loop — strokes, the results being decoded and painted, the
 * notebook's own work — each frame waits for that thread. An {@link OffscreenEncoder} copies
 * the canvas's pixels (`getImageData`, ~1 ms for 512x512) and hands them to one worker of the
 * page, which encodes them with `OffscreenCanvas.convertToBlob` and posts the bytes back.
 * Where a worker or OffscreenCanvas is not available (or the worker fails), frames are
 * encoded with `toBlob` as before (`encodeOnMainThread`).
 */

/** The worker: ImageData in, JPEG bytes out (one OffscreenCanvas, resized as needed). */
const WORKER_SRC = `
let canvas = null, ctx = null;
self.onmessage = async (ev) => {
  const { id, width, height, pixels, mime, quality } = ev.data;
  try {
    if (!canvas || canvas.width !== width || canvas.height !== height) {
      canvas = new OffscreenCanvas(width, height);
      ctx = canvas.getContext("2d");
    }
    ctx.putImageData(new ImageData(new Uint8ClampedArray(pixels), width, height), 0, 0);
    const blob = await canvas.convertToBlob({ type: mime, quality });
    const buf = await blob.arrayBuffer();
    self.postMessage({ id, buf }, [buf]);
  } catch (err) {
    self.postMessage({ id, error: String(err) });
  }
};
`;

/**
 * Encode on the main thread (`canvas.toBlob`).
 * @param {HTMLCanvasElement} canvas @param {string} mime @param {number} quality
 * @returns {Promise<ArrayBuffer>}
 */
export function encodeOnMainThread(canvas, mime, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (blob) blob.arrayBuffer().then(resolve, reject);
      else reject(new Error("canvas.toBlob gave no blob"));
    }, mime, quality);
  });
}

/** @typedef {{resolve: (b: ArrayBuffer) => void, reject: (e: Error) => void}} Pending */

export class OffscreenEncoder {
  constructor() {
    /** @type {Worker|null} */
    this.worker = null;
    /** the worker could not be made or failed: encode on the main thread from now on */
    this.broken = typeof Worker !== "function" || typeof OffscreenCanvas !== "function";
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 0;
    /** frames encoded in the worker / on the main thread (debug figures) */
    this.inWorker = 0;
    this.onMain = 0;
  }

  /** @returns {Worker|null} */
  _worker() {
    if (this.worker || this.broken) return this.worker;
    try {
      const url = URL.createObjectURL(new Blob([WORKER_SRC], { type: "text/javascript" }));
      const w = new Worker(url);
      URL.revokeObjectURL(url);
      w.onmessage = (ev) => {
        const { id, buf, error } = ev.data || {};
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        if (buf instanceof ArrayBuffer) p.resolve(buf);
        else p.reject(new Error(`encoder worker: ${error}`));
      };
      w.onerror = (ev) => {
        ev.preventDefault?.();
        this._fail(new Error(`encoder worker failed: ${ev.message || "error"}`));
      };
      this.worker = w;
    } catch {
      this.broken = true; // e.g. a Content-Security-Policy without blob: workers
    }
    return this.worker;
  }

  /** The worker is unusable: reject what it holds, encode on the main thread from now on.
   * @param {Error} err */
  _fail(err) {
    this.broken = true;
    this.worker?.terminate();
    this.worker = null;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /**
   * The canvas as `mime` bytes, as it is now (its pixels are read before this returns).
   * @param {HTMLCanvasElement} canvas @param {string} mime @param {number} quality
   * @returns {Promise<ArrayBuffer>}
   */
  async encode(canvas, mime, quality) {
    const w = this._worker();
    const ctx = w ? canvas.getContext("2d") : null;
    if (!w || !ctx) {
      this.onMain += 1;
      return encodeOnMainThread(canvas, mime, quality);
    }
    const { width, height } = canvas;
    const pixels = ctx.getImageData(0, 0, width, height).data.buffer;
    const id = ++this.nextId;
    try {
      const buf = await new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        w.postMessage({ id, width, height, pixels, mime, quality }, [pixels]);
      });
      this.inWorker += 1;
      return /** @type {ArrayBuffer} */ (buf);
    } catch (err) {
      if (!this.broken) throw err;
      this.onMain += 1; // the worker died under this frame: the canvas may have moved on,
      return encodeOnMainThread(canvas, mime, quality); // but its newest state is what we want
    }
  }
}

/** @type {OffscreenEncoder|null} the page's one encoder (its views share the worker) */
let shared = null;

/** The page's encoder, made on first use. */
export function pageEncoder() {
  if (!shared) shared = new OffscreenEncoder();
  return shared;
}
