// @ts-check
/**
 * The browser ⇄ kernel message protocol of the Sketchpad (docs/widget-protocol.md).
 *
 * Constants are defined here once and mirrored in lcm_widgets/widgets/_protocol.py; the Python
 * test tests/protocol/test_widget_protocol.py parses this file and compares. Keep every constant on one
 * line as `export const NAME = value;` (strings in double quotes) so that the test can read it.
 *
 * Pure: no DOM.
 */

export const PROTOCOL_VERSION = 1;

// Browser → kernel
export const MSG_HELLO = "hello";
export const MSG_FRAME = "frame";
export const MSG_ACK = "ack";
export const MSG_RESTORE = "restore";

// Kernel → browser
export const MSG_TOOK = "took";
export const MSG_RESULT = "result";
export const MSG_SYNC = "sync";
export const MSG_CLEAR_CANVAS = "clear_canvas";
export const MSG_SET_BACKGROUND = "set_background";
export const MSG_DIRECT = "direct";
export const MSG_LOAD_FRAME = "load_frame";
export const MSG_CLEAR_MASK = "clear_mask";

// Why a frame was sent (`frame.reason`).
export const REASON_STROKE = "stroke";
export const REASON_UNDO = "undo";
export const REASON_REDO = "redo";
export const REASON_CLEAR = "clear";
export const REASON_BACKGROUND = "background";
export const REASON_RESIZE = "resize";
export const REASON_CAMERA = "camera";
export const REASON_FEEDBACK = "feedback";
export const REASON_MASK = "mask";

export const FRAME_MIME = "image/jpeg";
export const MASK_MIME = "image/png";

/** All reasons, in a stable order. */
export const REASONS = Object.freeze([
  REASON_STROKE, REASON_UNDO, REASON_REDO, REASON_CLEAR, REASON_BACKGROUND, REASON_RESIZE,
  REASON_CAMERA, REASON_FEEDBACK, REASON_MASK,
]);

/**
 * @typedef {{mime: string, width: number, height: number, bytes: number}} MaskMeta  the
 *   inpainting mask a frame carries: the second buffer on the comm, the payload's last
 *   `bytes` bytes on the direct channel
 * @typedef {{type: "frame", v: number, seq: number, width: number, height: number,
 *   mime: string, t_input: number, reason: string, mask?: MaskMeta}} FrameMsg
 * @typedef {{type: "ack", v: number, seq: number, rid: number, t_paint: number,
 *   dropped: boolean}} AckMsg
 * @typedef {{type: "hello", v: number, view: string, origin?: string}} HelloMsg
 * @typedef {{seq: number, rid: number, mime: string, width: number, height: number,
 *   timings_ms?: Record<string, number>|null, params?: Record<string, unknown>|null}} ResultMeta
 */

/**
 * The content of a `frame` message; `mask` only when the frame carries an inpainting mask.
 * @param {number} seq
 * @param {{width: number, height: number, t_input: number, reason: string, mime?: string,
 *   mask?: MaskMeta|null}} f
 * @returns {FrameMsg}
 */
export function frameMessage(seq, f) {
  /** @type {FrameMsg} */
  const msg = {
    type: MSG_FRAME, v: PROTOCOL_VERSION, seq, width: f.width, height: f.height,
    mime: f.mime ?? FRAME_MIME, t_input: f.t_input, reason: f.reason,
  };
  if (f.mask) msg.mask = f.mask;
  return msg;
}

/**
 * Two buffers as one direct-channel payload (a frame and its mask: the mask's `bytes` say
 * where it starts).
 * @param {ArrayBuffer|Uint8Array} a @param {ArrayBuffer|Uint8Array} b
 * @returns {Uint8Array}
 */
export function concatBytes(a, b) {
  const x = a instanceof Uint8Array ? a : new Uint8Array(a);
  const y = b instanceof Uint8Array ? b : new Uint8Array(b);
  const out = new Uint8Array(x.byteLength + y.byteLength);
  out.set(x, 0);
  out.set(y, x.byteLength);
  return out;
}

/**
 * The content of an `ack` message.
 * @param {number} seq @param {number} rid @param {number} tPaint @param {boolean} dropped
 * @returns {AckMsg}
 */
export function ackMessage(seq, rid, tPaint, dropped) {
  return { type: MSG_ACK, v: PROTOCOL_VERSION, seq, rid, t_paint: tPaint, dropped };
}

/**
 * The content of a `restore` message: the person clicked result `rid` in the history strip.
 * @param {number} rid @param {Record<string, unknown>} params
 */
export function restoreMessage(rid, params) {
  return { type: MSG_RESTORE, v: PROTOCOL_VERSION, rid, params };
}

/**
 * The content of a `hello` message; `origin` (the page's `location.origin`) asks the kernel
 * for its direct channel.
 * @param {string} view @param {string} [origin]
 * @returns {HelloMsg}
 */
export function helloMessage(view, origin) {
  return origin === undefined
    ? { type: MSG_HELLO, v: PROTOCOL_VERSION, view }
    : { type: MSG_HELLO, v: PROTOCOL_VERSION, view, origin };
}

/**
 * One direct-channel message: [4-byte big-endian header length][JSON header][payload].
 * @param {Record<string, unknown>} header @param {ArrayBuffer|Uint8Array|null} [payload]
 * @returns {Uint8Array}
 */
export function packDirect(header, payload) {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const body = payload ? (payload instanceof Uint8Array ? payload : new Uint8Array(payload))
    : new Uint8Array(0);
  const out = new Uint8Array(4 + h.byteLength + body.byteLength);
  new DataView(out.buffer).setUint32(0, h.byteLength);
  out.set(h, 4);
  out.set(body, 4 + h.byteLength);
  return out;
}

/**
 * The header and payload of a direct-channel message, or null when it is malformed.
 * @param {ArrayBufferLike} buf
 * @returns {{header: Record<string, any>, payload: Uint8Array}|null}
 */
export function unpackDirect(buf) {
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

/**
 * A Uint8Array over any binary buffer the widget manager hands us: `DataView` (JupyterLab,
 * Notebook 7), `Uint8Array` (Colab), any other ArrayBufferView, or a bare ArrayBuffer.
 * Returns null for anything else. Never copies.
 * @param {unknown} buf
 * @returns {Uint8Array|null}
 */
export function toBytes(buf) {
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  return null;
}

/**
 * True when `content` is a kernel message of a known type and our protocol version.
 * @param {unknown} content
 * @returns {content is {type: string, v: number} & Record<string, any>}
 */
export function isKernelMessage(content) {
  if (!content || typeof content !== "object") return false;
  const c = /** @type {Record<string, unknown>} */ (content);
  return c.v === PROTOCOL_VERSION && typeof c.type === "string" && [
    MSG_TOOK, MSG_RESULT, MSG_SYNC, MSG_CLEAR_CANVAS, MSG_SET_BACKGROUND, MSG_DIRECT,
    MSG_LOAD_FRAME, MSG_CLEAR_MASK,
  ].includes(c.type);
}
