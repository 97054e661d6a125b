import assert from "node:assert/strict";
import { test } from "node:test";
import { ResultHistory } from "../history.js";

test("the history keeps painted results with params, newest first, once each, bounded", () => {
  const h = new ResultHistory(3);
  assert.equal(h.add(1, 1, { seed: 1 }, null), true);
  assert.equal(h.add(1, 1, { seed: 1 }, null), false); // the same rid again (a sync replay)
  assert.equal(h.add(2, 2, null, null), false); // a plain Sketchpad result: no params
  for (const rid of [3, 4, 5]) h.add(rid, rid, { seed: rid }, null);
  assert.deepEqual(h.items.map((it) => it.rid), [5, 4, 3]);
  assert.equal(h.get(4)?.params.seed, 4);
  assert.equal(h.get(1), null);
});
