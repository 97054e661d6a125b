// @ts-check
/**
 * The Sketchpad's DOM: toolbar, input canvas, output canvas and the status line.
 * Only builds elements; widget.js wires them. Class names are stable (browser tests use them):
 * .lcm-sketchpad .lcm-toolbar .lcm-brush .lcm-eraser .lcm-brush-size .lcm-color .lcm-undo
 * .lcm-redo .lcm-clear .lcm-upload .lcm-file .lcm-input .lcm-output .lcm-result-params .lcm-status
 */

/**
 * @typedef {{root: HTMLDivElement, toolbar: HTMLDivElement, brush: HTMLButtonElement,
 *   eraser: HTMLButtonElement, size: HTMLInputElement, sizeValue: HTMLSpanElement,
 *   color: HTMLInputElement, undo: HTMLButtonElement, redo: HTMLButtonElement,
 *   clear: HTMLButtonElement, upload: HTMLButtonElement, file: HTMLInputElement,
 *   input: HTMLDivElement, inputCanvas: HTMLCanvasElement, output: HTMLDivElement,
 *   outputCanvas: HTMLCanvasElement, placeholder: HTMLDivElement, resultParams: HTMLDivElement,
 *   status: HTMLDivElement}} Parts
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
  toolbar.append(brush, eraser, sizeLabel, color, h(doc, "span", "lcm-sep"), undo, redo, clear,
    h(doc, "span", "lcm-sep"), upload, file);

  const panels = h(doc, "div", "lcm-panels");
  const input = h(doc, "div", "lcm-input");
  const inputCanvas = h(doc, "canvas", "", { "aria-label": "Drawing canvas" });
  input.append(inputCanvas);
  const output = h(doc, "div", "lcm-output");
  const outputCanvas = h(doc, "canvas", "", { "aria-label": "Generated image" });
  const placeholder = h(doc, "div", "lcm-placeholder", {}, "Draw on the left; results appear here.");
  const resultParams = h(doc, "div", "lcm-result-params", { "aria-label": "Params of the result shown" });
  output.append(outputCanvas, placeholder, resultParams);
  panels.append(input, output);

  const status = h(doc, "div", "lcm-status", { "aria-live": "polite" });
  root.append(toolbar, panels, status);
  return {
    root, toolbar, brush, eraser, size, sizeValue, color, undo, redo, clear, upload, file,
    input, inputCanvas, output, outputCanvas, placeholder, resultParams, status,
  };
}

/**
 * Fill the status element.
 * @param {HTMLElement} el @param {{text: string, parts: string[], error: string}} s
 */
export function renderStatus(el, s) {
  const doc = el.ownerDocument;
  const nodes = [];
  if (s.text) nodes.push(h(doc, "span", "lcm-status-text", {}, s.text));
  if (s.error) nodes.push(h(doc, "span", "lcm-error", { role: "alert" }, s.error));
  for (const p of s.parts) nodes.push(h(doc, "span", "lcm-stat", {}, p));
  el.replaceChildren(...nodes);
}
