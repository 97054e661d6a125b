// @ts-check
/**
 * The Sketchpad's DOM: toolbar, input canvas, output canvas and the status line.
 * Only builds elements; widget.js wires them. Class names are stable (browser tests use them):
 * .lcm-sketchpad .lcm-toolbar .lcm-brush .lcm-eraser .lcm-brush-size .lcm-color .lcm-undo
 * .lcm-redo .lcm-clear .lcm-upload .lcm-file .lcm-pause .lcm-download .lcm-input .lcm-output
 * .lcm-result-params .lcm-stale-note .lcm-history .lcm-status (.lcm-state, .lcm-progress,
 * .lcm-status-text, .lcm-error, .lcm-stat)
 */

/**
 * @typedef {{root: HTMLDivElement, toolbar: HTMLDivElement, brush: HTMLButtonElement,
 *   eraser: HTMLButtonElement, size: HTMLInputElement, sizeValue: HTMLSpanElement,
 *   color: HTMLInputElement, undo: HTMLButtonElement, redo: HTMLButtonElement,
 *   clear: HTMLButtonElement, upload: HTMLButtonElement, file: HTMLInputElement,
 *   input: HTMLDivElement, inputCanvas: HTMLCanvasElement, output: HTMLDivElement,
 *   outputCanvas: HTMLCanvasElement, placeholder: HTMLDivElement, resultParams: HTMLDivElement,
 *   pause: HTMLButtonElement, download: HTMLButtonElement, staleNote: HTMLDivElement,
 *   history: HTMLDivElement, status: HTMLDivElement}} Parts
 */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {Document} doc @param {K} tag @param {string} cls
 * @param {Record<string, string>} [attrs] @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(doc, tag, cls, attrs = {}, text = "") {
  const el = doc.createElement(tag);
  if (cls) el.className = cls;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text) el.textContent = text;
  return el;
}

/**
 * @param {Document} doc @param {string} cls @param {string} label @param {string} title
 * @returns {HTMLButtonElement}
 */
function button(doc, cls, label, title) {
  return h(doc, "button", cls, { type: "button", title, "aria-label": title }, label);
}

/**
 * Build the view's elements (not yet attached).
 * @param {Document} doc
 * @returns {Parts}
 */
export function buildParts(doc) {
  const root = h(doc, "div", "lcm-sketchpad", {
    tabindex: "0",
    // Lumino (JupyterLab) skips its keyboard shortcuts inside this element, so Ctrl+Z undoes
    // a stroke instead of a cell edit.
    "data-lm-suppress-shortcuts": "true",
  });
  const toolbar = h(doc, "div", "lcm-toolbar", { role: "toolbar" });
  const brush = button(doc, "lcm-brush", "✎ Brush", "Brush");
  const eraser = button(doc, "lcm-eraser", "⌫ Eraser", "Eraser");
  const sizeLabel = h(doc, "label", "lcm-size-label", { title: "Brush size" }, "Size");
  const size = h(doc, "input", "lcm-brush-size", {
    type: "range", min: "1", max: "200", step: "1", "aria-label": "Brush size",
  });
  const sizeValue = h(doc, "span", "lcm-size-value");
  sizeLabel.append(size, sizeValue);
  const color = h(doc, "input", "lcm-color", {
    type: "color", title: "Brush colour", "aria-label": "Brush colour",
  });
  const undo = button(doc, "lcm-undo", "↶ Undo", "Undo (Ctrl+Z)");
  const redo = button(doc, "lcm-redo", "↷ Redo", "Redo (Ctrl+Shift+Z)");
  const clear = button(doc, "lcm-clear", "Clear", "Clear the canvas");
  const upload = button(doc, "lcm-upload", "Image…",
    "Background image (or paste one, or drop a file on the canvas)");
  const file = h(doc, "input", "lcm-file", { type: "file", accept: "image/*", tabindex: "-1" });
  const pause = button(doc, "lcm-pause", "‖ Pause",
    "Pause live mode: draw without generating; Resume renders the newest drawing");
  pause.setAttribute("aria-pressed", "false");
  const download = button(doc, "lcm-download", "⤓ PNG",
    "Download the image shown, as PNG with its prompt, seed, steps and strength");
  download.disabled = true;
  toolbar.append(brush, eraser, sizeLabel, color, h(doc, "span", "lcm-sep"), undo, redo, clear,
    h(doc, "span", "lcm-sep"), upload, file, h(doc, "span", "lcm-sep"), pause, download);

  const panels = h(doc, "div", "lcm-panels");
  const input = h(doc, "div", "lcm-input");
  const inputCanvas = h(doc, "canvas", "", { "aria-label": "Drawing canvas" });
  input.append(inputCanvas);
  const output = h(doc, "div", "lcm-output");
  const outputCanvas = h(doc, "canvas", "", { "aria-label": "Generated image" });
  const placeholder = h(doc, "div", "lcm-placeholder", {}, "Draw on the left; results appear here.");
  const resultParams = h(doc, "div", "lcm-result-params", { "aria-label": "Params of the result shown" });
  const staleNote = h(doc, "div", "lcm-stale-note", { role: "status" });
  output.append(outputCanvas, placeholder, resultParams, staleNote);
  panels.append(input, output);
  const history = h(doc, "div", "lcm-history", {
    role: "toolbar", "aria-label": "Recent results: click one to use its settings again",
  });
  history.hidden = true;

  const status = h(doc, "div", "lcm-status", { "aria-live": "polite" });
  root.append(toolbar, panels, history, status);
  return {
    root, toolbar, brush, eraser, size, sizeValue, color, undo, redo, clear, upload, file,
    input, inputCanvas, output, outputCanvas, placeholder, resultParams, pause, download,
    staleNote, history, status,
  };
}

/** Per status element: what its state row shows (a key), so an unchanged row is left alone. */
const statusRows = new WeakMap();

/**
 * Fill the status element: two rows of fixed height (state, text and error; the figures),
 * each cut with an ellipsis rather than wrapped, so the controls below never move; hovering
 * shows the whole row and each figure's breakdown. Live, only the figures move: the state
 * row is kept when it reads the same, and figures keep their nodes (new text only) while
 * their number stays.
 * @param {HTMLElement} el @param {ReturnType<typeof import("./status.js").formatStatus>} s
 */
export function renderStatus(el, s) {
  const mainKey = JSON.stringify([s.state, s.text, s.error]);
  const [oldMain, oldFigures] = Array.from(el.children);
  if (oldMain && oldFigures && statusRows.get(el) === mainKey
      && oldFigures.children.length === s.parts.length) {
    s.parts.forEach((p, i) => {
      const span = /** @type {HTMLElement} */ (oldFigures.children[i]);
      if (span.textContent !== p.text) span.textContent = p.text;
      const title = p.title ?? "";
      if (span.title !== title) span.title = title;
    });
    const all = s.parts.map((p) => p.text).join(" · ");
    if (/** @type {HTMLElement} */ (oldFigures).title !== all) {
      /** @type {HTMLElement} */ (oldFigures).title = all;
    }
    return;
  }
  statusRows.set(el, mainKey);
  const doc = el.ownerDocument;
  const main = h(doc, "div", "lcm-status-main");
  const state = h(doc, "span", `lcm-state ${s.state.cls}`, {}, s.state.text);
  if (s.state.title) state.title = s.state.title;
  main.append(state);
  const pr = s.state.progress;
  if (pr) {
    // A thin bar of the steps done (a loading model), for the eye; the text has the count.
    const pct = Math.round(100 * pr.done / pr.total);
    const bar = h(doc, "span", "lcm-progress", {
      role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(pr.total),
      "aria-valuenow": String(pr.done), title: `${pr.done} of ${pr.total} steps done`,
    });
    const fill = h(doc, "span", "lcm-progress-fill");
    fill.style.width = `${pct}%`;
    bar.append(fill);
    main.append(bar);
  }
  if (s.text) main.append(h(doc, "span", "lcm-status-text", {}, s.text));
  if (s.error) main.append(h(doc, "span", "lcm-error", { role: "alert" }, s.error));
  main.title = [s.state.text, s.text, s.error].filter(Boolean).join(" · ");
  const figures = h(doc, "div", "lcm-status-figures");
  for (const p of s.parts) {
    const span = h(doc, "span", "lcm-stat", {}, p.text);
    if (p.title) span.title = p.title;
    figures.append(span);
  }
  figures.title = s.parts.map((p) => p.text).join(" · ");
  el.replaceChildren(main, figures);
}
