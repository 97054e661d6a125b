// drawing.js
var MAX_HISTORY_BYTES = 64 * 1024 * 1024;
function toCanvasPoint(ev, rect, width, height) {
  const sx = rect.width > 0 ? width / rect.width : 1;
  const sy = rect.height > 0 ? height / rect.height : 1;
  return { x: (ev.clientX - rect.left) * sx, y: (ev.clientY - rect.top) * sy };
}
function strokeWidth(size, pointerType, pressure) {
  if (pointerType !== "pen" || !(pressure > 0)) return size;
  const p = Math.min(1, pressure);
  return Math.max(1, size * (0.2 + 0.8 * p));
}
function fitRect(iw, ih, w, h3, mode = "cover") {
  if (!(iw > 0 && ih > 0)) return { x: 0, y: 0, width: w, height: h3 };
  const scale = mode === "cover" ? Math.max(w / iw, h3 / ih) : Math.min(w / iw, h3 / ih);
  const width = iw * scale;
  const height = ih * scale;
  return { x: (w - width) / 2, y: (h3 - height) / 2, width, height };
}
function isHexColor(c) {
  return typeof c === "string" && /^#[0-9a-fA-F]{6}$/.test(c);
}
function snapshotBytes(s, prev) {
  const bg = s.background;
  const bgBytes = bg && bg !== prev?.background ? bg.width * bg.height * 4 : 0;
  return s.ink.data.byteLength + (s.mask?.data.byteLength ?? 0) + bgBytes;
}
function closeUnusedBackgrounds(dropped, kept, current) {
  const inUse = /* @__PURE__ */ new Set();
  if (current) inUse.add(current);
  for (const s of kept) if (s.background) inUse.add(s.background);
  let closed = 0;
  for (const { background: bg } of dropped) {
    if (!bg || inUse.has(bg) || typeof bg.close !== "function") continue;
    bg.close();
    inUse.add(bg);
    closed += 1;
  }
  return closed;
}
var History = class {
  /** @param {HistoryOptions<T>} opts */
  constructor(opts) {
    this.maxBytes = Math.max(0, opts.maxBytes ?? MAX_HISTORY_BYTES);
    this.sizeOf = opts.sizeOf;
    this.onDrop = opts.onDrop ?? (() => {
    });
    this.undoStack = [];
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
      dropped.push(
        /** @type {T} */
        this.undoStack.shift()
      );
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
    if (prev === void 0) return void 0;
    this.redoStack.push(current);
    return prev;
  }
  /**
   * @param {T} current the state now on the canvas
   * @returns {T|undefined} the state to restore, or undefined when there is nothing to redo
   */
  redo(current) {
    const next = this.redoStack.pop();
    if (next === void 0) return void 0;
    this.undoStack.push(current);
    return next;
  }
  /** Forget every step (`onDrop` gets them all). */
  clear() {
    const dropped = [...this.undoStack.splice(0), ...this.redoStack.splice(0)];
    if (dropped.length) this.onDrop(dropped);
  }
};
function snapshotHistory(current, maxBytes = MAX_HISTORY_BYTES) {
  const history = new History({
    maxBytes,
    sizeOf: snapshotBytes,
    onDrop: (dropped) => {
      closeUnusedBackgrounds(dropped, history.items, current());
    }
  });
  return history;
}
function paintSegment(g, a, b, color, erase) {
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
function segmentBox(a, b, width, height) {
  const r = Math.max(a.w, b.w) / 2 + 2;
  const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x) - r));
  const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y) - r));
  const x1 = Math.min(width, Math.ceil(Math.max(a.x, b.x) + r));
  const y1 = Math.min(height, Math.ceil(Math.max(a.y, b.y) + r));
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}

// canvas.js
function eventTime(ev) {
  const origin = globalThis.performance?.timeOrigin;
  return origin && ev.timeStamp > 0 ? origin + ev.timeStamp : Date.now();
}
var SketchCanvas = class {
  /**
   * @param {HTMLCanvasElement} canvas the visible canvas (its width/height = frame size)
   * @param {{onChange: (tInput: number, reason: string) => void}} opts
   */
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.onChange = opts.onChange;
    this.ctx = /** @type {CanvasRenderingContext2D} */
    canvas.getContext("2d");
    this.ink = document.createElement("canvas");
    this.ink.width = canvas.width;
    this.ink.height = canvas.height;
    this.inkCtx = /** @type {CanvasRenderingContext2D} */
    this.ink.getContext("2d", { willReadFrequently: true });
    this.background = null;
    this.live = null;
    this.tool = "brush";
    this.size = 8;
    this.color = "#000000";
    this.history = snapshotHistory(() => this.background);
    this.pointerId = null;
    this.last = null;
    this.maskLayer = null;
    this.onHistory = () => {
    };
    this.compose();
  }
  /** Listen to pointer events on the visible canvas until `signal` aborts. */
  attach(signal) {
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
      mask: this.maskLayer?.snapshot() ?? null
    };
  }
  /** @param {Snapshot} s */
  restore(s) {
    if (s.ink.width !== this.ink.width || s.ink.height !== this.ink.height) {
      const tmp = document.createElement("canvas");
      tmp.width = s.ink.width;
      tmp.height = s.ink.height;
      tmp.getContext("2d").putImageData(s.ink, 0, 0);
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
  resize(w, h3) {
    if (w === this.canvas.width && h3 === this.canvas.height) return false;
    const old = document.createElement("canvas");
    old.width = this.ink.width;
    old.height = this.ink.height;
    old.getContext("2d").drawImage(this.ink, 0, 0);
    this.canvas.width = this.ink.width = w;
    this.canvas.height = this.ink.height = h3;
    this.inkCtx.drawImage(old, 0, 0, w, h3);
    this.maskLayer?.resize(w, h3);
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
    if (this.pointerId !== null || ev.pointerType === "mouse" && ev.button !== 0) return;
    ev.preventDefault();
    this.pointerId = ev.pointerId;
    try {
      this.canvas.setPointerCapture(ev.pointerId);
    } catch {
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
};

// codec.js
function fromBase64(s) {
  const U = (
    /** @type {{fromBase64?: (s: string) => Uint8Array}} */
    /** @type {unknown} */
    Uint8Array
  );
  if (typeof U.fromBase64 === "function") return U.fromBase64(s);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}
function dataUrlBytes(url, mime) {
  const head = `data:${mime};base64,`;
  if (!url.startsWith(head)) {
    throw new Error(`expected a ${mime} data URL, got ${JSON.stringify(url.slice(0, 32))}`);
  }
  return fromBase64(url.slice(head.length));
}
function encodeJpeg(canvas, quality) {
  const bytes = dataUrlBytes(canvas.toDataURL("image/jpeg", quality), "image/jpeg");
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? (
    /** @type {ArrayBuffer} */
    bytes.buffer
  ) : (
    /** @type {ArrayBuffer} */
    bytes.slice().buffer
  );
}
var decoderWorks = null;
function decoderName() {
  return decoderWorks !== false && typeof globalThis.ImageDecoder === "function" ? "ImageDecoder" : "createImageBitmap";
}
function decodeBitmap(bytes, mime) {
  const part = bytes.buffer instanceof ArrayBuffer ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes.slice();
  return createImageBitmap(new Blob([part], { type: mime }));
}
async function viaBitmap(bytes, mime) {
  const bmp = await decodeBitmap(bytes, mime);
  return { image: bmp, width: bmp.width, height: bmp.height, close: () => bmp.close() };
}
async function decodePicture(bytes, mime) {
  if (decoderName() !== "ImageDecoder") return viaBitmap(bytes, mime);
  try {
    const dec = new ImageDecoder({ data: bytes, type: mime });
    let frame;
    try {
      frame = (await dec.decode()).image;
    } finally {
      dec.close();
    }
    decoderWorks = true;
    return {
      image: frame,
      width: frame.displayWidth,
      height: frame.displayHeight,
      close: () => frame.close()
    };
  } catch (err) {
    if (decoderWorks === true) throw err;
    const pic = await viaBitmap(bytes, mime);
    decoderWorks = false;
    return pic;
  }
}

// history.js
var HISTORY_SIZE = 12;
var ResultHistory = class {
  /** @param {number} [size] */
  constructor(size = HISTORY_SIZE) {
    this.size = size;
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
    this.items.unshift({ rid, seq, params: (
      /** @type {Record<string, unknown>} */
      params
    ), thumb });
    if (this.items.length > this.size) this.items.length = this.size;
    return true;
  }
  /** @param {number} rid */
  get(rid) {
    return this.items.find((it) => it.rid === rid) ?? null;
  }
};
function thumbnail(doc, source, srcWidth, srcHeight, width = 56) {
  const c = doc.createElement("canvas");
  c.width = width;
  c.height = Math.max(1, Math.round(width * srcHeight / Math.max(1, srcWidth)));
  const ctx = c.getContext("2d");
  if (ctx) ctx.drawImage(source, 0, 0, c.width, c.height);
  return c;
}
var picks = /* @__PURE__ */ new WeakMap();
function renderHistory(strip, history, onPick, caption, current) {
  const doc = strip.ownerDocument;
  picks.set(strip, onPick);
  const have = /* @__PURE__ */ new Map();
  for (const el of Array.from(strip.children)) {
    const button2 = (
      /** @type {HTMLButtonElement} */
      el
    );
    have.set(Number(button2.dataset.rid), button2);
  }
  const nodes = history.items.map((item) => {
    let b = have.get(item.rid);
    if (!b) {
      b = doc.createElement("button");
      b.type = "button";
      b.className = "lcm-history-item";
      b.dataset.rid = String(item.rid);
      const text = caption(item.params);
      b.title = `${text} \u2014 click to use these settings again`;
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

// png.js
var SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
var crcTable = null;
function crc32(bytes) {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c2 = n;
      for (let k = 0; k < 8; k++) c2 = c2 & 1 ? 3988292384 ^ c2 >>> 1 : c2 >>> 1;
      crcTable[n] = c2 >>> 0;
    }
  }
  let c = 4294967295;
  for (const b of bytes) c = crcTable[(c ^ b) & 255] ^ c >>> 8;
  return (c ^ 4294967295) >>> 0;
}
function latin1(s) {
  return Uint8Array.from(s, (ch) => {
    const c = ch.charCodeAt(0);
    return c < 256 ? c : 63;
  });
}
function textChunk(key, text) {
  if (!/^[\x20-\x7e]{1,79}$/.test(key)) {
    throw new RangeError(`key: must be 1 to 79 printable ASCII characters, got ${JSON.stringify(key)}`);
  }
  const data = new Uint8Array([...latin1(key), 0, ...latin1(text)]);
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(latin1("tEXt"), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}
function withText(png, entries) {
  if (png.length < 33 || SIGNATURE.some((b, i) => png[i] !== b)) {
    throw new RangeError("png: not a PNG file (no PNG signature)");
  }
  const ihdrEnd = 8 + 12 + new DataView(png.buffer, png.byteOffset).getUint32(8);
  const chunks = entries.map(([k, v]) => textChunk(k, v));
  const size = png.length + chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(size);
  out.set(png.subarray(0, ihdrEnd), 0);
  let at = ihdrEnd;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  out.set(png.subarray(ihdrEnd), at);
  return out;
}
var META = (
  /** @type {const} */
  [
    ["prompt", "prompt"],
    ["negative_prompt", "negative_prompt"],
    ["seed", "seed"],
    ["steps", "num_inference_steps"],
    ["strength", "strength"],
    ["guidance_scale", "guidance_scale"],
    ["model", "model"]
  ]
);
function metadata(params) {
  const out = [];
  if (params && typeof params === "object" && !Array.isArray(params)) {
    const p = (
      /** @type {Record<string, unknown>} */
      params
    );
    for (const [key, field] of META) {
      const v = p[field];
      if (typeof v === "string" || typeof v === "number" && Number.isFinite(v)) {
        out.push([key, String(v)]);
      }
    }
  }
  if (params && typeof params === "object" && /** @type {Record<string, unknown>} */
  params.inpainting === true) {
    out.push(["inpainting", "mask"]);
  }
  out.push(["software", "lcm_widgets"]);
  return out;
}
function fileName(params) {
  const seed = params && typeof params === "object" ? (
    /** @type {Record<string, unknown>} */
    params.seed
  ) : void 0;
  return typeof seed === "number" && Number.isFinite(seed) ? `lcm-seed-${seed}.png` : "lcm-result.png";
}

// mask.js
var MASK_THRESHOLD = 128;
var OVERLAY_OPACITY = 0.4;
var OVERLAY_COLOR = "#ff0000";
function maskFromAlpha(rgba, threshold = MASK_THRESHOLD) {
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
async function deflate(bytes) {
  const stream = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}
async function encodeGrayPng(width, height, gray) {
  if (!(width > 0 && height > 0) || gray.length !== width * height) {
    throw new RangeError(`gray: must hold width*height = ${width * height} bytes, got ${gray.length}`);
  }
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(gray.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8;
  const parts = [
    chunk("IHDR", ihdr),
    chunk("IDAT", await deflate(raw)),
    chunk("IEND", new Uint8Array(0))
  ];
  const out = new Uint8Array(8 + parts.reduce((n, p) => n + p.length, 0));
  out.set([137, 80, 78, 71, 13, 10, 26, 10], 0);
  let at = 8;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
var MaskCache = class {
  /** @param {(w: number, h: number, gray: Uint8Array) => Promise<Uint8Array>} [encode] */
  constructor(encode = encodeGrayPng) {
    this.encode = encode;
    this.version = 0;
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
    this.entry = { version, mask };
    return mask;
  }
};
var MaskLayer = class {
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
    this.on = false;
    this.layer = null;
    this.pointerId = null;
    this.last = null;
    this.erasing = false;
    this.toggle = this._button(
      "lcm-mask",
      "\u25D0 Mask",
      "Mask brush: paint where the model may repaint (Alt or the eraser tool: erase mask)"
    );
    this.toggle.setAttribute("aria-pressed", "false");
    this.clearButton = this._button(
      "lcm-mask-clear",
      "Clear mask",
      "Clear the inpainting mask (the whole image is repainted again)"
    );
    parts.clear.after(this.clearButton);
    parts.clear.after(this.toggle);
    const o = { signal };
    this.toggle.addEventListener("click", () => this.setOn(!this.on), o);
    this.clearButton.addEventListener("click", () => this.clear(), o);
    const input = parts.input;
    const cap = { signal, capture: true };
    input.addEventListener("pointerdown", (ev) => this._down(ev), cap);
    input.addEventListener("pointermove", (ev) => this._move(ev), cap);
    for (const t of ["pointerup", "pointercancel", "lostpointercapture"]) {
      input.addEventListener(t, (ev) => this._up(
        /** @type {PointerEvent} */
        ev
      ), cap);
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
      position: "absolute",
      left: "0",
      top: "0",
      width: "100%",
      height: "100%",
      pointerEvents: "none",
      opacity: String(OVERLAY_OPACITY)
    });
    this.sketch.canvas.after(c);
    this.layer = c;
    return c;
  }
  /** @returns {CanvasRenderingContext2D} */
  _ctx() {
    return (
      /** @type {CanvasRenderingContext2D} */
      this._ensureLayer().getContext("2d", { willReadFrequently: true })
    );
  }
  _buttons() {
    this.clearButton.disabled = this.layer === null;
  }
  /** A change of the layer: re-encode before the next frame, and send one. */
  _bump(t) {
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
      return {
        width: c.width,
        height: c.height,
        rgba: this._ctx().getImageData(0, 0, c.width, c.height).data
      };
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
      tmp.getContext("2d").putImageData(s, 0, 0);
      ctx.drawImage(tmp, 0, 0, c.width, c.height);
    }
    this.cache.bump();
    this._buttons();
  }
  /** The frame size changed: scale the mask with the drawing. @param {number} w @param {number} h */
  resize(w, h3) {
    const c = this.layer;
    if (!c || c.width === w && c.height === h3) return;
    const old = this.doc.createElement("canvas");
    old.width = c.width;
    old.height = c.height;
    old.getContext("2d").drawImage(c, 0, 0);
    c.width = w;
    c.height = h3;
    this._ctx().drawImage(old, 0, 0, w, h3);
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
    ev.stopPropagation();
    if (this.pointerId !== null || this.sketch.drawing || ev.pointerType === "mouse" && ev.button !== 0) return;
    ev.preventDefault();
    this.pointerId = ev.pointerId;
    this.erasing = ev.altKey || this.sketch.tool === "eraser";
    try {
      this.sketch.canvas.setPointerCapture(ev.pointerId);
    } catch {
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
};

// stats.js
function percentile(values, q) {
  if (!(q >= 0 && q <= 100)) throw new RangeError(`q: must be between 0 and 100, got ${q}`);
  if (values.length === 0) return null;
  if (values.some(Number.isNaN)) throw new RangeError("values: must not contain NaN");
  const xs = [...values].sort((a, b) => a - b);
  const pos = (xs.length - 1) * q / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, xs.length - 1);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
}

// pacing.js
var MAX_LATENCIES = 512;
var FramePacer = class {
  constructor() {
    this.inFlight = null;
    this.sentAt = 0;
    this.dirty = false;
    this.tInput = null;
    this.reason = "stroke";
    this.seq = 0;
    this.newestPainted = -1;
    this.pendingInput = /* @__PURE__ */ new Map();
    this.latencies = [];
    this.unanswered = /* @__PURE__ */ new Set();
    this.framesSent = 0;
    this.framesTook = 0;
    this.framesExpired = 0;
    this.resultsPainted = 0;
    this.resultsDropped = 0;
    this.maxInFlight = 0;
    this.lastLatencyMs = null;
    this._offerToken = 0;
    this._pct = null;
    this._recorded = 0;
  }
  /**
   * The canvas changed at time `t` (ms). Keeps the oldest unsent `t_input`.
   * @param {number} t @param {string} [reason]
   */
  markDirty(t, reason = "stroke") {
    if (!this.dirty) {
      this.dirty = true;
      this.tInput = t;
    }
    this.reason = reason;
  }
  /** True when a frame may be sent now (dirty, and no frame in flight). */
  canSend() {
    return this.dirty && this.inFlight === null;
  }
  /**
   * Take the credit: returns the ticket of the frame to rasterize and send, or null when no
   * frame may be sent. The canvas is clean afterwards.
   * @param {number} now
   * @returns {FrameTicket|null}
   */
  begin(now) {
    if (!this.canSend()) return null;
    const seq = ++this.seq;
    const ticket = { seq, t_input: (
      /** @type {number} */
      this.tInput
    ), reason: this.reason };
    this.inFlight = seq;
    this.sentAt = now;
    this.dirty = false;
    this.tInput = null;
    this.reason = "stroke";
    this.pendingInput.set(seq, ticket.t_input);
    this.sent(seq);
    return ticket;
  }
  /**
   * Count frame `seq` as sent and update the `maxInFlight` high-water mark from the counters
   * alone (sent - took - expired), not from the credit slot. `begin()` calls it.
   * @param {number} seq
   */
  sent(seq) {
    this.unanswered.add(seq);
    this.framesSent += 1;
    const outstanding = this.framesSent - this.framesTook - this.framesExpired;
    this.maxInFlight = Math.max(this.maxInFlight, outstanding);
  }
  /**
   * Sending the frame failed (encoding error): give the credit back and keep the change unsent.
   * @param {FrameTicket} ticket
   */
  abort(ticket) {
    if (this.inFlight === ticket.seq) this.inFlight = null;
    this.pendingInput.delete(ticket.seq);
    if (this.unanswered.delete(ticket.seq)) this.framesSent -= 1;
    this.markDirty(ticket.t_input, ticket.reason);
    if (this.tInput !== null && ticket.t_input < this.tInput) this.tInput = ticket.t_input;
  }
  /**
   * The kernel copied frame `seq` (this view's or another view's): the credit returns if it was
   * ours. Returns true when it was ours.
   * @param {number} seq
   */
  took(seq) {
    this.observeSeq(seq);
    if (this.unanswered.delete(seq)) this.framesTook += 1;
    if (this.inFlight !== null && seq === this.inFlight) {
      this.inFlight = null;
      return true;
    }
    return false;
  }
  /**
   * Forget a frame whose `took` never came (kernel restarted, message lost) after `timeoutMs`.
   * Returns true when the credit was taken back.
   * @param {number} now @param {number} timeoutMs
   */
  expire(now, timeoutMs) {
    if (this.inFlight !== null && now - this.sentAt >= timeoutMs) {
      this.unanswered.delete(this.inFlight);
      this.inFlight = null;
      this.framesExpired += 1;
      return true;
    }
    return false;
  }
  /**
   * Raise the seq floor: the next frame gets a seq above `seq`.
   * @param {number} seq
   */
  observeSeq(seq) {
    if (Number.isFinite(seq) && seq > this.seq) this.seq = Math.floor(seq);
  }
  /**
   * A result for frame `seq` arrived. Returns a token to paint it with, or null when it is stale
   * (older than the newest painted result) and must be dropped.
   * @param {number} seq
   * @returns {number|null}
   */
  offerResult(seq) {
    this.observeSeq(seq);
    if (seq < this.newestPainted) {
      this.resultsDropped += 1;
      return null;
    }
    this._offerToken += 1;
    return this._offerToken;
  }
  /**
   * After decoding: paint only if no newer result was offered meanwhile and it is not stale.
   * Counts a drop when it returns false.
   * @param {number} token @param {number} seq
   */
  shouldPaint(token, seq) {
    if (token !== this._offerToken || seq < this.newestPainted) {
      this.resultsDropped += 1;
      return false;
    }
    return true;
  }
  /**
   * The result for frame `seq` is on screen at `tPaint`. Returns the stroke-to-pixels latency in
   * ms when this is the first result painted for a frame this view sent, else null.
   * @param {number} seq @param {number} tPaint
   * @returns {number|null}
   */
  painted(seq, tPaint) {
    this.resultsPainted += 1;
    if (seq > this.newestPainted) this.newestPainted = seq;
    const tInput = this.pendingInput.get(seq);
    for (const s of [...this.pendingInput.keys()]) {
      if (s <= seq) this.pendingInput.delete(s);
    }
    if (tInput === void 0) return null;
    const latency = tPaint - tInput;
    this.lastLatencyMs = latency;
    this.latencies.push(latency);
    this._recorded += 1;
    if (this.latencies.length > MAX_LATENCIES) this.latencies.shift();
    return latency;
  }
  /** @returns {PacerStats} */
  stats() {
    if (this._pct === null || this._pct.n !== this._recorded) {
      this._pct = {
        n: this._recorded,
        p50: percentile(this.latencies, 50),
        p95: percentile(this.latencies, 95)
      };
    }
    return {
      framesSent: this.framesSent,
      framesExpired: this.framesExpired,
      resultsPainted: this.resultsPainted,
      resultsDropped: this.resultsDropped,
      inFlight: this.inFlight === null ? 0 : 1,
      maxInFlight: this.maxInFlight,
      seq: this.seq,
      newestPainted: this.newestPainted,
      lastLatencyMs: this.lastLatencyMs,
      p50: this._pct.p50,
      p95: this._pct.p95
    };
  }
};

// protocol.js
var PROTOCOL_VERSION = 1;
var MSG_HELLO = "hello";
var MSG_FRAME = "frame";
var MSG_ACK = "ack";
var MSG_RESTORE = "restore";
var MSG_TOOK = "took";
var MSG_RESULT = "result";
var MSG_SYNC = "sync";
var MSG_CLEAR_CANVAS = "clear_canvas";
var MSG_SET_BACKGROUND = "set_background";
var MSG_DIRECT = "direct";
var MSG_LOAD_FRAME = "load_frame";
var MSG_CLEAR_MASK = "clear_mask";
var REASON_STROKE = "stroke";
var REASON_UNDO = "undo";
var REASON_REDO = "redo";
var REASON_CLEAR = "clear";
var REASON_BACKGROUND = "background";
var REASON_RESIZE = "resize";
var REASON_CAMERA = "camera";
var REASON_FEEDBACK = "feedback";
var REASON_MASK = "mask";
var FRAME_MIME = "image/jpeg";
var MASK_MIME = "image/png";
var REASONS = Object.freeze([
  REASON_STROKE,
  REASON_UNDO,
  REASON_REDO,
  REASON_CLEAR,
  REASON_BACKGROUND,
  REASON_RESIZE,
  REASON_CAMERA,
  REASON_FEEDBACK,
  REASON_MASK
]);
function frameMessage(seq, f) {
  const msg = {
    type: MSG_FRAME,
    v: PROTOCOL_VERSION,
    seq,
    width: f.width,
    height: f.height,
    mime: f.mime ?? FRAME_MIME,
    t_input: f.t_input,
    reason: f.reason
  };
  if (f.mask) msg.mask = f.mask;
  return msg;
}
function concatBytes(a, b) {
  const x = a instanceof Uint8Array ? a : new Uint8Array(a);
  const y = b instanceof Uint8Array ? b : new Uint8Array(b);
  const out = new Uint8Array(x.byteLength + y.byteLength);
  out.set(x, 0);
  out.set(y, x.byteLength);
  return out;
}
function ackMessage(seq, rid, tPaint, dropped) {
  return { type: MSG_ACK, v: PROTOCOL_VERSION, seq, rid, t_paint: tPaint, dropped };
}
function restoreMessage(rid, params) {
  return { type: MSG_RESTORE, v: PROTOCOL_VERSION, rid, params };
}
function helloMessage(view, origin) {
  return origin === void 0 ? { type: MSG_HELLO, v: PROTOCOL_VERSION, view } : { type: MSG_HELLO, v: PROTOCOL_VERSION, view, origin };
}
function packDirect(header, payload) {
  const h3 = new TextEncoder().encode(JSON.stringify(header));
  const body = payload ? payload instanceof Uint8Array ? payload : new Uint8Array(payload) : new Uint8Array(0);
  const out = new Uint8Array(4 + h3.byteLength + body.byteLength);
  new DataView(out.buffer).setUint32(0, h3.byteLength);
  out.set(h3, 4);
  out.set(body, 4 + h3.byteLength);
  return out;
}
function unpackDirect(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < 4) return null;
  const n = new DataView(buf).getUint32(0);
  if (4 + n > buf.byteLength) return null;
  try {
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
    if (!header || typeof header !== "object" || Array.isArray(header)) return null;
    return { header, payload: new Uint8Array(buf, 4 + n) };
  } catch {
    return null;
  }
}
function toBytes(buf) {
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  return null;
}
function isKernelMessage(content) {
  if (!content || typeof content !== "object") return false;
  const c = (
    /** @type {Record<string, unknown>} */
    content
  );
  return c.v === PROTOCOL_VERSION && typeof c.type === "string" && [
    MSG_TOOK,
    MSG_RESULT,
    MSG_SYNC,
    MSG_CLEAR_CANVAS,
    MSG_SET_BACKGROUND,
    MSG_DIRECT,
    MSG_LOAD_FRAME,
    MSG_CLEAR_MASK
  ].includes(c.type);
}

// status.js
var MAX_STATS = 8;
function formatStat(key, value) {
  const label = key.replace(/_/g, " ");
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    const v = Math.abs(value) < 10 && !Number.isInteger(value) ? value.toFixed(1) : String(Math.round(value));
    return `${label} ${v}`;
  }
  if (typeof value === "string") return value ? `${label} ${value}` : null;
  if (typeof value === "boolean") return `${label} ${value ? "yes" : "no"}`;
  return null;
}
var KERNEL_KEYS = /* @__PURE__ */ new Set(["model_ms", "queue_ms", "deliver_ms", "kernel_ms", "samples"]);
var RATE_WINDOW_MS = 3e4;
function formatDuration(ms) {
  if (ms < 1e3) return `${Math.round(ms)} ms`;
  return ms < 1e4 ? `${(ms / 1e3).toFixed(1)} s` : `${Math.round(ms / 1e3)} s`;
}
function resultRate(times, now, windowMs = RATE_WINDOW_MS) {
  const recent = times.filter((t) => now - t <= windowMs);
  if (recent.length < 2) return null;
  const span = now - recent[0];
  return span > 0 ? (recent.length - 1) * 1e3 / span : null;
}
function formatRate(r) {
  return r < 0.1 ? r.toFixed(2) : r < 10 ? r.toFixed(1) : String(Math.round(r));
}
function activityKind(activity) {
  if (typeof activity !== "string") return "";
  const i = activity.indexOf(": ");
  return i < 0 ? activity : activity.slice(0, i);
}
function activityProgress(activity) {
  if (typeof activity !== "string") return null;
  const m = /\((\d+)\/(\d+)\)$/.exec(activity);
  if (!m) return null;
  const step = Number(m[1]);
  const total = Number(m[2]);
  if (!(total > 0) || step < 1 || step > total) return null;
  return { done: step - 1, total };
}
function kernelPart(st) {
  const num = (k) => typeof st[k] === "number" && Number.isFinite(st[k]) ? (
    /** @type {number} */
    st[k]
  ) : null;
  const model = num("model_ms");
  if (model === null) return null;
  const n = num("samples");
  const lines = [`Medians${n ? ` of the last ${n} results` : ""}, in the kernel:`];
  const stages = (
    /** @type {const} */
    [
      ["queue_ms", "waiting for the model"],
      ["model_ms", "the model making the image"],
      ["deliver_ms", "sending it to the browser"],
      ["kernel_ms", "frame received \u2192 image sent"]
    ]
  );
  for (const [key, label] of stages) {
    const v = num(key);
    if (v !== null) lines.push(`${label}: ${formatDuration(v)}`);
  }
  return { text: `model ${formatDuration(model)} per image`, title: lines.join("\n") };
}
function formatStatus(s) {
  const text = typeof s.status === "string" ? s.status : "";
  const error = typeof s.error === "string" ? s.error : "";
  const now = s.now ?? Date.now();
  let state = { text: "ready", cls: "lcm-ready" };
  if (s.dead) {
    state = {
      text: "kernel disconnected \u2014 run the cell again",
      cls: "lcm-disconnected",
      title: "This view lost its kernel (restarted or shut down); run the cell to get a new one."
    };
  } else if (s.silent) {
    state = {
      text: "kernel not answering \u2014 if it restarted, run the cell again",
      cls: "lcm-disconnected",
      title: "No answer from the kernel for 5 s: it restarted, stopped, or a cell keeps it busy."
    };
  } else if (typeof s.activity === "string" && s.activity) {
    const secs = Math.max(0, (now - (s.activitySince ?? now)) / 1e3);
    state = { text: `${s.activity}\u2026 ${secs.toFixed(1)} s`, cls: "lcm-busy" };
    const progress = activityProgress(s.activity);
    if (progress) {
      state.progress = progress;
      state.title = `${progress.done} of ${progress.total} steps done`;
    }
  } else if (s.paused) {
    state = { text: "paused", cls: "lcm-paused", title: "Live mode is paused: press Resume." };
  }
  const parts = [];
  if (s.painted) parts.push({ text: `${s.painted} result${s.painted === 1 ? "" : "s"} shown` });
  const rate = resultRate(s.paintTimes ?? [], now);
  if (rate !== null) {
    parts.push({
      text: `${formatRate(rate)} results/s`,
      title: `Results painted per second over the last ${RATE_WINDOW_MS / 1e3} s`
    });
  }
  if (s.stats && typeof s.stats === "object" && !Array.isArray(s.stats)) {
    const st = (
      /** @type {Record<string, unknown>} */
      s.stats
    );
    const k = kernelPart(st);
    if (k) parts.push(k);
    let shown = 0;
    for (const [key, v] of Object.entries(st)) {
      if (KERNEL_KEYS.has(key) || shown >= MAX_STATS) continue;
      const f = formatStat(key, v);
      if (f) {
        parts.push({ text: f });
        shown += 1;
      }
    }
  }
  if (typeof s.latencyP50 === "number" && Number.isFinite(s.latencyP50)) {
    parts.push({
      text: `stroke \u2192 image ${formatDuration(s.latencyP50)}`,
      title: `From a stroke to its image on screen (this browser): the median of ${s.latencyN ? `the last ${s.latencyN}` : "recent"} results`
    });
  }
  if (s.transport === "direct") parts.push({ text: "via direct channel" });
  else if (s.transport === "comm") {
    parts.push({ text: s.transportNote ? `via comm (${s.transportNote})` : "via comm" });
  }
  return { state, text, parts, error };
}
var SHOWN_PARAMS = (
  /** @type {const} */
  [
    ["seed", "seed"],
    ["num_inference_steps", "steps"],
    ["strength", "strength"],
    ["guidance_scale", "guidance"]
  ]
);
function formatParams(params) {
  if (!params || typeof params !== "object" || Array.isArray(params)) return "";
  const p = (
    /** @type {Record<string, unknown>} */
    params
  );
  const out = [];
  for (const [key, label] of SHOWN_PARAMS) {
    const v = p[key];
    if (typeof v === "number" && Number.isFinite(v)) out.push(`${label} ${v}`);
  }
  return out.join(" \xB7 ");
}

// sources.js
var SOURCES_STYLE_ID = "lcm-widgets-sources-style";
var SOURCES_CSS = `
.lcm-sketchpad .lcm-sources { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; }
.lcm-sketchpad .lcm-sources button, .lcm-sketchpad .lcm-sources select {
  color: var(--lcm-fg); background: var(--lcm-btn); border: 1px solid var(--lcm-border);
  border-radius: 4px; padding: 2px 8px; min-height: 26px; font: inherit; cursor: pointer;
}
.lcm-sketchpad .lcm-sources button:disabled, .lcm-sketchpad .lcm-sources select:disabled {
  opacity: 0.45; cursor: default;
}
.lcm-sketchpad .lcm-sources button[aria-pressed="true"] {
  border-color: var(--lcm-accent); box-shadow: inset 0 0 0 1px var(--lcm-accent);
}
.lcm-sketchpad .lcm-sources select { max-width: 14em; }
.lcm-sketchpad .lcm-sources label { display: inline-flex; align-items: center; gap: 3px; }
.lcm-sketchpad .lcm-sources .lcm-camera-note { color: var(--lcm-error); }
.lcm-sketchpad .lcm-sources .lcm-camera-note:empty { display: none; }
`;
function h(doc, tag, cls, attrs = {}, text = "") {
  const el = doc.createElement(tag);
  if (cls) el.className = cls;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text) el.textContent = text;
  return el;
}
function buildSourceParts(doc) {
  if (!doc.getElementById(SOURCES_STYLE_ID)) {
    const style = doc.createElement("style");
    style.id = SOURCES_STYLE_ID;
    style.textContent = SOURCES_CSS;
    doc.head.appendChild(style);
  }
  const bar = h(doc, "div", "lcm-sources", { role: "toolbar", "aria-label": "Sources" });
  const camera = h(doc, "button", "lcm-camera", {
    type: "button",
    title: "Draw over your webcam (off until you turn it on)",
    "aria-pressed": "false"
  }, "\u25C9 Camera");
  const device = h(doc, "select", "lcm-camera-device", { "aria-label": "Camera", title: "Camera" });
  device.disabled = true;
  device.append(h(doc, "option", "", { value: "" }, "default camera"));
  const mirrorLabel = h(doc, "label", "lcm-mirror-label", { title: "Mirror the camera" });
  const mirror = h(doc, "input", "lcm-mirror", { type: "checkbox" });
  mirror.checked = true;
  mirrorLabel.append(mirror, doc.createTextNode("mirror"));
  const note = h(doc, "span", "lcm-camera-note", { "aria-live": "polite" });
  const useResult = h(doc, "button", "lcm-use-result", {
    type: "button",
    title: "Make the result shown on the right the canvas (undoable)"
  }, "\u21D0 Use result");
  useResult.disabled = true;
  const loopLabel = h(doc, "label", "lcm-loop-label", {
    title: "Feed every new result back as the canvas"
  });
  const loop = h(doc, "input", "lcm-loop", { type: "checkbox" });
  loopLabel.append(loop, doc.createTextNode("loop"));
  bar.append(camera, device, mirrorLabel, h(doc, "span", "lcm-sep"), useResult, loopLabel, note);
  return { bar, camera, device, mirror, note, useResult, loop };
}
var CameraSource = class {
  /**
   * @param {Document} doc
   * @param {(t: number) => void} onPicture
   */
  constructor(doc, onPicture) {
    this.doc = doc;
    this.onPicture = onPicture;
    this.video = h(doc, "video", "", { playsinline: "", muted: "" });
    this.video.muted = true;
    this.canvas = h(doc, "canvas", "");
    this.stream = null;
    this.mirror = true;
    this.pictures = 0;
    this._loop = 0;
  }
  get on() {
    return this.stream !== null;
  }
  /** The device the picture comes from (its track's settings); "" when off. */
  get deviceId() {
    return this.stream?.getVideoTracks()[0]?.getSettings().deviceId ?? "";
  }
  /**
   * Ask for the camera (`deviceId` or the default one) and start drawing its pictures.
   * @param {string} deviceId @param {number} width @param {number} height
   */
  async start(deviceId, width, height) {
    this.stop();
    const md = globalThis.navigator?.mediaDevices;
    if (!md?.getUserMedia) {
      throw new Error("this page cannot use a camera (it needs https or localhost)");
    }
    const stream = await md.getUserMedia({
      audio: false,
      video: deviceId ? { deviceId: { exact: deviceId } } : {
        width: { ideal: width },
        height: { ideal: height }
      }
    });
    this.stream = stream;
    this.video.srcObject = stream;
    this.canvas.width = width;
    this.canvas.height = height;
    await this.video.play();
    const loop = ++this._loop;
    const tick = () => {
      if (loop !== this._loop || !this.stream) return;
      this._draw();
      this._next(tick);
    };
    this._next(tick);
  }
  /** The camera's video inputs (labels once permission was given). */
  async devices() {
    const md = globalThis.navigator?.mediaDevices;
    if (!md?.enumerateDevices) return [];
    return (await md.enumerateDevices()).filter((d) => d.kind === "videoinput");
  }
  /** Stop every track; the layer is forgotten. */
  stop() {
    this._loop += 1;
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    this.video.srcObject = null;
  }
  /** @param {() => void} cb once per new video frame (or animation frame) */
  _next(cb) {
    const v = (
      /** @type {HTMLVideoElement & {requestVideoFrameCallback?: (cb: () => void) => number}} */
      this.video
    );
    if (typeof v.requestVideoFrameCallback === "function") v.requestVideoFrameCallback(cb);
    else requestAnimationFrame(cb);
  }
  _draw() {
    const { video, canvas } = this;
    if (!(video.videoWidth > 0 && video.videoHeight > 0)) return;
    const ctx = (
      /** @type {CanvasRenderingContext2D} */
      canvas.getContext("2d")
    );
    const r = fitRect(video.videoWidth, video.videoHeight, canvas.width, canvas.height, "cover");
    ctx.save();
    if (this.mirror) {
      ctx.translate(canvas.width, 0);
      ctx.scale(-1, 1);
    }
    ctx.drawImage(video, r.x, r.y, r.width, r.height);
    ctx.restore();
    this.pictures += 1;
    this.onPicture(Date.now());
  }
};
function wireSources({
  parts: p,
  signal,
  doc,
  sketch,
  frameSize,
  output,
  changed,
  reasons
}) {
  const o = { signal };
  const camera = new CameraSource(doc, (t) => {
    const [w, hgt] = frameSize();
    if (camera.canvas.width !== w || camera.canvas.height !== hgt) {
      camera.canvas.width = w;
      camera.canvas.height = hgt;
    }
    sketch.live = camera.canvas;
    sketch.compose();
    changed(t, reasons.camera);
  });
  const show = () => {
    p.camera.setAttribute("aria-pressed", String(camera.on));
    p.camera.textContent = camera.on ? "\u25A0 Camera off" : "\u25C9 Camera";
    p.device.disabled = !camera.on;
  };
  const off = () => {
    const was = camera.on;
    camera.stop();
    sketch.live = null;
    sketch.compose();
    show();
    if (was) changed(Date.now(), reasons.camera);
  };
  const on = async (deviceId) => {
    p.note.textContent = "";
    p.camera.disabled = true;
    try {
      const [w, hgt] = frameSize();
      await camera.start(deviceId, w, hgt);
      const list = await camera.devices();
      const current = camera.deviceId || deviceId;
      p.device.replaceChildren(...list.map((d, i) => {
        const opt = h(doc, "option", "", { value: d.deviceId }, d.label || `camera ${i + 1}`);
        opt.selected = d.deviceId === current;
        return opt;
      }));
    } catch (err) {
      off();
      const e = (
        /** @type {{name?: string, message?: string}} */
        err
      );
      p.note.textContent = e?.name === "NotAllowedError" ? "camera: permission was refused (allow it in the browser's site settings)" : e?.name === "NotFoundError" ? "camera: no camera found" : `camera: ${e?.message || String(err)}`;
    } finally {
      p.camera.disabled = false;
      show();
    }
  };
  camera.mirror = p.mirror.checked;
  p.camera.addEventListener("click", () => {
    if (camera.on) off();
    else void on("");
  }, o);
  p.device.addEventListener("change", () => {
    if (camera.on) void on(p.device.value);
  }, o);
  p.mirror.addEventListener("change", () => {
    camera.mirror = p.mirror.checked;
  }, o);
  signal.addEventListener("abort", () => camera.stop());
  let hasResult = false;
  let feeding = false;
  const feed = async (undoable) => {
    if (!hasResult || feeding || signal.aborted) return;
    feeding = true;
    try {
      const bmp = await createImageBitmap(output);
      try {
        if (camera.on) off();
        sketch.load(bmp, undoable);
      } finally {
        bmp.close();
      }
      changed(Date.now(), reasons.feedback);
    } catch (err) {
      console.warn("[lcm_widgets] could not use the result as the canvas:", err);
    } finally {
      feeding = false;
    }
  };
  p.useResult.addEventListener("click", () => void feed(true), o);
  p.loop.addEventListener("change", () => {
    if (p.loop.checked) void feed(false);
  }, o);
  return {
    camera,
    resultPainted() {
      hasResult = true;
      p.useResult.disabled = false;
      if (p.loop.checked) void feed(false);
    }
  };
}

// style.js
var STYLE_ID = "lcm-widgets-sketchpad-style";
var CSS = `
.lcm-sketchpad {
  --lcm-fg: var(--jp-ui-font-color1, var(--vscode-editor-foreground, #1f2328));
  --lcm-muted: var(--jp-ui-font-color2, #656d76);
  --lcm-bg: var(--jp-layout-color1, transparent);
  --lcm-btn: var(--jp-layout-color2, rgba(127,127,127,0.12));
  --lcm-btn-hover: var(--jp-layout-color3, rgba(127,127,127,0.24));
  --lcm-border: var(--jp-border-color1, rgba(127,127,127,0.45));
  --lcm-accent: var(--jp-brand-color1, #1976d2);
  --lcm-error: var(--jp-error-color1, #d32f2f);
  display: flex; flex-direction: column; gap: 6px; padding: 4px 0;
  color: var(--lcm-fg); font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px); outline: none; max-width: 100%;
}
.lcm-sketchpad .lcm-toolbar {
  display: flex; flex-wrap: wrap; align-items: center; gap: 4px;
}
.lcm-sketchpad .lcm-toolbar button {
  color: var(--lcm-fg); background: var(--lcm-btn); border: 1px solid var(--lcm-border);
  border-radius: 4px; padding: 2px 8px; min-height: 26px; font: inherit; cursor: pointer;
}
.lcm-sketchpad .lcm-toolbar button:hover:not(:disabled) { background: var(--lcm-btn-hover); }
.lcm-sketchpad .lcm-toolbar button:disabled { opacity: 0.45; cursor: default; }
.lcm-sketchpad .lcm-toolbar button[aria-pressed="true"] {
  border-color: var(--lcm-accent); box-shadow: inset 0 0 0 1px var(--lcm-accent);
}
.lcm-sketchpad .lcm-sep { width: 1px; align-self: stretch; background: var(--lcm-border); margin: 0 4px; }
.lcm-sketchpad .lcm-size-label { display: inline-flex; align-items: center; gap: 4px; }
.lcm-sketchpad .lcm-brush-size { width: 96px; accent-color: var(--lcm-accent); }
.lcm-sketchpad .lcm-size-value { min-width: 2.5em; font-variant-numeric: tabular-nums; color: var(--lcm-muted); }
.lcm-sketchpad .lcm-color {
  width: 30px; height: 26px; padding: 0 2px; border: 1px solid var(--lcm-border);
  border-radius: 4px; background: var(--lcm-btn); cursor: pointer;
}
.lcm-sketchpad .lcm-file { display: none; }
.lcm-sketchpad .lcm-panels {
  display: flex; flex-wrap: nowrap; gap: 8px; align-items: flex-start; max-width: 100%;
  overflow-x: auto;
}
.lcm-sketchpad .lcm-input, .lcm-sketchpad .lcm-output {
  position: relative; line-height: 0; border: 1px solid var(--lcm-border); border-radius: 4px;
  overflow: hidden; background: #ffffff; flex: 0 1 auto; min-width: 120px; box-sizing: border-box;
}
.lcm-sketchpad .lcm-input canvas, .lcm-sketchpad .lcm-output canvas {
  display: block; width: 100%; height: auto;
}
.lcm-sketchpad .lcm-input canvas { touch-action: none; cursor: crosshair; }
.lcm-sketchpad .lcm-input.lcm-eraser-on canvas { cursor: cell; }
.lcm-sketchpad .lcm-input.lcm-mask-on canvas { cursor: copy; }
.lcm-sketchpad .lcm-input.lcm-dragover { outline: 2px dashed var(--lcm-accent); outline-offset: -4px; }
.lcm-sketchpad .lcm-output { background: var(--lcm-btn); }
.lcm-sketchpad .lcm-output .lcm-placeholder {
  position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  line-height: 1.4; color: var(--lcm-muted); text-align: center; padding: 8px; pointer-events: none;
}
.lcm-sketchpad .lcm-output.lcm-has-result .lcm-placeholder { display: none; }
.lcm-sketchpad .lcm-output .lcm-result-params {
  position: absolute; left: 0; right: 0; bottom: 0; padding: 2px 6px; line-height: 1.4;
  font-size: 11px; color: #fff; background: rgba(0, 0, 0, 0.45); pointer-events: none;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.lcm-sketchpad .lcm-output .lcm-result-params:empty { display: none; }
.lcm-sketchpad.lcm-no-output .lcm-output, .lcm-sketchpad.lcm-no-output .lcm-download {
  display: none;
}
.lcm-sketchpad .lcm-status {
  display: flex; flex-direction: column; color: var(--lcm-muted); line-height: 1.5em;
  height: 3em; overflow: hidden; font-variant-numeric: tabular-nums;
}
/* The status rows and the history strip take the width the rest gives them and never widen
   the view (width 0, then 100% of it): in a narrow box (a Compare's canvas) their rows end in
   an ellipsis instead of being cut by the box. */
.lcm-sketchpad .lcm-status, .lcm-sketchpad .lcm-history { width: 0; min-width: 100%; }
.lcm-sketchpad .lcm-status-main, .lcm-sketchpad .lcm-status-figures {
  display: block; height: 1.5em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.lcm-sketchpad .lcm-status-main > span, .lcm-sketchpad .lcm-status-figures > span {
  margin-right: 12px;
}
.lcm-sketchpad .lcm-status .lcm-status-text { color: var(--lcm-fg); }
.lcm-sketchpad .lcm-status .lcm-error { color: var(--lcm-error); font-weight: 600; }
.lcm-sketchpad .lcm-state { color: var(--lcm-fg); font-weight: 600; }
.lcm-sketchpad .lcm-state.lcm-busy::before {
  content: ""; display: inline-block; width: 0.7em; height: 0.7em; margin-right: 0.35em;
  border: 2px solid var(--lcm-accent); border-right-color: transparent; border-radius: 50%;
  vertical-align: -0.1em; animation: lcm-spin 0.8s linear infinite;
}
@keyframes lcm-spin { to { transform: rotate(360deg); } }
.lcm-sketchpad .lcm-status .lcm-progress {
  display: inline-block; width: 64px; height: 4px; vertical-align: middle; border-radius: 2px;
  background: var(--lcm-btn-hover); overflow: hidden;
}
.lcm-sketchpad .lcm-status .lcm-progress-fill {
  display: block; height: 100%; background: var(--lcm-accent); transition: width 0.2s;
}
.lcm-sketchpad .lcm-state.lcm-disconnected { color: var(--lcm-error); }
.lcm-sketchpad .lcm-state.lcm-paused { color: var(--lcm-accent); }
.lcm-sketchpad.lcm-dead .lcm-input canvas { pointer-events: none; opacity: 0.5; }
.lcm-sketchpad .lcm-output .lcm-stale-note {
  position: absolute; left: 0; right: 0; top: 0; padding: 4px 6px; line-height: 1.4;
  font-size: 12px; color: #fff; background: rgba(160, 40, 0, 0.8); pointer-events: none;
}
.lcm-sketchpad .lcm-output .lcm-stale-note:empty { display: none; }
.lcm-sketchpad .lcm-output.lcm-stale canvas { opacity: 0.55; filter: grayscale(0.6); }
.lcm-sketchpad .lcm-history {
  display: flex; gap: 4px; overflow-x: auto; max-width: 100%; line-height: 0;
}
.lcm-sketchpad .lcm-history[hidden] { display: none; }
.lcm-sketchpad .lcm-history-item {
  padding: 0; border: 2px solid var(--lcm-border); border-radius: 3px; background: none;
  cursor: pointer; flex: 0 0 auto;
}
.lcm-sketchpad .lcm-history-item[aria-current="true"] { border-color: var(--lcm-accent); }
.lcm-sketchpad .lcm-history-item canvas { display: block; width: 48px; height: auto; }
`;
function injectStyle(doc) {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  doc.head.appendChild(style);
}

// toolbar.js
function wireToolbar({ model, signal, parts: p, sketch, onFile, onSizeInput }) {
  const o = { signal };
  const save = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };
  p.brush.addEventListener("click", () => save("tool", "brush"), o);
  p.eraser.addEventListener(
    "click",
    () => save("tool", model.get("tool") === "eraser" ? "brush" : "eraser"),
    o
  );
  p.size.addEventListener("input", () => {
    sketch.size = Number(p.size.value);
    onSizeInput();
  }, o);
  p.size.addEventListener("change", () => save("brush_size", Number(p.size.value)), o);
  p.color.addEventListener("input", () => {
    sketch.color = p.color.value;
  }, o);
  p.color.addEventListener("change", () => save("brush_color", p.color.value), o);
  p.undo.addEventListener("click", () => sketch.undo(), o);
  p.redo.addEventListener("click", () => sketch.redo(), o);
  p.clear.addEventListener("click", () => sketch.clear(REASON_CLEAR), o);
  p.upload.addEventListener("click", () => p.file.click(), o);
  p.file.addEventListener("change", () => {
    const f = p.file.files?.[0];
    if (f) onFile(f);
    p.file.value = "";
  }, o);
  p.root.addEventListener("pointerdown", () => p.root.focus({ preventScroll: true }), o);
  p.root.addEventListener("paste", (ev) => {
    const item = [...ev.clipboardData?.items ?? []].find((it) => it.type.startsWith("image/"));
    const f = item?.getAsFile();
    if (f) {
      ev.preventDefault();
      onFile(f);
    }
  }, o);
  const over = (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer) ev.dataTransfer.dropEffect = "copy";
    p.input.classList.add("lcm-dragover");
  };
  p.input.addEventListener("dragenter", over, o);
  p.input.addEventListener("dragover", over, o);
  p.input.addEventListener("dragleave", () => p.input.classList.remove("lcm-dragover"), o);
  p.input.addEventListener("drop", (ev) => {
    ev.preventDefault();
    ev.stopPropagation();
    p.input.classList.remove("lcm-dragover");
    const f = [...ev.dataTransfer?.files ?? []].find((x) => x.type.startsWith("image/"));
    if (f) onFile(f);
  }, o);
  p.root.addEventListener("keydown", (ev) => {
    if (!(ev.ctrlKey || ev.metaKey) || ev.altKey) return;
    const k = ev.key.toLowerCase();
    if (k === "z" && !ev.shiftKey) sketch.undo();
    else if (k === "z" && ev.shiftKey || k === "y") sketch.redo();
    else return;
    ev.preventDefault();
    ev.stopPropagation();
  }, o);
}

// ui.js
function h2(doc, tag, cls, attrs = {}, text = "") {
  const el = doc.createElement(tag);
  if (cls) el.className = cls;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text) el.textContent = text;
  return el;
}
function button(doc, cls, label, title) {
  return h2(doc, "button", cls, { type: "button", title, "aria-label": title }, label);
}
function buildParts(doc) {
  const root = h2(doc, "div", "lcm-sketchpad", {
    tabindex: "0",
    // Lumino (JupyterLab) skips its keyboard shortcuts inside this element, so Ctrl+Z undoes
    // a stroke instead of a cell edit.
    "data-lm-suppress-shortcuts": "true"
  });
  const toolbar = h2(doc, "div", "lcm-toolbar", { role: "toolbar" });
  const brush = button(doc, "lcm-brush", "\u270E Brush", "Brush");
  const eraser = button(doc, "lcm-eraser", "\u232B Eraser", "Eraser");
  const sizeLabel = h2(doc, "label", "lcm-size-label", { title: "Brush size" }, "Size");
  const size = h2(doc, "input", "lcm-brush-size", {
    type: "range",
    min: "1",
    max: "200",
    step: "1",
    "aria-label": "Brush size"
  });
  const sizeValue = h2(doc, "span", "lcm-size-value");
  sizeLabel.append(size, sizeValue);
  const color = h2(doc, "input", "lcm-color", {
    type: "color",
    title: "Brush colour",
    "aria-label": "Brush colour"
  });
  const undo = button(doc, "lcm-undo", "\u21B6 Undo", "Undo (Ctrl+Z)");
  const redo = button(doc, "lcm-redo", "\u21B7 Redo", "Redo (Ctrl+Shift+Z)");
  const clear = button(doc, "lcm-clear", "Clear", "Clear the canvas");
  const upload = button(
    doc,
    "lcm-upload",
    "Image\u2026",
    "Background image (or paste one, or drop a file on the canvas)"
  );
  const file = h2(doc, "input", "lcm-file", { type: "file", accept: "image/*", tabindex: "-1" });
  const pause = button(
    doc,
    "lcm-pause",
    "\u2016 Pause",
    "Pause live mode: draw without generating; Resume renders the newest drawing"
  );
  pause.setAttribute("aria-pressed", "false");
  const download = button(
    doc,
    "lcm-download",
    "\u2913 PNG",
    "Download the image shown, as PNG with its prompt, seed, steps and strength"
  );
  download.disabled = true;
  toolbar.append(
    brush,
    eraser,
    sizeLabel,
    color,
    h2(doc, "span", "lcm-sep"),
    undo,
    redo,
    clear,
    h2(doc, "span", "lcm-sep"),
    upload,
    file,
    h2(doc, "span", "lcm-sep"),
    pause,
    download
  );
  const panels = h2(doc, "div", "lcm-panels");
  const input = h2(doc, "div", "lcm-input");
  const inputCanvas = h2(doc, "canvas", "", { "aria-label": "Drawing canvas" });
  input.append(inputCanvas);
  const output = h2(doc, "div", "lcm-output");
  const outputCanvas = h2(doc, "canvas", "", { "aria-label": "Generated image" });
  const placeholder = h2(doc, "div", "lcm-placeholder", {}, "Draw on the left; results appear here.");
  const resultParams = h2(doc, "div", "lcm-result-params", { "aria-label": "Params of the result shown" });
  const staleNote = h2(doc, "div", "lcm-stale-note", { role: "status" });
  output.append(outputCanvas, placeholder, resultParams, staleNote);
  panels.append(input, output);
  const history = h2(doc, "div", "lcm-history", {
    role: "toolbar",
    "aria-label": "Recent results: click one to use its settings again"
  });
  history.hidden = true;
  const status = h2(doc, "div", "lcm-status", { "aria-live": "polite" });
  root.append(toolbar, panels, history, status);
  return {
    root,
    toolbar,
    brush,
    eraser,
    size,
    sizeValue,
    color,
    undo,
    redo,
    clear,
    upload,
    file,
    input,
    inputCanvas,
    output,
    outputCanvas,
    placeholder,
    resultParams,
    pause,
    download,
    staleNote,
    history,
    status
  };
}
var statusRows = /* @__PURE__ */ new WeakMap();
function renderStatus(el, s) {
  const mainKey = JSON.stringify([s.state, s.text, s.error]);
  const [oldMain, oldFigures] = Array.from(el.children);
  if (oldMain && oldFigures && statusRows.get(el) === mainKey && oldFigures.children.length === s.parts.length) {
    s.parts.forEach((p, i) => {
      const span = (
        /** @type {HTMLElement} */
        oldFigures.children[i]
      );
      if (span.textContent !== p.text) span.textContent = p.text;
      const title = p.title ?? "";
      if (span.title !== title) span.title = title;
    });
    const all = s.parts.map((p) => p.text).join(" \xB7 ");
    if (
      /** @type {HTMLElement} */
      oldFigures.title !== all
    ) {
      oldFigures.title = all;
    }
    return;
  }
  statusRows.set(el, mainKey);
  const doc = el.ownerDocument;
  const main = h2(doc, "div", "lcm-status-main");
  const state = h2(doc, "span", `lcm-state ${s.state.cls}`, {}, s.state.text);
  if (s.state.title) state.title = s.state.title;
  main.append(state);
  const pr = s.state.progress;
  if (pr) {
    const pct = Math.round(100 * pr.done / pr.total);
    const bar = h2(doc, "span", "lcm-progress", {
      role: "progressbar",
      "aria-valuemin": "0",
      "aria-valuemax": String(pr.total),
      "aria-valuenow": String(pr.done),
      title: `${pr.done} of ${pr.total} steps done`
    });
    const fill = h2(doc, "span", "lcm-progress-fill");
    fill.style.width = `${pct}%`;
    bar.append(fill);
    main.append(bar);
  }
  if (s.text) main.append(h2(doc, "span", "lcm-status-text", {}, s.text));
  if (s.error) main.append(h2(doc, "span", "lcm-error", { role: "alert" }, s.error));
  main.title = [s.state.text, s.text, s.error].filter(Boolean).join(" \xB7 ");
  const figures = h2(doc, "div", "lcm-status-figures");
  for (const p of s.parts) {
    const span = h2(doc, "span", "lcm-stat", {}, p.text);
    if (p.title) span.title = p.title;
    figures.append(span);
  }
  figures.title = s.parts.map((p) => p.text).join(" \xB7 ");
  el.replaceChildren(main, figures);
}

// widget.js
var TOOK_TIMEOUT_MS = 5e3;
var TRACE_FRAMES = 1024;
var DIRECT_TIMEOUT_MS = 3e3;
var DIRECT_ATTEMPTS = 3;
var PAINT_TIMES = 32;
var PROBE_TIMEOUT_MS = 5e3;
var LIVE_RENDER_MS = 250;
var MIN_SEND_GAP_MS = 14;
async function decode(buf, mime) {
  return decodeBitmap(imageBytes(buf), mime || FRAME_MIME);
}
function imageBytes(buf) {
  const bytes = toBytes(buf);
  if (!bytes || bytes.byteLength === 0) throw new Error("no image buffer");
  return bytes;
}
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
function debugLevel() {
  const flag = (
    /** @type {{__LCM_WIDGETS_DEBUG__?: unknown}} */
    globalThis.__LCM_WIDGETS_DEBUG__
  );
  return flag === true ? "full" : flag === "trace" ? "trace" : null;
}
function clampInt(v, lo, hi, d) {
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, Math.round(v))) : d;
}
var SketchpadView = class {
  /**
   * @param {Model} model @param {HTMLElement} el @param {AbortSignal} signal
   * @param {"full" | "trace" | null} debug expose the test hooks: `root.__lcm` and the trace,
   *   and with "full" the `data-*` counters too
   */
  constructor(model, el, signal, debug) {
    this.model = model;
    this.signal = signal;
    this.debug = debug !== null;
    this.mirror = debug === "full";
    this.viewId = Math.random().toString(36).slice(2, 10);
    this.pacer = new FramePacer();
    this.canvasSeq = 0;
    this.behindSeq = 0;
    this.helloFor = 0;
    this.sendPending = false;
    this.lastSendAt = -Infinity;
    this.transport = "comm";
    this.transportNote = "";
    this.ws = null;
    this.directAttempts = 0;
    this.sources = null;
    this.trace = /* @__PURE__ */ new Map();
    this.paintTimes = [];
    this.results = new ResultHistory();
    this.resultsOpen = 0;
    this.maxResultsOpen = 0;
    this.historyNext = null;
    this.restoredRid = null;
    this.shownParams = null;
    this.activitySince = Date.now();
    this.activityKind = activityKind(model.get("activity"));
    this.dead = false;
    this.probeAt = null;
    this.silent = false;
    this.paused = this.model.get("paused") === true;
    this.renderedAt = {};
    this.renderTimers = {};
    this.statusKey = "";
    this.statsShown = {};
    this.parts = buildParts(el.ownerDocument);
    const { root, inputCanvas } = this.parts;
    inputCanvas.width = this._int("frame_width", 64, 2048, 512);
    inputCanvas.height = this._int("frame_height", 64, 2048, 512);
    this.parts.outputCanvas.width = inputCanvas.width;
    this.parts.outputCanvas.height = inputCanvas.height;
    this.sketch = new SketchCanvas(inputCanvas, {
      onChange: (t, reason) => this._changed(t, reason)
    });
    this.sketch.onHistory = () => this._historyButtons();
    this.sketch.attach(signal);
    this.mask = new MaskLayer({
      doc: el.ownerDocument,
      parts: this.parts,
      sketch: this.sketch,
      signal,
      changed: (t, reason) => this._changed(t, reason),
      reason: REASON_MASK
    });
    if (debug) {
      const pacer = this.pacer;
      const view = this;
      root.__lcm = {
        viewId: this.viewId,
        pacer,
        sketch: this.sketch,
        mask: this.mask,
        get latencies() {
          return pacer.latencies.slice();
        },
        stats: () => pacer.stats(),
        trace: () => [...this.trace.values()],
        get transport() {
          return view.transport;
        },
        get decoder() {
          return decoderName();
        },
        get cameraPictures() {
          return view.sources?.camera.pictures ?? 0;
        },
        get cameraOn() {
          return view.sources?.camera.on ?? false;
        },
        get cameraDevice() {
          return view.sources?.camera.deviceId ?? "";
        },
        direct: () => ({
          transport: view.transport,
          note: view.transportNote,
          attempts: view.directAttempts,
          ws: view.ws ? view.ws.readyState : null
        })
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
      this._renderStatus();
    }, 1e3);
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
      this.model.send(helloMessage(
        this.viewId,
        typeof origin === "string" && origin !== "null" ? origin : void 0
      ));
    } catch (err) {
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
      ws.send(packDirect(msg, buf && extra ? concatBytes(buf, extra) : buf ?? null));
    } else {
      this.model.send(msg, void 0, buf ? extra ? [buf, extra] : [buf] : void 0);
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
    ws.onopen = () => ws.send(packDirect({ type: "auth", token, view: this.viewId }));
    ws.onmessage = (ev) => {
      const m = unpackDirect(ev.data);
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
  _directLost(why) {
    const was = this.transport === "direct";
    this.transport = "comm";
    this.transportNote = why;
    if (was && this.pacer.expire(Date.now(), 0)) this._requestSend();
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
    if (this.sendPending || !this.pacer.canSend() || this.signal.aborted || this.paused || this.dead) return;
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
      const maskP = this.mask.encoded();
      const buf = encodeJpeg(canvas, quality);
      const mask = await maskP;
      const t1 = Date.now();
      this._send(frameMessage(ticket.seq, {
        width,
        height,
        t_input: ticket.t_input,
        reason: ticket.reason,
        mask: mask && {
          mime: MASK_MIME,
          width: mask.width,
          height: mask.height,
          bytes: mask.png.byteLength
        }
      }), buf, mask?.png);
      this.canvasSeq = ticket.seq;
      this._trace(ticket.seq, {
        t_input: ticket.t_input,
        t_begin: t0,
        t_encoded: t1,
        t_sent: Date.now(),
        bytes: buf.byteLength,
        mask_bytes: mask?.png.byteLength ?? 0
      });
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
      if (!("t_paint" in rec)) Object.assign(rec, fields);
      return;
    }
    if (onlyKnown) return;
    this.trace.set(seq, { seq, ...fields });
    if (this.trace.size > TRACE_FRAMES) {
      const oldest = this.trace.keys().next().value;
      if (oldest !== void 0) this.trace.delete(oldest);
    }
  }
  // ---- messages in ------------------------------------------------------------------------
  /** @param {any} content @param {unknown[]} buffers */
  _onMessage(content, buffers) {
    if (!isKernelMessage(content)) return;
    this._heard();
    const bufs = Array.isArray(buffers) ? buffers : [];
    switch (content.type) {
      case MSG_TOOK:
        this._trace(Number(content.seq), { t_took: Date.now(), k_took: content.t }, true);
        if (!this.pacer.took(Number(content.seq))) {
          this.behindSeq = Math.max(this.behindSeq, Number(content.seq) || 0);
        }
        this._requestSend();
        this._stats();
        break;
      case MSG_RESULT:
        void this._onResult(content, bufs[0], true);
        break;
      case MSG_SYNC:
        void this._onSync(content, bufs);
        break;
      case MSG_CLEAR_CANVAS:
        this.sketch.clear(REASON_CLEAR);
        break;
      case MSG_CLEAR_MASK:
        this.mask.clear();
        break;
      case MSG_DIRECT:
        if (content.view === this.viewId && typeof content.url === "string" && typeof content.token === "string") {
          this._connectDirect(content.url, content.token);
        }
        break;
      case MSG_LOAD_FRAME:
        void this._onLoadFrame(content, bufs[0]);
        break;
      case MSG_SET_BACKGROUND:
        decode(bufs[0], content.mime).then(
          (bmp) => this.sketch.setBackground(bmp),
          (err) => console.warn("[lcm_widgets] could not decode the background:", err)
        );
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
    const done = (dropped) => {
      const tPaint2 = Date.now();
      if (ack) {
        this.resultsOpen -= 1;
        this._send(ackMessage(seq, rid, tPaint2, dropped));
      }
      this._stats();
      return tPaint2;
    };
    if (token === null) return void done(true);
    let bmp;
    try {
      bmp = await decodePicture(imageBytes(buf), meta.mime || FRAME_MIME);
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
    oc.getContext("2d").drawImage(bmp.image, 0, 0);
    bmp.close();
    if (!this.parts.output.classList.contains("lcm-has-result")) {
      this.parts.output.classList.add("lcm-has-result");
    }
    setText(this.parts.resultParams, formatParams(meta.params));
    this.shownParams = meta.params ?? null;
    this.parts.download.disabled = false;
    this.historyNext = { rid, seq, params: meta.params };
    this._throttled("history", () => this._historyAdd());
    this.sources?.resultPainted();
    const tPaint = done(false);
    this.paintTimes.push(tPaint);
    if (this.paintTimes.length > PAINT_TIMES) this.paintTimes.shift();
    if (ack) {
      this._trace(seq, {
        rid,
        t_recv: tRecv,
        t_decoded: tDecoded,
        t_paint: tPaint,
        kernel: meta.t_kernel ?? null
      }, true);
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
            bmp.close();
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
  _wireSources(doc) {
    const sp = buildSourceParts(doc);
    this.parts.toolbar.after(sp.bar);
    this.sources = wireSources({
      parts: sp,
      signal: this.signal,
      doc,
      sketch: this.sketch,
      frameSize: () => [this.parts.inputCanvas.width, this.parts.inputCanvas.height],
      output: this.parts.outputCanvas,
      changed: (t, reason) => this._changed(t, reason),
      reasons: { camera: REASON_CAMERA, feedback: REASON_FEEDBACK }
    });
  }
  _wireToolbar() {
    wireToolbar({
      model: this.model,
      signal: this.signal,
      parts: this.parts,
      sketch: this.sketch,
      onFile: (f) => this._loadFile(f),
      onSizeInput: () => this._sizeLabel()
    });
    this.parts.inputCanvas.addEventListener("pointerenter", () => {
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
      this.model.set("paused", next);
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
    b.textContent = this.paused ? "\u25B6 Resume" : "\u2016 Pause";
    this.parts.root.classList.toggle("lcm-paused-on", this.paused);
    if (!this.paused) this._requestSend();
    this._renderStatus();
    this._renderStale();
  }
  /** Download the image on screen as PNG, with the params it was made with as text chunks. */
  async _download() {
    const canvas = this.parts.outputCanvas;
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
    setTimeout(() => URL.revokeObjectURL(url), 6e4);
  }
  /** Put the newest painted result (the output canvas shows it) into the history strip. */
  _historyAdd() {
    const next = this.historyNext;
    this.historyNext = null;
    if (!next) return;
    const oc = this.parts.outputCanvas;
    if (this.results.add(next.rid, next.seq, next.params, thumbnail(
      oc.ownerDocument,
      oc,
      oc.width,
      oc.height
    ))) {
      this._renderHistory();
    }
  }
  _renderHistory() {
    renderHistory(this.parts.history, this.results, (item) => {
      if (this.dead) return;
      this.restoredRid = item.rid;
      this.model.send(restoreMessage(item.rid, item.params));
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
    setText(this.parts.staleNote, why ? `stale \u2014 ${why}` : "");
    this.parts.output.classList.toggle("lcm-stale", why !== "");
  }
  /** The comm is gone (kernel restart or shutdown): say so, and take no more strokes. */
  _disconnected() {
    if (this.dead) return;
    this.dead = true;
    this.parts.root.classList.add("lcm-dead");
    for (const b of [
      this.parts.pause,
      this.parts.undo,
      this.parts.redo,
      this.parts.clear,
      this.parts.upload
    ]) b.disabled = true;
    this.ws?.close();
    this._renderStatus();
  }
  /** @param {Blob} file */
  _loadFile(file) {
    createImageBitmap(file).then(
      (bmp) => this.sketch.setBackground(bmp),
      (err) => console.warn("[lcm_widgets] could not read that image:", err)
    );
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
      const h3 = this._int("frame_height", 64, 2048, 512);
      if (this.sketch.resize(w, h3)) {
        this._layout();
        this._changed(Date.now(), REASON_RESIZE);
      }
    };
    m.on("change:frame_width", resize);
    m.on("change:frame_height", resize);
    for (const name of ["status", "stats", "error"]) m.on(`change:${name}`, () => this._renderStatus());
    m.on("change:activity", () => {
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
      transport: this.dead || this.silent ? void 0 : this.transport,
      transportNote: this.transportNote,
      activity: this.model.get("activity"),
      activitySince: this.activitySince,
      now: Date.now(),
      paintTimes: this.paintTimes,
      painted: ps.resultsPainted,
      paused: this.paused,
      dead: this.dead,
      silent: this.silent
    });
    const key = JSON.stringify(shown);
    if (key === this.statusKey) return;
    this.statusKey = key;
    renderStatus(this.parts.status, shown);
  }
  /** Mirror the pacer's counters into data-* attributes (test hook: only in debug mode). */
  _stats() {
    if (!this.mirror) return;
    const s = this.pacer.stats();
    const d = this.parts.root.dataset;
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
      latencyP95: s.p95 === null ? "" : String(Math.round(s.p95))
    };
    for (const [k, v] of Object.entries(next)) {
      if (this.statsShown[k] !== v) d[k] = v;
    }
    this.statsShown = next;
  }
};
function initialize() {
}
function render({ model, el, signal }) {
  const ctrl = new AbortController();
  signal?.addEventListener("abort", () => ctrl.abort());
  injectStyle(el.ownerDocument);
  new SketchpadView(model, el, ctrl.signal, debugLevel());
  return () => ctrl.abort();
}
var widget_default = { initialize, render };
export {
  widget_default as default
};
