import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { test } from "node:test";
import { MASK_THRESHOLD, MaskCache, encodeGrayPng, maskFromAlpha } from "../mask.js";
import { crc32 } from "../png.js";
import { concatBytes, frameMessage } from "../protocol.js";

/** The chunks of a PNG: [type, data] in order, each CRC checked. */
function chunks(/** @type {Uint8Array} */ png) {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  /** @type {[string, Uint8Array][]} */
  const out = [];
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let at = 8; at < png.length;) {
    const n = v.getUint32(at);
    const type = Buffer.from(png.subarray(at + 4, at + 8)).toString("latin1");
    assert.equal(v.getUint32(at + 8 + n), crc32(png.subarray(at + 4, at + 8 + n)), type);
    out.push([type, png.subarray(at + 8, at + 8 + n)]);
    at += 12 + n;
  }
  return out;
}

/** RGBA of a w x h layer with alpha `a` inside the rectangle [x0, x1) x [y0, y1), else 0. */
function layer(/** @type {number} */ w, /** @type {number} */ h,
  /** @type {[number, number, number, number]} */ [x0, y0, x1, y1], a = 255) {
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) rgba.set([255, 0, 0, a], (y * w + x) * 4);
  }
  return rgba;
}

test("maskFromAlpha: painted pixels are 255, the rest 0, at the threshold", () => {
  const rgba = new Uint8ClampedArray([0, 0, 0, 0, 9, 9, 9, MASK_THRESHOLD - 1,
    1, 2, 3, MASK_THRESHOLD, 255, 0, 0, 255]);
  const m = maskFromAlpha(rgba);
  assert.deepEqual([...m.gray], [0, 0, 255, 255]);
  assert.equal(m.painted, true);
});

test("maskFromAlpha: faint leftovers (an erased mask) are not painted", () => {
  const m = maskFromAlpha(layer(4, 4, [0, 0, 4, 4], 10));
  assert.equal(m.painted, false);
  assert.ok(m.gray.every((b) => b === 0));
});

test("encodeGrayPng: an 8-bit greyscale PNG whose rows inflate to the mask", async () => {
  const w = 5;
  const h = 3;
  const gray = Uint8Array.from({ length: w * h }, (_, i) => (i % 2 ? 255 : 0));
  const png = await encodeGrayPng(w, h, gray);
  const cs = chunks(png);
  assert.deepEqual(cs.map(([t]) => t), ["IHDR", "IDAT", "IEND"]);
  const ihdr = new DataView(cs[0][1].buffer, cs[0][1].byteOffset);
  assert.deepEqual([ihdr.getUint32(0), ihdr.getUint32(4), ...cs[0][1].subarray(8)],
    [w, h, 8, 0, 0, 0, 0]); // 8 bits, colour type 0 (grey)
  const raw = inflateSync(Buffer.from(cs[1][1]));
  assert.equal(raw.length, h * (w + 1));
  for (let y = 0; y < h; y++) {
    assert.equal(raw[y * (w + 1)], 0, "filter type 0");
    assert.deepEqual([...raw.subarray(y * (w + 1) + 1, (y + 1) * (w + 1))],
      [...gray.subarray(y * w, (y + 1) * w)]);
  }
});

test("encodeGrayPng: a mostly black 512x512 mask is a few KB", async () => {
  const { gray } = maskFromAlpha(layer(512, 512, [100, 200, 400, 240]));
  const png = await encodeGrayPng(512, 512, gray);
  console.log(`512x512 mask with a 300x40 stroke: ${png.length} bytes`);
  assert.ok(png.length < 8192, `${png.length} bytes`);
});

test("encodeGrayPng refuses a buffer of the wrong size, naming both", async () => {
  await assert.rejects(encodeGrayPng(4, 4, new Uint8Array(15)),
    /gray: must hold width\*height = 16 bytes, got 15/);
});

test("MaskCache: encodes once per change, reuses the bytes while unchanged", async () => {
  const cache = new MaskCache();
  let reads = 0;
  let rgba = layer(8, 8, [2, 2, 6, 6]);
  const read = () => { reads += 1; return { width: 8, height: 8, rgba }; };
  assert.equal(cache.changed, true);
  const first = await cache.get(read);
  assert.ok(first);
  assert.equal(cache.encodes, 1);
  assert.equal(cache.changed, false);
  assert.equal(await cache.get(read), first, "unchanged: the same bytes, no re-encoding");
  assert.equal(cache.encodes, 1);
  assert.equal(reads, 1, "unchanged: the pixels are not even read");
  cache.bump();
  rgba = layer(8, 8, [0, 0, 1, 1]);
  const second = await cache.get(read);
  assert.ok(second);
  assert.equal(cache.encodes, 2);
  assert.notDeepEqual([...second.png], [...first.png]);
});

test("MaskCache: nothing painted (no layer, or all erased) is no mask", async () => {
  const cache = new MaskCache();
  assert.equal(await cache.get(() => null), null);
  cache.bump();
  assert.equal(await cache.get(() => ({ width: 4, height: 4, rgba: layer(4, 4, [0, 0, 0, 0]) })),
    null);
  assert.equal(cache.encodes, 0);
  assert.equal(cache.changed, false);
});

test("MaskCache: pixels are read when get is called, before any encoding awaits", async () => {
  let resolve = (/** @type {Uint8Array} */ _b) => {};
  const cache = new MaskCache(() => new Promise((r) => { resolve = r; }));
  let read = false;
  const p = cache.get(() => { read = true; return { width: 2, height: 2, rgba: layer(2, 2, [0, 0, 2, 2]) }; });
  assert.equal(read, true, "read synchronously (the same moment the frame is rasterized)");
  cache.bump(); // changed while encoding
  resolve(new Uint8Array([1]));
  assert.deepEqual((await p)?.png, new Uint8Array([1]));
  assert.equal(cache.changed, true, "the next frame encodes the newer mask");
});

test("frameMessage carries mask metadata only when given; concatBytes joins the payload", () => {
  const base = { width: 8, height: 8, t_input: 1, reason: "mask" };
  assert.equal("mask" in frameMessage(1, base), false);
  assert.equal("mask" in frameMessage(1, { ...base, mask: null }), false);
  const meta = { mime: "image/png", width: 8, height: 8, bytes: 3 };
  assert.deepEqual(frameMessage(2, { ...base, mask: meta }).mask, meta);
  assert.deepEqual([...concatBytes(new Uint8Array([1, 2]).buffer, new Uint8Array([3, 4, 5]))],
    [1, 2, 3, 4, 5]);
});
