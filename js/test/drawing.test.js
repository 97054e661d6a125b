import assert from "node:assert/strict";
import { test } from "node:test";
import {
  History, MAX_HISTORY_BYTES, closeUnusedBackgrounds, fitRect, isHexColor, snapshotBytes,
  segmentBox, snapshotHistory, strokeWidth, toCanvasPoint,
} from "../drawing.js";

test("toCanvasPoint maps CSS pixels to frame pixels", () => {
  const rect = { left: 10, top: 20, width: 256, height: 128 };
  assert.deepEqual(toCanvasPoint({ clientX: 10, clientY: 20 }, rect, 512, 512), { x: 0, y: 0 });
  assert.deepEqual(toCanvasPoint({ clientX: 138, clientY: 84 }, rect, 512, 512), { x: 256, y: 256 });
});

test("toCanvasPoint survives a zero-sized rect", () => {
  const p = toCanvasPoint({ clientX: 5, clientY: 6 }, { left: 0, top: 0, width: 0, height: 0 }, 8, 8);
  assert.deepEqual(p, { x: 5, y: 6 });
});

test("pen pressure scales the width; mouse and touch draw at full size", () => {
  assert.equal(strokeWidth(10, "mouse", 0.5), 10);
  assert.equal(strokeWidth(10, "touch", 1), 10);
  assert.equal(strokeWidth(10, "pen", 1), 10);
  assert.ok(Math.abs(strokeWidth(10, "pen", 0.5) - 6) < 1e-9);
  assert.ok(strokeWidth(10, "pen", 0.1) < strokeWidth(10, "pen", 0.9));
  assert.equal(strokeWidth(10, "pen", 0), 10, "a pen without pressure data");
  assert.equal(strokeWidth(2, "pen", 0.01), 1, "never thinner than 1 px");
  assert.equal(strokeWidth(10, "pen", 3), 10, "pressure is capped at 1");
});

test("fitRect cover crops, contain letterboxes, both centred", () => {
  assert.deepEqual(fitRect(1000, 500, 512, 512, "cover"), { x: -256, y: 0, width: 1024, height: 512 });
  assert.deepEqual(fitRect(1000, 500, 512, 512, "contain"), { x: 0, y: 128, width: 512, height: 256 });
  assert.deepEqual(fitRect(0, 0, 64, 64), { x: 0, y: 0, width: 64, height: 64 });
});

test("isHexColor", () => {
  assert.equal(isHexColor("#a1B2c3"), true);
  assert.equal(isHexColor("#abc"), false);
  assert.equal(isHexColor("red"), false);
  assert.equal(isHexColor(null), false);
});

/** A History of strings where each string costs its length in bytes. @param {number} maxBytes */
function textHistory(maxBytes) {
  /** @type {string[][]} */
  const drops = [];
  /** @type {History<string>} */
  const h = new History({ maxBytes, sizeOf: (s) => s.length, onDrop: (d) => drops.push(d) });
  return { h, drops };
}

test("History: undo, redo, a new change clears redo", () => {
  const { h, drops } = textHistory(100);
  assert.equal(h.undo("s0"), undefined);
  h.push("s0"); // then the canvas shows s1
  h.push("s1"); // then s2
  assert.equal(h.undo("s2"), "s1");
  assert.equal(h.undo("s1"), "s0");
  assert.equal(h.canUndo, false);
  assert.equal(h.redo("s0"), "s1");
  assert.equal(h.canRedo, true);
  assert.deepEqual(drops, [], "undo and redo drop nothing");
  h.push("s1"); // a new stroke
  assert.equal(h.canRedo, false);
  assert.equal(h.redo("x"), undefined);
  assert.deepEqual(drops, [["s2"]], "the cleared redo side is reported dropped");
});

test("History is bounded in bytes: the oldest steps are dropped, in order", () => {
  const { h, drops } = textHistory(10);
  for (const s of ["aaaa", "bbbb", "cc"]) h.push(s); // 10 bytes: all fit
  assert.deepEqual(h.undoStack, ["aaaa", "bbbb", "cc"]);
  assert.equal(h.bytes, 10);
  h.push("ddd"); // 13 > 10: drop "aaaa"
  assert.deepEqual(h.undoStack, ["bbbb", "cc", "ddd"]);
  h.push("eeeeeeee"); // 17: drop "bbbb", "cc" and "ddd" to get to 8
  assert.deepEqual(h.undoStack, ["eeeeeeee"]);
  assert.deepEqual(drops, [["aaaa"], ["bbbb", "cc", "ddd"]]);
});

test("History keeps the newest undo step even when it alone is over budget", () => {
  const { h, drops } = textHistory(4);
  h.push("abc");
  h.push("0123456789");
  assert.deepEqual(h.undoStack, ["0123456789"]);
  assert.deepEqual(drops, [["abc"]]);
  assert.equal(h.canUndo, true);
  assert.equal(new History({ maxBytes: 0, sizeOf: () => 1 }).maxBytes, 0);
});

test("History.clear drops every step of both stacks", () => {
  const { h, drops } = textHistory(100);
  h.push("a");
  h.push("b");
  h.undo("c");
  h.clear();
  assert.equal(h.canUndo || h.canRedo, false);
  assert.deepEqual(drops, [["a", "c"]]);
});

test("History.items lists the states in time order (undo oldest first, then redo nearest first)", () => {
  const { h } = textHistory(100);
  for (const s of ["s0", "s1", "s2"]) h.push(s); // the canvas shows s3
  h.undo("s3");
  h.undo("s2"); // the canvas shows s1
  assert.deepEqual(h.items, ["s0", "s2", "s3"]);
});

/**
 * A stand-in for an ImageBitmap: a size and a `close` that records the call.
 * @param {number} width @param {number} height
 */
function bitmap(width, height) {
  return { width, height, closed: 0, close() { this.closed += 1; } };
}

/**
 * The parts of a canvas snapshot the history reads (an ImageData's `data.byteLength`).
 * @param {number} inkBytes @param {{width: number, height: number}|null} background
 */
function snap(inkBytes, background) {
  return { ink: { data: { byteLength: inkBytes } }, background };
}

test("snapshotBytes: ink bytes, plus w*h*4 for a background not shared with the step before", () => {
  const a = bitmap(10, 5);
  const s1 = snap(400, a);
  const s2 = snap(400, a);
  assert.equal(snapshotBytes(s1, undefined), 400 + 200);
  assert.equal(snapshotBytes(s2, s1), 400, "the same bitmap as the step before: counted once");
  assert.equal(snapshotBytes(snap(400, null), s2), 400);
  assert.equal(snapshotBytes(snap(400, bitmap(2, 2)), s2), 400 + 16);
});

test("a snapshot history of 512² ink keeps 64 steps in 64 MiB and 4 at 2048²", () => {
  for (const [side, steps] of [[512, 64], [2048, 4]]) {
    const h = snapshotHistory(() => null);
    for (let i = 0; i < 100; i++) h.push(snap(side * side * 4, null));
    assert.equal(MAX_HISTORY_BYTES, 64 * 1024 * 1024);
    assert.equal(h.undoStack.length, steps, `${side}²`);
  }
});

test("closeUnusedBackgrounds closes only unreferenced bitmaps with a close method, once", () => {
  const kept = bitmap(1, 1);
  const shown = bitmap(1, 1);
  const free = bitmap(1, 1);
  const img = { width: 1, height: 1 }; // an <img> or canvas: nothing to close
  const dropped = [snap(4, kept), snap(4, shown), snap(4, free), snap(4, free), snap(4, img),
    snap(4, null)];
  assert.equal(closeUnusedBackgrounds(dropped, [snap(4, kept)], shown), 1);
  assert.deepEqual([kept.closed, shown.closed, free.closed], [0, 0, 1]);
});

test("a snapshot history closes a background once no step and not the canvas use it", () => {
  const a = bitmap(8, 8);
  const b = bitmap(8, 8);
  /** @type {{width: number, height: number}|null} */
  let current = a;
  const h = snapshotHistory(() => current, 10_000);
  h.push(snap(64, a)); // a stroke over background a
  h.push(snap(64, a)); // setBackground(b): the step before keeps a
  current = b;
  assert.equal(h.undo(snap(64, b))?.background, a); // undo: a back on screen, b on redo
  current = a;
  h.push(snap(64, a)); // a new stroke clears redo: b is used by nothing now
  assert.deepEqual([a.closed, b.closed], [0, 1]);
  const small = snapshotHistory(() => current, 64 * 2 + 256);
  small.push(snap(64, a)); // 64 + 256
  small.push(snap(64, a)); // + 64
  small.push(snap(64, null)); // a cleared canvas; + 64 = 448 > 384: the oldest goes
  assert.equal(small.undoStack.length, 2);
  assert.equal(a.closed, 0, "a is still used by a remaining step and by the canvas");
  current = null;
  small.push(snap(64, null)); // 64 + 256 + 64 + 64 > 384: the last step with a goes
  assert.equal(small.undoStack.some((s) => s.background === a), false);
  assert.equal(a.closed, 1);
});

test("a segment's box holds its width, caps and a pixel of antialiasing, inside the canvas", () => {
  assert.deepEqual(segmentBox({ x: 10, y: 20, w: 8 }, { x: 30, y: 25, w: 4 }, 512, 512),
    { x: 4, y: 14, width: 32, height: 17 });
  // a dot: a === b
  assert.deepEqual(segmentBox({ x: 5.5, y: 5.5, w: 2 }, { x: 5.5, y: 5.5, w: 2 }, 512, 512),
    { x: 2, y: 2, width: 7, height: 7 });
  // clipped at the edges
  assert.deepEqual(segmentBox({ x: 1, y: 510, w: 10 }, { x: 3, y: 511, w: 10 }, 512, 512),
    { x: 0, y: 503, width: 10, height: 9 });
});
