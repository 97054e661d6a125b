import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_STATS, formatParams, formatStat, formatStatus } from "../status.js";

test("formatStat rounds numbers and spaces keys", () => {
  assert.equal(formatStat("fps", 12.46), "fps 12");
  assert.equal(formatStat("latency_ms", 3.14), "latency ms 3.1");
  assert.equal(formatStat("steps", 4), "steps 4");
  assert.equal(formatStat("device", "cuda"), "device cuda");
  assert.equal(formatStat("device", ""), null);
  assert.equal(formatStat("ok", true), "ok yes");
  assert.equal(formatStat("x", Number.NaN), null);
  assert.equal(formatStat("x", { a: 1 }), null);
});

test("formatStatus combines status, error, stats and the view's latency", () => {
  const s = formatStatus({ status: "running", error: "boom", stats: { fps: 20 }, latencyP50: 85.4 });
  assert.deepEqual(s, { text: "running", error: "boom", parts: ["fps 20", "stroke→pixels 85 ms"] });
});

test("formatStatus tolerates missing or odd traits and caps the stats", () => {
  assert.deepEqual(formatStatus({}), { text: "", error: "", parts: [] });
  assert.deepEqual(formatStatus({ stats: [1, 2] }).parts, []);
  const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]));
  assert.equal(formatStatus({ stats: many }).parts.length, MAX_STATS);
});

test("the status line says which transport is in use", () => {
  assert.ok(formatStatus({ transport: "direct" }).parts.includes("via direct channel"));
  assert.ok(formatStatus({ transport: "comm" }).parts.includes("via comm"));
  assert.ok(formatStatus({ transport: "comm", transportNote: "direct channel unreachable" })
    .parts.includes("via comm (direct channel unreachable)"));
  assert.deepEqual(formatStatus({}).parts, []);
});

test("a result's caption names the params it was made with", () => {
  assert.equal(formatParams({ seed: 3, num_inference_steps: 4, strength: 0.5,
    guidance_scale: 1, prompt: "a house" }), "seed 3 · steps 4 · strength 0.5 · guidance 1");
  assert.equal(formatParams(null), "");
  assert.equal(formatParams({ seed: "x" }), "");
});
