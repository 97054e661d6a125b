import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { test } from "node:test";
import { crc32, fileName, metadata, textChunk, withText } from "../png.js";

/** A 1x1 grey PNG (IHDR, IDAT, IEND), made here so the test needs no file. */
function tinyPng() {
  const chunk = (/** @type {string} */ type, /** @type {number[]} */ data) => {
    const body = new Uint8Array([...Buffer.from(type, "latin1"), ...data]);
    const out = new Uint8Array(12 + data.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    out.set(body, 4);
    v.setUint32(8 + data.length, crc32(body));
    return [...out];
  };
  const idat = [120, 156, 99, 104, 0, 0, 0, 130, 0, 129]; // zlib of [0, 128]
  assert.deepEqual([...inflateSync(Buffer.from(idat))], [0, 128]);
  return new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10,
    ...chunk("IHDR", [0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]), ...chunk("IDAT", idat),
    ...chunk("IEND", [])]);
}

/** The chunks of a PNG: [type, data] in order, each CRC checked. */
function chunks(/** @type {Uint8Array} */ png) {
  const out = [];
  const v = new DataView(png.buffer, png.byteOffset);
  for (let at = 8; at < png.length;) {
    const n = v.getUint32(at);
    const type = Buffer.from(png.subarray(at + 4, at + 8)).toString("latin1");
    assert.equal(v.getUint32(at + 8 + n), crc32(png.subarray(at + 4, at + 8 + n)), type);
    out.push([type, Buffer.from(png.subarray(at + 8, at + 8 + n)).toString("latin1")]);
    at += 12 + n;
  }
  return out;
}

test("crc32 is PNG's CRC (the check value of '123456789')", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

test("withText puts one tEXt chunk per entry right after IHDR, CRCs valid", () => {
  const out = withText(tinyPng(), [["prompt", "a house"], ["seed", "7"]]);
  assert.deepEqual(chunks(out).map((c) => c[0]), ["IHDR", "tEXt", "tEXt", "IDAT", "IEND"]);
  assert.deepEqual(chunks(out).slice(1, 3).map((c) => c[1]), ["prompt\0a house", "seed\x007"]);
});

test("bad input is a clear error naming what is wrong", () => {
  assert.throws(() => withText(new Uint8Array(40), []), /png: not a PNG file/);
  assert.throws(() => textChunk("", "x"), /key: must be 1 to 79 printable ASCII/);
});

test("metadata has Studio.save's keys from a result's params", () => {
  const params = { prompt: "a house", negative_prompt: "", seed: 7, num_inference_steps: 4,
    strength: 0.5, guidance_scale: 1.5, model: "echo (cpu)", image_size: null };
  assert.deepEqual(metadata(params), [["prompt", "a house"], ["negative_prompt", ""],
    ["seed", "7"], ["steps", "4"], ["strength", "0.5"], ["guidance_scale", "1.5"],
    ["model", "echo (cpu)"], ["software", "lcm_widgets"]]);
  assert.deepEqual(metadata(null), [["software", "lcm_widgets"]]);
  assert.equal(fileName(params), "lcm-seed-7.png");
  assert.equal(fileName(null), "lcm-result.png");
});
