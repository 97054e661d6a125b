// @ts-check
/**
 * The Sketchpad's toolbar and canvas wiring: the tool buttons, brush size and colour, undo,
 * redo and clear, Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y, and a background image from the file button,
 * a paste or a drop. Only event wiring: widget.js owns the view's state, canvas.js the drawing.
 */

import * as P from "./protocol.js";

/**
 * @typedef {{get(name: string): any, set(name: string, value: any): void,
 *   save_changes(): void}} TraitModel
 */

/**
 * Wire the toolbar of one view until ``signal`` aborts. ``onFile(file)`` gets an image the
 * person chose, pasted or dropped; ``onSizeInput()`` runs while the size slider moves.
 * @param {{model: TraitModel, signal: AbortSignal, parts: import("./ui.js").Parts,
 *   sketch: import("./canvas.js").SketchCanvas, onFile: (file: Blob) => void,
 *   onSizeInput: () => void}} opts
 */
export function wireToolbar({ model, signal, parts: p, sketch, onFile, onSizeInput }) {
  const o = { signal };
  /** @param {string} name @param {any} value */
  const save = (name, value) => { model.set(name, value); model.save_changes(); };
  p.brush.addEventListener("click", () => save("tool", "brush"), o);
  p.eraser.addEventListener("click",
    () => save("tool", model.get("tool") === "eraser" ? "brush" : "eraser"), o);
  p.size.addEventListener("input", () => { sketch.size = Number(p.size.value); onSizeInput(); }, o);
  p.size.addEventListener("change", () => save("brush_size", Number(p.size.value)), o);
  p.color.addEventListener("input", () => { sketch.color = p.color.value; }, o);
  p.color.addEventListener("change", () => save("brush_color", p.color.value), o);
  p.undo.addEventListener("click", () => sketch.undo(), o);
  p.redo.addEventListener("click", () => sketch.redo(), o);
  p.clear.addEventListener("click", () => sketch.clear(P.REASON_CLEAR), o);
  p.upload.addEventListener("click", () => p.file.click(), o);
  p.file.addEventListener("change", () => {
    const f = p.file.files?.[0];
    if (f) onFile(f);
    p.file.value = "";
  }, o);
  p.root.addEventListener("pointerdown", () => p.root.focus({ preventScroll: true }), o);
  p.root.addEventListener("paste", (ev) => {
    const item = [...(ev.clipboardData?.items ?? [])].find((it) => it.type.startsWith("image/"));
    const f = item?.getAsFile();
    if (f) { ev.preventDefault(); onFile(f); }
  }, o);
  // Cancelling dragenter and dragover makes the canvas a drop target (HTML drag and drop);
  // stopping the drop keeps the page (JupyterLab) from opening the file as well.
  const over = (/** @type {DragEvent} */ ev) => {
    ev.preventDefault();
    if (ev.dataTransfer) ev.dataTransfer.dropEffect = "copy";
    p.input.classList.add("lcm-dragover");
  };
  p.input.addEventListener("dragenter", over, o);
  p.input.addEventListener("dragover", over, o);
  p.input.addEventListener("dragleave", () => p.input.classList.remove("lcm-dragover"), o);
  p.input.addEventListener("drop", (ev) => {
    ev.preventDefault();
    ev.stopPropagation();
    p.input.classList.remove("lcm-dragover");
    const f = [...(ev.dataTransfer?.files ?? [])].find((x) => x.type.startsWith("image/"));
    if (f) onFile(f);
  }, o);
  p.root.addEventListener("keydown", (ev) => {
    if (!(ev.ctrlKey || ev.metaKey) || ev.altKey) return;
    const k = ev.key.toLowerCase();
    if (k === "z" && !ev.shiftKey) sketch.undo();
    else if ((k === "z" && ev.shiftKey) || k === "y") sketch.redo();
    else return;
    ev.preventDefault();
    ev.stopPropagation();
  }, o);
}
