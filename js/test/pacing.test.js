import assert from "node:assert/strict";
import { test } from "node:test";
import { FramePacer, MAX_LATENCIES } from "../pacing.js";

test("a clean canvas sends nothing", () => {
  const p = new FramePacer();
  assert.equal(p.canSend(), false);
  assert.equal(p.begin(0), null);
});

test("one frame in flight until took(seq)", () => {
  const p = new FramePacer();
  p.markDirty(100);
  const a = p.begin(101);
  assert.deepEqual(a, { seq: 1, t_input: 100, reason: "stroke" });
  p.markDirty(110);
  assert.equal(p.canSend(), false, "a second frame waits for the credit");
  assert.equal(p.begin(111), null);
  assert.equal(p.stats().inFlight, 1);
  assert.equal(p.took(1), true);
  assert.equal(p.canSend(), true);
  const b = p.begin(120);
  assert.equal(b?.seq, 2);
  assert.equal(p.stats().maxInFlight, 1);
});

test("dirty flag keeps the oldest unsent t_input and the newest reason (newest canvas wins)", () => {
  const p = new FramePacer();
  p.took(0);
  p.markDirty(10, "stroke");
  p.markDirty(20, "stroke");
  p.markDirty(30, "undo");
  const t = p.begin(31);
  assert.deepEqual(t, { seq: 1, t_input: 10, reason: "undo" });
  assert.equal(p.dirty, false);
  assert.equal(p.stats().framesSent, 1, "three changes, one frame");
});

test("took for another view's frame does not free our credit but raises the seq floor", () => {
  const p = new FramePacer();
  p.markDirty(1);
  p.begin(1); // seq 1
  assert.equal(p.took(7), false);
  assert.equal(p.inFlight, 1);
  p.took(1);
  p.markDirty(2);
  assert.equal(p.begin(2)?.seq, 8);
});

test("observeSeq ignores non-numbers and lower seqs", () => {
  const p = new FramePacer();
  p.observeSeq(5);
  p.observeSeq(3);
  p.observeSeq(Number.NaN);
  assert.equal(p.seq, 5);
});

test("abort gives the credit back and keeps the change dirty", () => {
  const p = new FramePacer();
  p.markDirty(50, "clear");
  const t = p.begin(51);
  assert.ok(t);
  p.markDirty(60);
  p.abort(t);
  assert.equal(p.inFlight, null);
  assert.equal(p.dirty, true);
  assert.equal(p.tInput, 50, "the aborted frame's older t_input is kept");
  assert.equal(p.stats().framesSent, 0);
});

test("expire frees a credit whose took never came", () => {
  const p = new FramePacer();
  p.markDirty(0);
  p.begin(1000);
  assert.equal(p.expire(1500, 5000), false);
  assert.equal(p.expire(6000, 5000), true);
  assert.equal(p.inFlight, null);
  assert.equal(p.stats().framesExpired, 1);
  assert.equal(p.expire(7000, 5000), false, "nothing in flight");
});

test("results older than the newest painted are dropped", () => {
  const p = new FramePacer();
  const t5 = p.offerResult(5);
  assert.ok(t5 !== null && p.shouldPaint(t5, 5));
  p.painted(5, 100);
  assert.equal(p.offerResult(4), null);
  assert.equal(p.stats().resultsDropped, 1);
  const again = p.offerResult(5);
  assert.notEqual(again, null, "a re-render of the same frame (param change) is shown");
});

test("a result offered while another decodes supersedes it", () => {
  const p = new FramePacer();
  const a = p.offerResult(3);
  const b = p.offerResult(4);
  assert.ok(a !== null && b !== null);
  assert.equal(p.shouldPaint(a, 3), false);
  assert.equal(p.shouldPaint(b, 4), true);
  assert.equal(p.stats().resultsDropped, 1);
});

test("a stale result that finished decoding late is not painted", () => {
  const p = new FramePacer();
  const a = p.offerResult(2);
  assert.ok(a !== null);
  p.newestPainted = 3; // painted by a sync meanwhile
  assert.equal(p.shouldPaint(a, 2), false);
});

test("latency is t_paint - t_input of the frame the result answers, once per frame", () => {
  const p = new FramePacer();
  p.markDirty(1000);
  p.begin(1001); // seq 1, t_input 1000
  p.took(1);
  p.markDirty(1100);
  p.begin(1101); // seq 2, t_input 1100
  assert.equal(p.painted(2, 1180), 80);
  assert.equal(p.painted(2, 1300), null, "second paint of the same frame: no new latency");
  assert.equal(p.painted(1, 1400), null, "frame 1 was overtaken and forgotten");
  assert.deepEqual(p.latencies, [80]);
  const s = p.stats();
  assert.equal(s.lastLatencyMs, 80);
  assert.equal(s.p50, 80);
  assert.equal(s.resultsPainted, 3);
  assert.equal(s.newestPainted, 2);
});

test("results for frames of another view record no latency", () => {
  const p = new FramePacer();
  assert.equal(p.painted(9, 100), null);
  assert.deepEqual(p.latencies, []);
});

test("the latency list is bounded", () => {
  const p = new FramePacer();
  for (let i = 0; i < MAX_LATENCIES + 10; i++) {
    p.markDirty(i);
    const t = p.begin(i);
    assert.ok(t);
    p.took(t.seq);
    p.painted(t.seq, i + 1);
  }
  assert.equal(p.latencies.length, MAX_LATENCIES);
});

test("p50 and p95 use the project's percentile (linear interpolation between ranks)", () => {
  const p = new FramePacer();
  for (const [i, latency] of [10, 20, 30, 40].entries()) {
    p.markDirty(i * 1000);
    const t = p.begin(i * 1000);
    assert.ok(t);
    p.took(t.seq);
    p.painted(t.seq, i * 1000 + latency);
  }
  const s = p.stats();
  assert.equal(s.p50, 25, "between 20 and 30, not a sample (nearest rank gave 20)");
  assert.ok(s.p95 !== null && Math.abs(s.p95 - 38.5) < 1e-9);
  assert.equal(new FramePacer().stats().p50, null);
});

test("maxInFlight stays 1 under normal pacing (took or expiry before each next frame)", () => {
  const p = new FramePacer();
  for (let i = 0; i < 5; i++) {
    p.markDirty(i);
    const t = p.begin(i * 10_000);
    assert.ok(t);
    if (i % 2) p.took(t.seq);
    else assert.equal(p.expire(i * 10_000 + 6000, 5000), true);
  }
  p.took(999); // another view's frame: not ours, changes nothing
  assert.equal(p.stats().maxInFlight, 1);
  assert.equal(p.framesSent - p.framesTook - p.framesExpired, 0);
  assert.equal(p.framesTook, 2);
});

test("maxInFlight counts frames apart from the credit slot: a slot freed without took shows 2", () => {
  const p = new FramePacer();
  p.markDirty(0);
  const a = p.begin(0);
  assert.ok(a);
  p.inFlight = null; // a broken slot: the credit came back without took(a.seq)
  p.markDirty(1);
  assert.ok(p.begin(1), "the slot let a second frame go");
  assert.equal(p.stats().maxInFlight, 2);
});

test("maxInFlight reports 2 when a frame is counted sent before the first one's took", () => {
  const p = new FramePacer();
  p.markDirty(0);
  const a = p.begin(0);
  assert.ok(a);
  p.sent(a.seq + 1); // the counting path, as a second send would take it
  assert.equal(p.stats().maxInFlight, 2);
  p.took(a.seq);
  p.took(a.seq + 1);
  assert.equal(p.unanswered.size, 0);
  assert.equal(p.stats().maxInFlight, 2, "a high-water mark does not go down");
});

test("an aborted send is not counted in flight", () => {
  const p = new FramePacer();
  p.markDirty(0);
  const a = p.begin(0);
  assert.ok(a);
  p.abort(a);
  const b = p.begin(1);
  assert.ok(b);
  assert.equal(p.stats().maxInFlight, 1);
});

test("a late took for an expired frame is not counted again", () => {
  const p = new FramePacer();
  p.markDirty(0);
  const a = p.begin(0);
  assert.ok(a);
  assert.equal(p.expire(6000, 5000), true);
  p.markDirty(6000);
  const b = p.begin(6000);
  assert.ok(b);
  assert.equal(p.took(a.seq), false, "the credit slot holds b, not a");
  assert.equal(p.framesTook, 0);
  assert.equal(p.framesSent - p.framesTook - p.framesExpired, 1, "b is still out");
  assert.equal(p.stats().maxInFlight, 1);
});

test("stats' p50 and p95 follow each new latency (they are kept between changes)", () => {
  const p = new FramePacer();
  assert.equal(p.stats().p50, null);
  for (const [t, paint] of [[0, 10], [100, 130], [200, 290]]) {
    p.markDirty(t);
    const ticket = /** @type {{seq: number}} */ (p.begin(t));
    p.took(ticket.seq);
    p.painted(ticket.seq, paint);
    assert.equal(p.stats().p50, [10, 20, 30][p.latencies.length - 1]);
  }
  assert.equal(p.stats().p95, 84);
  // a full ring: a new latency replaces the oldest and the figures move with it
  for (let i = 0; i < MAX_LATENCIES; i += 1) {
    p.markDirty(1000 + i);
    const ticket = /** @type {{seq: number}} */ (p.begin(1000 + i));
    p.took(ticket.seq);
    p.painted(ticket.seq, 1005 + i);
  }
  assert.equal(p.stats().p50, 5);
  assert.equal(p.stats().p95, 5);
});
