import assert from "node:assert/strict";
import { test } from "node:test";
import { History, fitRect, isHexColor, strokeWidth, toCanvasPoint } from "../drawing.js";

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

test("History: undo, redo, a new change clears redo", () => {
  const h = new History(10);
  assert.equal(h.undo("s0"), undefined);
  h.push("s0"); // then the canvas shows s1
  h.push("s1"); // then s2
  assert.equal(h.undo("s2"), "s1");
  assert.equal(h.undo("s1"), "s0");
  assert.equal(h.canUndo, false);
  assert.equal(h.redo("s0"), "s1");
  assert.equal(h.canRedo, true);
  h.push("s1"); // a new stroke
  assert.equal(h.canRedo, false);
  assert.equal(h.redo("x"), undefined);
});

test("History is bounded: the oldest steps are forgotten", () => {
  const h = new History(3);
  for (const s of ["a", "b", "c", "d", "e"]) h.push(s);
  assert.deepEqual(h.undoStack, ["c", "d", "e"]);
  h.clear();
  assert.equal(h.canUndo, false);
  assert.equal(new History(0).limit, 1);
});
