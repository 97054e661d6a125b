import assert from "node:assert/strict";
import { test } from "node:test";
import { percentile } from "../stats.js";

test("percentile interpolates linearly between the closest ranks (numpy's default)", () => {
  assert.equal(percentile([3, 1, 2], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
  assert.equal(percentile([1, 2, 3, 4], 25), 1.75);
  const p95 = percentile([1, 2, 3, 4, 100], 95); // position 3.8: 4 + 0.8 * 96
  assert.ok(p95 !== null && Math.abs(p95 - 80.8) < 1e-9, String(p95));
  assert.equal(percentile([10, 20], 0), 10);
  assert.equal(percentile([10, 20], 100), 20);
  assert.equal(percentile([7], 37), 7);
});

test("percentile does not reorder its input", () => {
  const xs = [3, 1, 2];
  percentile(xs, 50);
  assert.deepEqual(xs, [3, 1, 2]);
});

test("percentile of no samples is null; q outside 0..100 or a NaN sample throws", () => {
  assert.equal(percentile([], 50), null);
  assert.throws(() => percentile([1], 101), RangeError);
  assert.throws(() => percentile([1], -1), RangeError);
  assert.throws(() => percentile([1], Number.NaN), RangeError);
  assert.throws(() => percentile([1, Number.NaN], 50), RangeError);
});
