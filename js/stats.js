// @ts-check
/**
 * Order statistics of the browser, with the project's one percentile definition: the same as
 * `lcm_widgets.stats.percentile` in Python (tests/test_percentile_parity.py runs both on the
 * same samples), so a p50 from the page and one from the kernel mean the same thing.
 *
 * Pure: no DOM.
 */

/**
 * The `q`-th percentile (0..100) of `values` by linear interpolation between the closest ranks
 * (numpy's default `method="linear"`): for `n` sorted samples it sits at position
 * `(n - 1) * q / 100`. Returns null when `values` is empty (Python raises there); throws a
 * RangeError for `q` outside [0, 100] or a NaN sample, as Python raises ValueError.
 * @param {readonly number[]} values @param {number} q
 * @returns {number|null}
 */
export function percentile(values, q) {
  if (!(q >= 0 && q <= 100)) throw new RangeError(`q: must be between 0 and 100, got ${q}`);
  if (values.length === 0) return null;
  if (values.some(Number.isNaN)) throw new RangeError("values: must not contain NaN");
  const xs = [...values].sort((a, b) => a - b);
  const pos = (xs.length - 1) * q / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, xs.length - 1);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
}
