// @ts-check
/**
 * The history strip of one view: thumbnails of the recent results, newest first; a click asks
 * the kernel to use that result's params (and seed) again (a `restore` message; the Studio
 * applies them). Only results that carry params (the Studio's) are kept.
 *
 * `ResultHistory` is the pure part (which entries, bounded); `renderHistory` fills the strip.
 */

/** Most results the strip keeps. */
export const HISTORY_SIZE = 12;

/**
 * @typedef {{rid: number, seq: number, params: Record<string, unknown>,
 *   thumb: HTMLCanvasElement|null}} HistoryItem
 */

export class ResultHistory {
  /** @param {number} [size] */
  constructor(size = HISTORY_SIZE) {
    this.size = size;
    /** @type {HistoryItem[]} newest first */
    this.items = [];
  }

  /**
   * Remember a painted result (once per `rid`); returns false for one without params or one
   * already kept.
   * @param {number} rid @param {number} seq @param {unknown} params
   * @param {HTMLCanvasElement|null} thumb
   */
  add(rid, seq, params, thumb) {
    if (!params || typeof params !== "object" || Array.isArray(params)) return false;
    if (!Number.isFinite(rid) || this.items.some((it) => it.rid === rid)) return false;
    this.items.unshift({ rid, seq, params: /** @type {Record<string, unknown>} */ (params), thumb });
    if (this.items.length > this.size) this.items.length = this.size;
    return true;
  }

  /** @param {number} rid */
  get(rid) {
    return this.items.find((it) => it.rid === rid) ?? null;
  }
}

/**
 * A small copy of `source` (the output canvas, the result just painted), `width`
 * CSS-independent pixels wide.
 * @param {Document} doc @param {CanvasImageSource} source
 * @param {number} srcWidth @param {number} srcHeight the source's size in pixels
 * @param {number} [width]
 */
export function thumbnail(doc, source, srcWidth, srcHeight, width = 56) {
  const c = doc.createElement("canvas");
  c.width = width;
  c.height = Math.max(1, Math.round(width * srcHeight / Math.max(1, srcWidth)));
  const ctx = c.getContext("2d");
  if (ctx) ctx.drawImage(source, 0, 0, c.width, c.height);
  return c;
}

/** The latest `onPick` of each strip: a button made by an earlier render calls it. */
const picks = new WeakMap();

/**
 * Fill the strip with one button per item; `onPick(item)` runs on a click. `current`: the rid
 * marked as restored last. A button already in the strip for an item is kept, and only what
 * changed is inserted, moved or removed: at display rate a rebuilt strip is a dozen nodes
 * made, laid out and painted a few times a second.
 * @param {HTMLElement} strip @param {ResultHistory} history
 * @param {(item: HistoryItem) => void} onPick @param {(params: unknown) => string} caption
 * @param {number|null} current
 */
export function renderHistory(strip, history, onPick, caption, current) {
  const doc = strip.ownerDocument;
  picks.set(strip, onPick);
  /** @type {Map<number, HTMLButtonElement>} the strip holds only its buttons */
  const have = new Map();
  for (const el of Array.from(strip.children)) {
    const button = /** @type {HTMLButtonElement} */ (el);
    have.set(Number(button.dataset.rid), button);
  }
  const nodes = history.items.map((item) => {
    let b = have.get(item.rid);
    if (!b) {
      b = doc.createElement("button");
      b.type = "button";
      b.className = "lcm-history-item";
      b.dataset.rid = String(item.rid);
      const text = caption(item.params);
      b.title = `${text} — click to use these settings again`;
      b.setAttribute("aria-label", `Use the settings of this result again: ${text}`);
      if (item.thumb) b.append(item.thumb);
      b.addEventListener("click", () => picks.get(strip)?.(item));
    }
    if (item.rid === current) {
      if (b.getAttribute("aria-current") !== "true") b.setAttribute("aria-current", "true");
    } else if (b.hasAttribute("aria-current")) {
      b.removeAttribute("aria-current");
    }
    return b;
  });
  nodes.forEach((b, i) => {
    if (strip.children[i] !== b) strip.insertBefore(b, strip.children[i] ?? null);
  });
  while (strip.children.length > nodes.length) strip.lastElementChild?.remove();
  const hidden = nodes.length === 0;
  if (strip.hidden !== hidden) strip.hidden = hidden;
}
