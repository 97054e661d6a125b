// @ts-check
/**
 * The page's image codec on the live path: frames out as JPEG, results in.
 *
 * Both choices were measured in headless Chromium on the 2-core CI machine
 * (docs/benchmarks.md, "The page's codec"):
 *  - encode: `canvas.toDataURL` encodes at once, where `canvas.toBlob` waits for the main
 *    thread's idle time first (about half the time at the median, a third at p95);
 *  - decode: WebCodecs' `ImageDecoder` where the page has it (a secure context: localhost,
 *    https), else `createImageBitmap`.
 */

/** base64 text to bytes (`Uint8Array.fromBase64` where the engine has it). @param {string} s */
export function fromBase64(s) {
  const U = /** @type {{fromBase64?: (s: string) => Uint8Array}} */ (
    /** @type {unknown} */ (Uint8Array));
  if (typeof U.fromBase64 === "function") return U.fromBase64(s);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The bytes of a base64 data URL of type `mime`. A canvas that cannot make `mime` answers
 * with PNG, and an empty one with "data:,": both are errors here.
 * @param {string} url @param {string} mime
 */
export function dataUrlBytes(url, mime) {
  const head = `data:${mime};base64,`;
  if (!url.startsWith(head)) {
    throw new Error(`expected a ${mime} data URL, got ${JSON.stringify(url.slice(0, 32))}`);
  }
  return fromBase64(url.slice(head.length));
}

/**
 * Rasterize a canvas to JPEG bytes, now, on the main thread.
 * @param {HTMLCanvasElement} canvas @param {number} quality 0.1-1
 * @returns {ArrayBuffer}
 */
export function encodeJpeg(canvas, quality) {
  const bytes = dataUrlBytes(canvas.toDataURL("image/jpeg", quality), "image/jpeg");
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? /** @type {ArrayBuffer} */ (bytes.buffer)
    : /** @type {ArrayBuffer} */ (bytes.slice().buffer);
}

/**
 * @typedef {{image: CanvasImageSource, width: number, height: number, close(): void}} Picture
 *   a decoded image to draw once and close
 */

/** @type {boolean|null} whether ImageDecoder worked here (null: not tried yet) */
let decoderWorks = null;

/** Forget what was learned about ImageDecoder (tests). */
export function resetDecoder() {
  decoderWorks = null;
}

/** Which decoder `decodePicture` uses now: "ImageDecoder" or "createImageBitmap". */
export function decoderName() {
  return decoderWorks !== false && typeof globalThis.ImageDecoder === "function"
    ? "ImageDecoder" : "createImageBitmap";
}

/**
 * Decode `bytes` to an ImageBitmap (for pictures that are kept: backgrounds, loaded frames).
 * @param {Uint8Array} bytes @param {string} mime
 */
export function decodeBitmap(bytes, mime) {
  // A Blob takes bytes over an ArrayBuffer; copy only the (unexpected) SharedArrayBuffer case.
  const part = bytes.buffer instanceof ArrayBuffer
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes.slice();
  return createImageBitmap(new Blob([part], { type: mime }));
}

/** @param {Uint8Array} bytes @param {string} mime @returns {Promise<Picture>} */
async function viaBitmap(bytes, mime) {
  const bmp = await decodeBitmap(bytes, mime);
  return { image: bmp, width: bmp.width, height: bmp.height, close: () => bmp.close() };
}

/**
 * Decode `bytes` (an image of type `mime`). When ImageDecoder fails before it has ever
 * worked and `createImageBitmap` then manages (no decoder for the type, say), it is turned
 * off for the page; a bad image fails both and changes nothing.
 * @param {Uint8Array} bytes @param {string} mime
 * @returns {Promise<Picture>}
 */
export async function decodePicture(bytes, mime) {
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
    return { image: frame, width: frame.displayWidth, height: frame.displayHeight,
      close: () => frame.close() };
  } catch (err) {
    if (decoderWorks === true) throw err; // it works here: this image is bad
    const pic = await viaBitmap(bytes, mime); // throws for a bad image
    decoderWorks = false;
    return pic;
  }
}
