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
.lcm-sketchpad.lcm-no-output .lcm-output { display: none; }
.lcm-sketchpad .lcm-status {
  display: flex; flex-wrap: wrap; gap: 4px 12px; color: var(--lcm-muted); min-height: 1.4em;
  font-variant-numeric: tabular-nums;
}
.lcm-sketchpad .lcm-status .lcm-status-text { color: var(--lcm-fg); }
.lcm-sketchpad .lcm-status .lcm-error { color: var(--lcm-error); font-weight: 600; }
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
