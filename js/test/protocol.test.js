import assert from "node:assert/strict";
import { test } from "node:test";
import * as P from "../protocol.js";

test("frame, ack and hello messages carry type and version", () => {
  assert.deepEqual(P.frameMessage(3, { width: 512, height: 256, t_input: 9, reason: "undo" }), {
    type: "frame", v: 1, seq: 3, width: 512, height: 256, mime: "image/jpeg", t_input: 9,
    reason: "undo",
  });
  assert.deepEqual(P.ackMessage(3, 7, 10, false),
    { type: "ack", v: 1, seq: 3, rid: 7, t_paint: 10, dropped: false });
  assert.deepEqual(P.helloMessage("abc"), { type: "hello", v: 1, view: "abc" });
});

/**
 * The bytes `P.toBytes` sees in `buf`, as numbers (fails when it returns null).
 * @param {unknown} buf
 */
function bytesOf(buf) {
  const b = P.toBytes(buf);
  assert.ok(b, "toBytes returned null");
  return [...b];
}

test("toBytes accepts DataView (Lab), Uint8Array (Colab), other views and ArrayBuffer", () => {
  const ab = new Uint8Array([1, 2, 3, 4, 5]).buffer;
  const dv = new DataView(ab, 1, 3);
  assert.deepEqual(bytesOf(dv), [2, 3, 4]);
  const u8 = new Uint8Array(ab, 2, 2);
  assert.equal(P.toBytes(u8), u8, "no copy");
  assert.deepEqual(bytesOf(new Uint16Array([0x0201])), [1, 2]);
  assert.deepEqual(bytesOf(ab), [1, 2, 3, 4, 5]);
  assert.equal(P.toBytes("x"), null);
  assert.equal(P.toBytes(undefined), null);
});

test("isKernelMessage accepts our kernel messages only", () => {
  assert.equal(P.isKernelMessage({ type: "took", v: 1, seq: 1 }), true);
  assert.equal(P.isKernelMessage({ type: "result", v: 1 }), true);
  assert.equal(P.isKernelMessage({ type: "took", v: 2, seq: 1 }), false);
  assert.equal(P.isKernelMessage({ type: "frame", v: 1 }), false);
  assert.equal(P.isKernelMessage({ kind: "anywidget-command-response" }), false);
  assert.equal(P.isKernelMessage(null), false);
});

test("REASONS lists every reason constant", () => {
  const consts = Object.entries(P).filter(([k]) => k.startsWith("REASON_")).map(([, v]) => v);
  assert.deepEqual([...P.REASONS].sort(), consts.sort());
});

test("hello names the page origin when it has one", () => {
  assert.deepEqual(P.helloMessage("abc", "http://127.0.0.1:8888"),
    { type: "hello", v: 1, view: "abc", origin: "http://127.0.0.1:8888" });
  assert.ok(P.isKernelMessage({ type: "direct", v: 1 }));
});

test("direct-channel messages: length-prefixed JSON header, then the payload", () => {
  const packed = P.packDirect({ type: "frame", seq: 2 }, new Uint8Array([255, 216, 1]));
  const view = new DataView(packed.buffer);
  const n = view.getUint32(0);
  assert.equal(n, JSON.stringify({ type: "frame", seq: 2 }).length);
  const m = P.unpackDirect(packed.buffer);
  assert.ok(m);
  assert.deepEqual(m.header, { type: "frame", seq: 2 });
  assert.deepEqual([...m.payload], [255, 216, 1]);
  const empty = P.unpackDirect(P.packDirect({ type: "ack" }).buffer);
  assert.ok(empty);
  assert.equal(empty.payload.byteLength, 0);
  assert.equal(P.unpackDirect(new Uint8Array([0, 0]).buffer), null);
  assert.equal(P.unpackDirect(new Uint8Array([0, 0, 0, 9, 123]).buffer), null);
  assert.equal(P.unpackDirect(P.packDirect({}).buffer.slice(0, 5)), null);
  const list = new TextEncoder().encode("[]");
  const bad = new Uint8Array(4 + list.byteLength);
  new DataView(bad.buffer).setUint32(0, list.byteLength);
  bad.set(list, 4);
  assert.equal(P.unpackDirect(bad.buffer), null);
});
