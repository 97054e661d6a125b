import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { dataUrlBytes, decodePicture, decoderName, fromBase64, resetDecoder } from "../codec.js";

const g = /** @type {any} */ (globalThis);
const saved = { ImageDecoder: g.ImageDecoder, createImageBitmap: g.createImageBitmap };

afterEach(() => {
  g.ImageDecoder = saved.ImageDecoder;
  g.createImageBitmap = saved.createImageBitmap;
  resetDecoder();
});

test("base64 text becomes the same bytes with and without Uint8Array.fromBase64", () => {
  const bytes = Uint8Array.from([0, 1, 2, 250, 255, 128, 64]);
  const b64 = Buffer.from(bytes).toString("base64");
  assert.deepEqual([...fromBase64(b64)], [...bytes]);
  const U = /** @type {any} */ (Uint8Array);
  const native = U.fromBase64;
  U.fromBase64 = undefined;
  try {
    assert.deepEqual([...fromBase64(b64)], [...bytes]);
  } finally {
    U.fromBase64 = native;
  }
});

test("a data URL of another type (a canvas that fell back to PNG) or an empty one is refused", () => {
  const jpeg = `data:image/jpeg;base64,${Buffer.from([0xff, 0xd8, 0xff]).toString("base64")}`;
  assert.deepEqual([...dataUrlBytes(jpeg, "image/jpeg")], [0xff, 0xd8, 0xff]);
  assert.throws(() => dataUrlBytes("data:image/png;base64,iVBO", "image/jpeg"),
    /expected a image\/jpeg data URL, got "data:image\/png;base64,iVBO"/);
  assert.throws(() => dataUrlBytes("data:,", "image/jpeg"), /expected a image\/jpeg data URL/);
});

/** A stand-in for the browser's decoders: they are not in node. */
function fakeDecoders({ decoderFails = false, bitmapFails = false } = {}) {
  const calls = { decoder: 0, bitmap: 0, closed: 0 };
  g.ImageDecoder = class {
    /** @param {{data: Uint8Array, type: string}} init */
    constructor(init) {
      calls.decoder += 1;
      if (decoderFails) throw new Error(`no decoder for ${init.type}`);
    }
    async decode() {
      return { image: { displayWidth: 64, displayHeight: 32, close: () => { calls.closed += 1; } } };
    }
    close() {}
  };
  g.createImageBitmap = async () => {
    calls.bitmap += 1;
    if (bitmapFails) throw new Error("bad image");
    return { width: 64, height: 32, close: () => { calls.closed += 1; } };
  };
  return calls;
}

test("ImageDecoder is used where the page has it; its picture reports its size and closes", async () => {
  const calls = fakeDecoders();
  assert.equal(decoderName(), "ImageDecoder");
  const pic = await decodePicture(new Uint8Array([1, 2, 3]), "image/jpeg");
  assert.deepEqual([pic.width, pic.height, calls.decoder, calls.bitmap], [64, 32, 1, 0]);
  pic.close();
  assert.equal(calls.closed, 1);
});

test("an ImageDecoder that never worked is turned off when createImageBitmap manages", async () => {
  const calls = fakeDecoders({ decoderFails: true });
  const pic = await decodePicture(new Uint8Array([1]), "image/jpeg");
  assert.deepEqual([pic.width, calls.decoder, calls.bitmap], [64, 1, 1]);
  assert.equal(decoderName(), "createImageBitmap");
  await decodePicture(new Uint8Array([1]), "image/jpeg");
  assert.deepEqual([calls.decoder, calls.bitmap], [1, 2]); // not tried again
});

test("a bad image fails both decoders and leaves ImageDecoder on", async () => {
  fakeDecoders({ decoderFails: true, bitmapFails: true });
  await assert.rejects(decodePicture(new Uint8Array([1]), "image/jpeg"), /bad image/);
  assert.equal(decoderName(), "ImageDecoder");
});

test("once ImageDecoder has worked, its failure is the image's: no fallback", async () => {
  fakeDecoders();
  await decodePicture(new Uint8Array([1]), "image/jpeg");
  const calls = fakeDecoders({ decoderFails: true });
  await assert.rejects(decodePicture(new Uint8Array([1]), "image/jpeg"), /no decoder/);
  assert.equal(calls.bitmap, 0);
  assert.equal(decoderName(), "ImageDecoder");
});

test("with no ImageDecoder at all, createImageBitmap decodes", async () => {
  const calls = fakeDecoders();
  g.ImageDecoder = undefined;
  assert.equal(decoderName(), "createImageBitmap");
  const pic = await decodePicture(new Uint8Array([1]), "image/jpeg");
  assert.deepEqual([pic.height, calls.bitmap], [32, 1]);
});
