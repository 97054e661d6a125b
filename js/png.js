// @ts-check
/**
 * PNG text chunks for the download button (pure: no DOM): the browser encodes the output canvas
 * as PNG, and `withText` adds the params it was made with as `tEXt` chunks, the same keys
 * `Studio.save` writes (prompt, negative_prompt, seed, steps, strength, guidance_scale, model,
 * software), so a downloaded file and a saved one read the same in PIL (`Image.open(p).text`).
 */

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** @type {Uint32Array|null} */
let crcTable = null;

/**
 * CRC-32 (ISO 3309, as PNG uses) of `bytes`.
 * @param {Uint8Array} bytes
 * @returns {number}
 */
export function crc32(bytes) {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Latin-1 bytes of `s` (PNG `tEXt` is Latin-1; other characters become "?").
 * @param {string} s
 */
function latin1(s) {
  return Uint8Array.from(s, (ch) => {
    const c = ch.charCodeAt(0);
    return c < 256 ? c : 63;
  });
}

/**
 * One `tEXt` chunk: length, type, keyword NUL text, CRC over type and data.
 * @param {string} key @param {string} text
 * @returns {Uint8Array}
 */
export function textChunk(key, text) {
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

/**
 * `png` with one `tEXt` chunk per entry, right after its IHDR chunk.
 * @param {Uint8Array} png @param {[string, string][]} entries
 * @returns {Uint8Array}
 */
export function withText(png, entries) {
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

/** The text keys a download carries, in `Studio.save`'s order, and the params they come from. */
const META = /** @type {const} */ ([
  ["prompt", "prompt"], ["negative_prompt", "negative_prompt"], ["seed", "seed"],
  ["steps", "num_inference_steps"], ["strength", "strength"],
  ["guidance_scale", "guidance_scale"], ["model", "model"],
]);

/**
 * The `tEXt` entries of a result's params (`result.params`); missing ones are left out.
 * @param {unknown} params
 * @returns {[string, string][]}
 */
export function metadata(params) {
  /** @type {[string, string][]} */
  const out = [];
  if (params && typeof params === "object" && !Array.isArray(params)) {
    const p = /** @type {Record<string, unknown>} */ (params);
    for (const [key, field] of META) {
      const v = p[field];
      if (typeof v === "string" || (typeof v === "number" && Number.isFinite(v))) {
        out.push([key, String(v)]);
      }
    }
  }
  // made with an inpainting mask (the Studio marks those results; docs/studio.md)
  if (params && typeof params === "object" &&
      /** @type {Record<string, unknown>} */ (params).inpainting === true) {
    out.push(["inpainting", "mask"]);
  }
  out.push(["software", "lcm_widgets"]);
  return out;
}

/**
 * The download's file name: `lcm-seed-<seed>.png` (or `lcm-result.png`).
 * @param {unknown} params
 */
export function fileName(params) {
  const seed = params && typeof params === "object"
    ? /** @type {Record<string, unknown>} */ (params).seed : undefined;
  return typeof seed === "number" && Number.isFinite(seed) ? `lcm-seed-${seed}.png` : "lcm-result.png";
}
