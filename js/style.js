// @ts-check
/**
 * The Sketchpad's stylesheet. Colours come from JupyterLab's theme variables (with fallbacks for
 * Notebook 7, Voila, VS Code, Colab), so it reads well in light and dark themes. The drawing
 * surface itself stays white: it is what the model sees.
 */

export const STYLE_ID = "lcm-widgets-sketchpad-style";

export const CSS = `
.lcm-sketchpad {
  --lcm-fg: var(--jp-ui-font-color1, var(--vscode-editor-foreground, #1f2328));
  --lcm-muted: var(--jp-ui-font-color2, #656d76);
  --lcm-bg: var(--jp-layout-color1, transparent);
  --lcm-btn: var(--jp-layout-color2, rgba(127,127,127,0.12));
  --lcm-btn-hover: var(--jp-layout-color3, rgba(127,127,127,0.24));
  --lcm-border: var(--jp-border-color1, rgba(127,127,127,0.45));
  --lcm-accent: var(--jp-brand-color1, #1976d2);
  --lcm-error: var(--jp-error-color1, #d32f2f);
  display: flex; flex-direction: column; gap: 6px; padding: 4px 0;
  color: var(--lcm-fg); font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px); outline: none; max-width: 100%;
}
.lcm-sketchpad .lcm-toolbar {
  display: flex; flex-wrap: wrap; align-items: center; gap: 4px;
}
.lcm-sketchpad .lcm-toolbar button {
  color: var(--lcm-fg); background: var(--lcm-btn); border: 1px solid var(--lcm-border);
  border-radius: 4px; padding: 2px 8px; min-height: 26px; font: inherit; cursor: pointer;
}
.lcm-sketchpad .lcm-toolbar button:hover:not(:disabled) { background: var(--lcm-btn-hover); }
.lcm-sketchpad .lcm-toolbar button:disabled { opacity: 0.45; cursor: default; }
.lcm-sketchpad .lcm-toolbar button[aria-pressed="true"] {
  border-color: var(--lcm-accent); box-shadow: inset 0 0 0 1px var(--lcm-accent);
}
.lcm-sketchpad .lcm-sep { width: 1px; align-self: stretch; background: var(--lcm-border); margin: 0 4px; }
.lcm-sketchpad .lcm-size-label { display: inline-flex; align-items: center; gap: 4px; }
.lcm-sketchpad .lcm-brush-size { width: 96px; accent-color: var(--lcm-accent); }
.lcm-sketchpad .lcm-size-value { min-width: 2.5em; font-variant-numeric: tabular-nums; color: var(--lcm-muted); }
.lcm-sketchpad .lcm-color {
  width: 30px; height: 26px; padding: 0 2px; border: 1px solid var(--lcm-border);
  border-radius: 4px; background: var(--lcm-btn); cursor: pointer;
}
.lcm-sketchpad .lcm-file { display: none; }
.lcm-sketchpad .lcm-panels {
  display: flex; flex-wrap: nowrap; gap: 8px; align-items: flex-start; max-width: 100%;
  overflow-x: auto;
}
.lcm-sketchpad .lcm-input, .lcm-sketchpad .lcm-output {
  position: relative; line-height: 0; border: 1px solid var(--lcm-border); border-radius: 4px;
  overflow: hidden; background: #ffffff; flex: 0 1 auto; min-width: 120px; box-sizing: border-box;
}
.lcm-sketchpad .lcm-input canvas, .lcm-sketchpad .lcm-output canvas {
  display: block; width: 100%; height: auto;
}
.lcm-sketchpad .lcm-input canvas { touch-action: none; cursor: crosshair; }
.lcm-sketchpad .lcm-input.lcm-eraser-on canvas { cursor: cell; }
.lcm-sketchpad .lcm-input.lcm-mask-on canvas { cursor: copy; }
.lcm-sketchpad .lcm-input.lcm-dragover { outline: 2px dashed var(--lcm-accent); outline-offset: -4px; }
.lcm-sketchpad .lcm-output { background: var(--lcm-btn); }
.lcm-sketchpad .lcm-output .lcm-placeholder {
  position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  line-height: 1.4; color: var(--lcm-muted); text-align: center; padding: 8px; pointer-events: none;
}
.lcm-sketchpad .lcm-output.lcm-has-result .lcm-placeholder { display: none; }
.lcm-sketchpad .lcm-output .lcm-result-params {
  position: absolute; left: 0; right: 0; bottom: 0; padding: 2px 6px; line-height: 1.4;
  font-size: 11px; color: #fff; background: rgba(0, 0, 0, 0.45); pointer-events: none;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.lcm-sketchpad .lcm-output .lcm-result-params:empty { display: none; }
.lcm-sketchpad.lcm-no-output .lcm-output, .lcm-sketchpad.lcm-no-output .lcm-download {
  display: none;
}
.lcm-sketchpad .lcm-status {
  display: flex; flex-direction: column; color: var(--lcm-muted); line-height: 1.5em;
  height: 3em; overflow: hidden; font-variant-numeric: tabular-nums;
}
/* The status rows and the history strip take the width the rest gives them and never widen
   the view (width 0, then 100% of it): in a narrow box (a Compare's canvas) their rows end in
   an ellipsis instead of being cut by the box. */
.lcm-sketchpad .lcm-status, .lcm-sketchpad .lcm-history { width: 0; min-width: 100%; }
.lcm-sketchpad .lcm-status-main, .lcm-sketchpad .lcm-status-figures {
  display: block; height: 1.5em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.lcm-sketchpad .lcm-status-main > span, .lcm-sketchpad .lcm-status-figures > span {
  margin-right: 12px;
}
.lcm-sketchpad .lcm-status .lcm-status-text { color: var(--lcm-fg); }
.lcm-sketchpad .lcm-status .lcm-error { color: var(--lcm-error); font-weight: 600; }
.lcm-sketchpad .lcm-state { color: var(--lcm-fg); font-weight: 600; }
.lcm-sketchpad .lcm-state.lcm-busy::before {
  content: ""; display: inline-block; width: 0.7em; height: 0.7em; margin-right: 0.35em;
  border: 2px solid var(--lcm-accent); border-right-color: transparent; border-radius: 50%;
  vertical-align: -0.1em; animation: lcm-spin 0.8s linear infinite;
}
@keyframes lcm-spin { to { transform: rotate(360deg); } }
.lcm-sketchpad .lcm-status .lcm-progress {
  display: inline-block; width: 64px; height: 4px; vertical-align: middle; border-radius: 2px;
  background: var(--lcm-btn-hover); overflow: hidden;
}
.lcm-sketchpad .lcm-status .lcm-progress-fill {
  display: block; height: 100%; background: var(--lcm-accent); transition: width 0.2s;
}
.lcm-sketchpad .lcm-state.lcm-disconnected { color: var(--lcm-error); }
.lcm-sketchpad .lcm-state.lcm-paused { color: var(--lcm-accent); }
.lcm-sketchpad.lcm-dead .lcm-input canvas { pointer-events: none; opacity: 0.5; }
.lcm-sketchpad .lcm-output .lcm-stale-note {
  position: absolute; left: 0; right: 0; top: 0; padding: 4px 6px; line-height: 1.4;
  font-size: 12px; color: #fff; background: rgba(160, 40, 0, 0.8); pointer-events: none;
}
.lcm-sketchpad .lcm-output .lcm-stale-note:empty { display: none; }
.lcm-sketchpad .lcm-output.lcm-stale canvas { opacity: 0.55; filter: grayscale(0.6); }
.lcm-sketchpad .lcm-history {
  display: flex; gap: 4px; overflow-x: auto; max-width: 100%; line-height: 0;
}
.lcm-sketchpad .lcm-history[hidden] { display: none; }
.lcm-sketchpad .lcm-history-item {
  padding: 0; border: 2px solid var(--lcm-border); border-radius: 3px; background: none;
  cursor: pointer; flex: 0 0 auto;
}
.lcm-sketchpad .lcm-history-item[aria-current="true"] { border-color: var(--lcm-accent); }
.lcm-sketchpad .lcm-history-item canvas { display: block; width: 48px; height: auto; }
`;

/**
 * Add the stylesheet to `doc` once (one per document, shared by every view).
 * @param {Document} doc
 */
export function injectStyle(doc) {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  doc.head.appendChild(style);
}
