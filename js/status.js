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

/**
 * @param {{status?: unknown, stats?: unknown, error?: unknown,
 *   latencyP50?: number|null, transport?: string, transportNote?: string}} s
 * @returns {{text: string, parts: string[], error: string}}
 */
export function formatStatus(s) {
  const text = typeof s.status === "string" ? s.status : "";
  const error = typeof s.error === "string" ? s.error : "";
  /** @type {string[]} */
  const parts = [];
  if (s.stats && typeof s.stats === "object" && !Array.isArray(s.stats)) {
    for (const [k, v] of Object.entries(s.stats)) {
      const f = formatStat(k, v);
      if (f) parts.push(f);
      if (parts.length >= MAX_STATS) break;
    }
  }
  if (typeof s.latencyP50 === "number" && Number.isFinite(s.latencyP50)) {
    parts.push(`stroke→pixels ${Math.round(s.latencyP50)} ms`);
  }
  if (s.transport === "direct") parts.push("via direct channel");
  else if (s.transport === "comm") {
    parts.push(s.transportNote ? `via comm (${s.transportNote})` : "via comm");
  }
  return { text, parts, error };
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
