// @ts-check
/**
 * The status line's text, from the `status`, `stats` and `error` traits plus this view's own
 * latency figures (pure: no DOM).
 */

/** Most `stats` entries shown. */
export const MAX_STATS = 8;

/**
 * One stat as text: numbers rounded (ms and fps to 1 decimal below 10, else whole), keys with
 * underscores spaced.
 * @param {string} key @param {unknown} value
 * @returns {string|null} null for values that cannot be shown (objects, null)
 */
export function formatStat(key, value) {
  const label = key.replace(/_/g, " ");
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    const v = Math.abs(value) < 10 && !Number.isInteger(value)
      ? value.toFixed(1) : String(Math.round(value));
    return `${label} ${v}`;
  }
  if (typeof value === "string") return value ? `${label} ${value}` : null;
  if (typeof value === "boolean") return `${label} ${value ? "yes" : "no"}`;
  return null;
}

/** Stats keys the Studio sends that the status line turns into words (not shown one by one). */
const KERNEL_KEYS = new Set(["model_ms", "queue_ms", "deliver_ms", "kernel_ms", "samples"]);

/** Results/s counts the paints of the last this many ms. */
export const RATE_WINDOW_MS = 30000;

/**
 * A duration for people: `850 ms`, `2.3 s`, `14 s`.
 * @param {number} ms
 */
export function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms < 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/**
 * Results per second from the paint times `times` (ms, oldest first): the paints of the last
 * `windowMs` counted from the oldest of them until `now`, so a slow model (one result every
 * 3 s) reads 0.3, and when results stop the figure falls and then goes (null, never "0").
 * @param {readonly number[]} times @param {number} now @param {number} [windowMs]
 * @returns {number|null}
 */
export function resultRate(times, now, windowMs = RATE_WINDOW_MS) {
  const recent = times.filter((t) => now - t <= windowMs);
  if (recent.length < 2) return null;
  const span = now - recent[0];
  return span > 0 ? (recent.length - 1) * 1000 / span : null;
}

/** @param {number} r */
function formatRate(r) {
  return r < 0.1 ? r.toFixed(2) : r < 10 ? r.toFixed(1) : String(Math.round(r));
}

/**
 * @typedef {{text: string, title?: string}} StatusPart
 * @typedef {{done: number, total: number}} StatusProgress
 * @typedef {{text: string, cls: string, title?: string, progress?: StatusProgress}} StatusState
 */

/**
 * What an activity is, without its step: `loading the model` of `loading the model: unet
 * (4/7)`. The seconds shown count from when this changes, not from each step.
 * @param {unknown} activity
 */
export function activityKind(activity) {
  if (typeof activity !== "string") return "";
  const i = activity.indexOf(": ");
  return i < 0 ? activity : activity.slice(0, i);
}

/**
 * The step count at the end of an activity (`unet (4/7)`: step 4 of 7 runs, so 3 are done),
 * as the Studio writes it for a loading LocalLCM; null when there is none.
 * @param {unknown} activity
 * @returns {StatusProgress|null}
 */
export function activityProgress(activity) {
  if (typeof activity !== "string") return null;
  const m = /\((\d+)\/(\d+)\)$/.exec(activity);
  if (!m) return null;
  const step = Number(m[1]);
  const total = Number(m[2]);
  if (!(total > 0) || step < 1 || step > total) return null;
  return { done: step - 1, total };
}

/**
 * The kernel's medians (the Studio's `model_ms`, `queue_ms`, `deliver_ms`, `kernel_ms`,
 * `samples`) as one part in words, with the stage breakdown to hover.
 * @param {Record<string, unknown>} st
 * @returns {StatusPart|null}
 */
function kernelPart(st) {
  const num = (/** @type {string} */ k) => typeof st[k] === "number" && Number.isFinite(st[k])
    ? /** @type {number} */ (st[k]) : null;
  const model = num("model_ms");
  if (model === null) return null;
  const n = num("samples");
  const lines = [`Medians${n ? ` of the last ${n} results` : ""}, in the kernel:`];
  const stages = /** @type {const} */ ([["queue_ms", "waiting for the model"],
    ["model_ms", "the model making the image"], ["deliver_ms", "sending it to the browser"],
    ["kernel_ms", "frame received → image sent"]]);
  for (const [key, label] of stages) {
    const v = num(key);
    if (v !== null) lines.push(`${label}: ${formatDuration(v)}`);
  }
  return { text: `model ${formatDuration(model)} per image`, title: lines.join("\n") };
}

/**
 * The status line: a state (ready, busy, paused, disconnected), the `status` text, the error,
 * and the figures (results shown, results/s, the model's time per image, stroke → image, the
 * transport). Pure: the view passes its own counts and the time.
 * @param {{status?: unknown, stats?: unknown, error?: unknown,
 *   latencyP50?: number|null, latencyN?: number, transport?: string, transportNote?: string,
 *   activity?: unknown, activitySince?: number, now?: number, paintTimes?: readonly number[],
 *   painted?: number, paused?: boolean, dead?: boolean, silent?: boolean}} s
 * @returns {{state: StatusState, text: string, parts: StatusPart[], error: string}}
 */
export function formatStatus(s) {
  const text = typeof s.status === "string" ? s.status : "";
  const error = typeof s.error === "string" ? s.error : "";
  const now = s.now ?? Date.now();
  /** @type {StatusState} */
  let state = { text: "ready", cls: "lcm-ready" };
  if (s.dead) {
    state = { text: "kernel disconnected — run the cell again", cls: "lcm-disconnected",
      title: "This view lost its kernel (restarted or shut down); run the cell to get a new one." };
  } else if (s.silent) {
    state = { text: "kernel not answering — if it restarted, run the cell again",
      cls: "lcm-disconnected",
      title: "No answer from the kernel for 5 s: it restarted, stopped, or a cell keeps it busy." };
  } else if (typeof s.activity === "string" && s.activity) {
    const secs = Math.max(0, (now - (s.activitySince ?? now)) / 1000);
    state = { text: `${s.activity}… ${secs.toFixed(1)} s`, cls: "lcm-busy" };
    const progress = activityProgress(s.activity);
    if (progress) {
      state.progress = progress;
      state.title = `${progress.done} of ${progress.total} steps done`;
    }
  } else if (s.paused) {
    state = { text: "paused", cls: "lcm-paused", title: "Live mode is paused: press Resume." };
  }
  /** @type {StatusPart[]} */
  const parts = [];
  if (s.painted) parts.push({ text: `${s.painted} result${s.painted === 1 ? "" : "s"} shown` });
  const rate = resultRate(s.paintTimes ?? [], now);
  if (rate !== null) {
    parts.push({ text: `${formatRate(rate)} results/s`,
      title: `Results painted per second over the last ${RATE_WINDOW_MS / 1000} s` });
  }
  if (s.stats && typeof s.stats === "object" && !Array.isArray(s.stats)) {
    const st = /** @type {Record<string, unknown>} */ (s.stats);
    const k = kernelPart(st);
    if (k) parts.push(k);
    let shown = 0;
    for (const [key, v] of Object.entries(st)) {
      if (KERNEL_KEYS.has(key) || shown >= MAX_STATS) continue;
      const f = formatStat(key, v);
      if (f) {
        parts.push({ text: f });
        shown += 1;
      }
    }
  }
  if (typeof s.latencyP50 === "number" && Number.isFinite(s.latencyP50)) {
    parts.push({ text: `stroke → image ${formatDuration(s.latencyP50)}`,
      title: "From a stroke to its image on screen (this browser): the median of "
        + `${s.latencyN ? `the last ${s.latencyN}` : "recent"} results` });
  }
  if (s.transport === "direct") parts.push({ text: "via direct channel" });
  else if (s.transport === "comm") {
    parts.push({ text: s.transportNote ? `via comm (${s.transportNote})` : "via comm" });
  }
  return { state, text, parts, error };
}

/** Params shown on a result, in this order, with their short labels. */
const SHOWN_PARAMS = /** @type {const} */ ([
  ["seed", "seed"], ["num_inference_steps", "steps"], ["strength", "strength"],
  ["guidance_scale", "guidance"],
]);

/**
 * The caption of a result: the params it was made with (from `result.params`).
 * @param {unknown} params
 * @returns {string}
 */
export function formatParams(params) {
  if (!params || typeof params !== "object" || Array.isArray(params)) return "";
  const p = /** @type {Record<string, unknown>} */ (params);
  /** @type {string[]} */
  const out = [];
  for (const [key, label] of SHOWN_PARAMS) {
    const v = p[key];
    if (typeof v === "number" && Number.isFinite(v)) out.push(`${label} ${v}`);
  }
  return out.join(" · ");
}
