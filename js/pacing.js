// @ts-check
/**
 * Frame credit logic of one Sketchpad view (pure: no DOM, no clock; times are passed in).
 *
 * Frames (browser → kernel):
 *  - a change marks the canvas dirty and remembers `t_input`, the time of the oldest change not
 *    yet sent (later changes do not move it: stroke-to-pixels counts from the first unsent stroke);
 *  - at most one frame is in flight: `begin()` hands out a seq only when dirty and no frame waits
 *    for its `took(seq)`; changes made meanwhile only keep the dirty flag, so the newest canvas
 *    wins when the credit comes back;
 *  - seqs keep increasing across views and reloads: every seq seen (took, result, sync) raises
 *    the floor for the next one.
 *
 * Results (kernel → browser):
 *  - `offerResult()` drops a result whose seq is older than the newest painted one, and returns
 *    a token; a result offered later supersedes one still decoding (`shouldPaint(token)` false);
 *  - `painted()` records the stroke-to-pixels latency `t_paint - t_input` of the frame it answers
 *    (once per frame; frames it overtook are forgotten).
 *
 * `maxInFlight` is a high-water mark counted apart from the credit slot: at each send, the
 * frames sent minus those of our own frames whose `took` came back minus those expired (own
 * frames are known by their seqs, not by the slot). With the slot working it stays 1; a second
 * frame sent before the first one's `took` would show as 2.
 */

import { percentile } from "./stats.js";

/** Most latencies kept (a ring; enough for p95 of a long drag). */
export const MAX_LATENCIES = 512;

/**
 * @typedef {{seq: number, t_input: number, reason: string}} FrameTicket
 * @typedef {{framesSent: number, framesExpired: number, resultsPainted: number,
 *   resultsDropped: number, inFlight: number, maxInFlight: number, seq: number,
 *   newestPainted: number, lastLatencyMs: number|null, p50: number|null, p95: number|null}} PacerStats
 */

export class FramePacer {
  constructor() {
    /** @type {number|null} seq of the frame waiting for `took` */
    this.inFlight = null;
    /** @type {number} when the in-flight frame was sent */
    this.sentAt = 0;
    this.dirty = false;
    /** @type {number|null} time of the oldest unsent change */
    this.tInput = null;
    this.reason = "stroke";
    /** the last seq handed out or seen */
    this.seq = 0;
    /** newest seq whose result was painted (-1: none) */
    this.newestPainted = -1;
    /** @type {Map<number, number>} seq → t_input of frames sent and not yet answered */
    this.pendingInput = new Map();
    /** @type {number[]} stroke-to-pixels latencies in ms, oldest first */
    this.latencies = [];
    /** @type {Set<number>} seqs of own frames sent, neither took nor expired yet */
    this.unanswered = new Set();
    this.framesSent = 0;
    /** own frames whose `took` came back */
    this.framesTook = 0;
    this.framesExpired = 0;
    this.resultsPainted = 0;
    this.resultsDropped = 0;
    this.maxInFlight = 0;
    /** @type {number|null} */
    this.lastLatencyMs = null;
    this._offerToken = 0;
    /** @type {{n: number, p50: number|null, p95: number|null}|null} percentiles of the
     * latencies as of the `n`-th one recorded (stats() is asked for on every change) */
    this._pct = null;
    /** latencies recorded so far (the ring keeps MAX_LATENCIES) */
    this._recorded = 0;
  }

  /**
   * The canvas changed at time `t` (ms). Keeps the oldest unsent `t_input`.
   * @param {number} t @param {string} [reason]
   */
  markDirty(t, reason = "stroke") {
    if (!this.dirty) {
      this.dirty = true;
      this.tInput = t;
    }
    this.reason = reason;
  }

  /** True when a frame may be sent now (dirty, and no frame in flight). */
  canSend() {
    return this.dirty && this.inFlight === null;
  }

  /**
   * Take the credit: returns the ticket of the frame to rasterize and send, or null when no
   * frame may be sent. The canvas is clean afterwards.
   * @param {number} now
   * @returns {FrameTicket|null}
   */
  begin(now) {
    if (!this.canSend()) return null;
    const seq = ++this.seq;
    const ticket = { seq, t_input: /** @type {number} */ (this.tInput), reason: this.reason };
    this.inFlight = seq;
    this.sentAt = now;
    this.dirty = false;
    this.tInput = null;
    this.reason = "stroke";
    this.pendingInput.set(seq, ticket.t_input);
    this.sent(seq);
    return ticket;
  }

  /**
   * Count frame `seq` as sent and update the `maxInFlight` high-water mark from the counters
   * alone (sent - took - expired), not from the credit slot. `begin()` calls it.
   * @param {number} seq
   */
  sent(seq) {
    this.unanswered.add(seq);
    this.framesSent += 1;
    const outstanding = this.framesSent - this.framesTook - this.framesExpired;
    this.maxInFlight = Math.max(this.maxInFlight, outstanding);
  }

  /**
   * Sending the frame failed (encoding error): give the credit back and keep the change unsent.
   * @param {FrameTicket} ticket
   */
  abort(ticket) {
    if (this.inFlight === ticket.seq) this.inFlight = null;
    this.pendingInput.delete(ticket.seq);
    if (this.unanswered.delete(ticket.seq)) this.framesSent -= 1;
    this.markDirty(ticket.t_input, ticket.reason);
    if (this.tInput !== null && ticket.t_input < this.tInput) this.tInput = ticket.t_input;
  }

  /**
   * The kernel copied frame `seq` (this view's or another view's): the credit returns if it was
   * ours. Returns true when it was ours.
   * @param {number} seq
   */
  took(seq) {
    this.observeSeq(seq);
    if (this.unanswered.delete(seq)) this.framesTook += 1;
    if (this.inFlight !== null && seq === this.inFlight) {
      this.inFlight = null;
      return true;
    }
    return false;
  }

  /**
   * Forget a frame whose `took` never came (kernel restarted, message lost) after `timeoutMs`.
   * Returns true when the credit was taken back.
   * @param {number} now @param {number} timeoutMs
   */
  expire(now, timeoutMs) {
    if (this.inFlight !== null && now - this.sentAt >= timeoutMs) {
      this.unanswered.delete(this.inFlight);
      this.inFlight = null;
      this.framesExpired += 1;
      return true;
    }
    return false;
  }

  /**
   * Raise the seq floor: the next frame gets a seq above `seq`.
   * @param {number} seq
   */
  observeSeq(seq) {
    if (Number.isFinite(seq) && seq > this.seq) this.seq = Math.floor(seq);
  }

  /**
   * A result for frame `seq` arrived. Returns a token to paint it with, or null when it is stale
   * (older than the newest painted result) and must be dropped.
   * @param {number} seq
   * @returns {number|null}
   */
  offerResult(seq) {
    this.observeSeq(seq);
    if (seq < this.newestPainted) {
      this.resultsDropped += 1;
      return null;
    }
    this._offerToken += 1;
    return this._offerToken;
  }

  /**
   * After decoding: paint only if no newer result was offered meanwhile and it is not stale.
   * Counts a drop when it returns false.
   * @param {number} token @param {number} seq
   */
  shouldPaint(token, seq) {
    if (token !== this._offerToken || seq < this.newestPainted) {
      this.resultsDropped += 1;
      return false;
    }
    return true;
  }

  /**
   * The result for frame `seq` is on screen at `tPaint`. Returns the stroke-to-pixels latency in
   * ms when this is the first result painted for a frame this view sent, else null.
   * @param {number} seq @param {number} tPaint
   * @returns {number|null}
   */
  painted(seq, tPaint) {
    this.resultsPainted += 1;
    if (seq > this.newestPainted) this.newestPainted = seq;
    const tInput = this.pendingInput.get(seq);
    for (const s of [...this.pendingInput.keys()]) {
      if (s <= seq) this.pendingInput.delete(s);
    }
    if (tInput === undefined) return null;
    const latency = tPaint - tInput;
    this.lastLatencyMs = latency;
    this.latencies.push(latency);
    this._recorded += 1;
    if (this.latencies.length > MAX_LATENCIES) this.latencies.shift();
    return latency;
  }

  /** @returns {PacerStats} */
  stats() {
    if (this._pct === null || this._pct.n !== this._recorded) {
      this._pct = { n: this._recorded, p50: percentile(this.latencies, 50),
        p95: percentile(this.latencies, 95) };
    }
    return {
      framesSent: this.framesSent,
      framesExpired: this.framesExpired,
      resultsPainted: this.resultsPainted,
      resultsDropped: this.resultsDropped,
      inFlight: this.inFlight === null ? 0 : 1,
      maxInFlight: this.maxInFlight,
      seq: this.seq,
      newestPainted: this.newestPainted,
      lastLatencyMs: this.lastLatencyMs,
      p50: this._pct.p50,
      p95: this._pct.p95,
    };
  }
}
