import assert from "node:assert/strict";
import { test } from "node:test";
import {
  MAX_STATS, RATE_WINDOW_MS, activityKind, activityProgress, formatDuration, formatParams,
  formatStat, formatStatus, resultRate,
} from "../status.js";

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

const texts = (/** @type {{text: string}[]} */ parts) => parts.map((p) => p.text);

test("formatStatus combines state, status, error, figures and the view's latency", () => {
  const s = formatStatus({ status: "echo (cpu)", error: "boom", stats: { fps: 20 },
    latencyP50: 85.4, now: 1000 });
  assert.deepEqual(s.state, { text: "ready", cls: "lcm-ready" });
  assert.equal(s.text, "echo (cpu)");
  assert.equal(s.error, "boom");
  assert.deepEqual(texts(s.parts), ["fps 20", "stroke → image 85 ms"]);
});

test("formatStatus tolerates missing or odd traits and caps the stats", () => {
  const empty = formatStatus({});
  assert.deepEqual([empty.text, empty.error, empty.parts], ["", "", []]);
  assert.deepEqual(formatStatus({ stats: [1, 2] }).parts, []);
  const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]));
  assert.equal(formatStatus({ stats: many }).parts.length, MAX_STATS);
});

test("the status line says which transport is in use", () => {
  assert.ok(texts(formatStatus({ transport: "direct" }).parts).includes("via direct channel"));
  assert.ok(texts(formatStatus({ transport: "comm" }).parts).includes("via comm"));
  assert.ok(texts(formatStatus({ transport: "comm", transportNote: "direct channel unreachable" })
    .parts).includes("via comm (direct channel unreachable)"));
  assert.deepEqual(formatStatus({}).parts, []);
});

test("the state: busy with its seconds, paused, disconnected above all", () => {
  const busy = formatStatus({ activity: "generating", activitySince: 1000, now: 3500 });
  assert.deepEqual(busy.state, { text: "generating… 2.5 s", cls: "lcm-busy" });
  assert.equal(formatStatus({ paused: true }).state.text, "paused");
  const dead = formatStatus({ dead: true, activity: "generating", paused: true });
  assert.equal(dead.state.text, "kernel disconnected — run the cell again");
  assert.equal(dead.state.cls, "lcm-disconnected");
  const silent = formatStatus({ silent: true, activity: "generating" });
  assert.equal(silent.state.text, "kernel not answering — if it restarted, run the cell again");
});

test("a loading model's step: its count becomes a bar, its seconds run from the first step", () => {
  const s = formatStatus({ activity: "loading the model: unet (4/7)", activitySince: 0,
    now: 2500 });
  assert.equal(s.state.text, "loading the model: unet (4/7)… 2.5 s");
  assert.deepEqual(s.state.progress, { done: 3, total: 7 });
  assert.equal(s.state.title, "3 of 7 steps done");
  assert.equal(activityKind("loading the model: unet (4/7)"), "loading the model");
  assert.equal(activityKind("loading the model"), "loading the model");
  assert.equal(activityKind(undefined), "");
  assert.equal(formatStatus({ activity: "loading the model", now: 0 }).state.progress, undefined);
  assert.equal(activityProgress("loading the model: import torch"), null);
  assert.equal(activityProgress("x (0/3)"), null);
  assert.equal(activityProgress("x (4/3)"), null);
  assert.deepEqual(activityProgress("x (1/1)"), { done: 0, total: 1 });
});

test("results/s follows slow results and never reads 0", () => {
  // one result every 3 s: 0.3/s while they come
  const times = [0, 3000, 6000, 9000];
  assert.equal(resultRate(times, 9000)?.toFixed(2), "0.33");
  // drawing stopped: the figure falls, then goes (null), never 0
  assert.ok(/** @type {number} */ (resultRate(times, 20000)) < 0.33);
  assert.equal(resultRate(times, 9000 + RATE_WINDOW_MS + 1), null);
  assert.equal(resultRate([5], 10), null);
  const s = formatStatus({ paintTimes: times, now: 9000, painted: 4 });
  assert.deepEqual(texts(s.parts), ["4 results shown", "0.3 results/s"]);
  assert.equal(texts(formatStatus({ painted: 1 }).parts)[0], "1 result shown");
});

test("the kernel's medians read as words, with the stages to hover", () => {
  const s = formatStatus({ stats: { model_ms: 6618, queue_ms: 2, deliver_ms: 1.5,
    kernel_ms: 6630, samples: 5, steps: 4 } });
  assert.deepEqual(texts(s.parts), ["model 6.6 s per image", "steps 4"]);
  const title = s.parts[0].title ?? "";
  assert.match(title, /last 5 results/);
  assert.match(title, /waiting for the model: 2 ms/);
  assert.match(title, /the model making the image: 6.6 s/);
  assert.match(title, /frame received → image sent: 6.6 s/);
  assert.equal(formatDuration(850), "850 ms");
  assert.equal(formatDuration(14200), "14 s");
});

test("a result's caption names the params it was made with", () => {
  assert.equal(formatParams({ seed: 3, num_inference_steps: 4, strength: 0.5,
    guidance_scale: 1, prompt: "a house" }), "seed 3 · steps 4 · strength 0.5 · guidance 1");
  assert.equal(formatParams(null), "");
  assert.equal(formatParams({ seed: "x" }), "");
});
