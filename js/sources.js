// @ts-check
/**
 * The Sketchpad's other sources of frames: the webcam, and the newest result fed back as the
 * canvas (once, or in a loop). A paste or a drop of an image is the toolbar's (toolbar.js).
 *
 * The camera is off until the person turns it on. While it is on, its picture is the canvas's
 * background layer (centre-cropped to the frame size, mirrored if asked, ink drawn on top); each
 * new camera picture only marks the canvas changed, and frames leave the browser exactly as
 * strokes do: when the pacer has a credit, newest picture wins (docs/studio.md,
 * "Sources"). Nothing of the stream is kept or sent otherwise, and turning it off stops every
 * track (the browser's camera light goes out).
 *
 * Only DOM and media wiring: widget.js owns the view's state and its pacer, canvas.js the
 * layers.
 */

import { fitRect } from "./drawing.js";

export const SOURCES_STYLE_ID = "lcm-widgets-sources-style";

export const SOURCES_CSS = `
.lcm-sketchpad .lcm-sources { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; }
.lcm-sketchpad .lcm-sources button, .lcm-sketchpad .lcm-sources select {
  color: var(--lcm-fg); background: var(--lcm-btn); border: 1px solid var(--lcm-border);
  border-radius: 4px; padding: 2px 8px; min-height: 26px; font: inherit; cursor: pointer;
}
.lcm-sketchpad .lcm-sources button:disabled, .lcm-sketchpad .lcm-sources select:disabled {
  opacity: 0.45; cursor: default;
}
.lcm-sketchpad .lcm-sources button[aria-pressed="true"] {
  border-color: var(--lcm-accent); box-shadow: inset 0 0 0 1px var(--lcm-accent);
}
.lcm-sketchpad .lcm-sources select { max-width: 14em; }
.lcm-sketchpad .lcm-sources label { display: inline-flex; align-items: center; gap: 3px; }
.lcm-sketchpad .lcm-sources .lcm-camera-note { color: var(--lcm-error); }
.lcm-sketchpad .lcm-sources .lcm-camera-note:empty { display: none; }
`;

/**
 * @typedef {{bar: HTMLDivElement, camera: HTMLButtonElement, device: HTMLSelectElement,
 *   mirror: HTMLInputElement, note: HTMLSpanElement, useResult: HTMLButtonElement,
 *   loop: HTMLInputElement}} SourceParts
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

/** The sources bar (not yet attached). @param {Document} doc @returns {SourceParts} */
export function buildSourceParts(doc) {
  if (!doc.getElementById(SOURCES_STYLE_ID)) {
    const style = doc.createElement("style");
    style.id = SOURCES_STYLE_ID;
    style.textContent = SOURCES_CSS;
    doc.head.appendChild(style);
  }
  const bar = h(doc, "div", "lcm-sources", { role: "toolbar", "aria-label": "Sources" });
  const camera = h(doc, "button", "lcm-camera", {
    type: "button", title: "Draw over your webcam (off until you turn it on)",
    "aria-pressed": "false",
  }, "◉ Camera");
  const device = h(doc, "select", "lcm-camera-device", { "aria-label": "Camera", title: "Camera" });
  device.disabled = true;
  device.append(h(doc, "option", "", { value: "" }, "default camera"));
  const mirrorLabel = h(doc, "label", "lcm-mirror-label", { title: "Mirror the camera" });
  const mirror = h(doc, "input", "lcm-mirror", { type: "checkbox" });
  mirror.checked = true;
  mirrorLabel.append(mirror, doc.createTextNode("mirror"));
  const note = h(doc, "span", "lcm-camera-note", { "aria-live": "polite" });
  const useResult = h(doc, "button", "lcm-use-result", {
    type: "button", title: "Make the result shown on the right the canvas (undoable)",
  }, "⇐ Use result");
  useResult.disabled = true;
  const loopLabel = h(doc, "label", "lcm-loop-label", {
    title: "Feed every new result back as the canvas",
  });
  const loop = h(doc, "input", "lcm-loop", { type: "checkbox" });
  loopLabel.append(loop, doc.createTextNode("loop"));
  bar.append(camera, device, mirrorLabel, h(doc, "span", "lcm-sep"), useResult, loopLabel, note);
  return { bar, camera, device, mirror, note, useResult, loop };
}

/**
 * The webcam as a canvas layer: `canvas` always holds the newest picture, centre-cropped to
 * `width` x `height` and mirrored when `mirror` is set; `onPicture(t)` runs for each new one.
 */
export class CameraSource {
  /**
   * @param {Document} doc
   * @param {(t: number) => void} onPicture
   */
  constructor(doc, onPicture) {
    this.doc = doc;
    this.onPicture = onPicture;
    this.video = h(doc, "video", "", { playsinline: "", muted: "" });
    this.video.muted = true;
    this.canvas = h(doc, "canvas", "");
    /** @type {MediaStream|null} */
    this.stream = null;
    this.mirror = true;
    this.pictures = 0;
    this._loop = 0;
  }

  get on() { return this.stream !== null; }

  /** The device the picture comes from (its track's settings); "" when off. */
  get deviceId() {
    return this.stream?.getVideoTracks()[0]?.getSettings().deviceId ?? "";
  }

  /**
   * Ask for the camera (`deviceId` or the default one) and start drawing its pictures.
   * @param {string} deviceId @param {number} width @param {number} height
   */
  async start(deviceId, width, height) {
    this.stop();
    const md = globalThis.navigator?.mediaDevices;
    if (!md?.getUserMedia) {
      throw new Error("this page cannot use a camera (it needs https or localhost)");
    }
    const stream = await md.getUserMedia({
      audio: false,
      video: deviceId ? { deviceId: { exact: deviceId } } : { width: { ideal: width },
        height: { ideal: height } },
    });
    this.stream = stream;
    this.video.srcObject = stream;
    this.canvas.width = width;
    this.canvas.height = height;
    await this.video.play();
    const loop = ++this._loop;
    const tick = () => {
      if (loop !== this._loop || !this.stream) return;
      this._draw();
      this._next(tick);
    };
    this._next(tick);
  }

  /** The camera's video inputs (labels once permission was given). */
  async devices() {
    const md = globalThis.navigator?.mediaDevices;
    if (!md?.enumerateDevices) return [];
    return (await md.enumerateDevices()).filter((d) => d.kind === "videoinput");
  }

  /** Stop every track; the layer is forgotten. */
  stop() {
    this._loop += 1;
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    this.video.srcObject = null;
  }

  /** @param {() => void} cb once per new video frame (or animation frame) */
  _next(cb) {
    const v = /** @type {HTMLVideoElement & {requestVideoFrameCallback?: (cb: () => void) => number}} */ (
      this.video);
    if (typeof v.requestVideoFrameCallback === "function") v.requestVideoFrameCallback(cb);
    else requestAnimationFrame(cb);
  }

  _draw() {
    const { video, canvas } = this;
    if (!(video.videoWidth > 0 && video.videoHeight > 0)) return;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    const r = fitRect(video.videoWidth, video.videoHeight, canvas.width, canvas.height, "cover");
    ctx.save();
    if (this.mirror) {
      ctx.translate(canvas.width, 0);
      ctx.scale(-1, 1);
    }
    ctx.drawImage(video, r.x, r.y, r.width, r.height);
    ctx.restore();
    this.pictures += 1;
    this.onPicture(Date.now());
  }
}

/**
 * Wire the sources bar of one view until `signal` aborts.
 *
 * `sketch` is the view's SketchCanvas (the camera is its `live` layer); `frameSize()` the
 * current frame size; `output` the result canvas; `hasResult()` whether it shows one;
 * `changed(t, reason)` marks the canvas changed (the pacer sends it when it has a credit).
 * Returns `resultPainted()`, for the view to call after it paints each result (the loop).
 * @param {{parts: SourceParts, signal: AbortSignal, doc: Document,
 *   sketch: import("./canvas.js").SketchCanvas, frameSize: () => [number, number],
 *   output: HTMLCanvasElement, changed: (t: number, reason: string) => void,
 *   reasons: {camera: string, feedback: string}}} opts
 */
export function wireSources({ parts: p, signal, doc, sketch, frameSize, output, changed,
  reasons }) {
  const o = { signal };
  const camera = new CameraSource(doc, (t) => {
    const [w, hgt] = frameSize();
    if (camera.canvas.width !== w || camera.canvas.height !== hgt) {
      camera.canvas.width = w;
      camera.canvas.height = hgt;
    }
    sketch.live = camera.canvas;
    sketch.compose();
    changed(t, reasons.camera);
  });
  const show = () => {
    p.camera.setAttribute("aria-pressed", String(camera.on));
    p.camera.textContent = camera.on ? "■ Camera off" : "◉ Camera";
    p.device.disabled = !camera.on;
  };
  const off = () => {
    const was = camera.on;
    camera.stop();
    sketch.live = null;
    sketch.compose();
    show();
    if (was) changed(Date.now(), reasons.camera);
  };
  const on = async (/** @type {string} */ deviceId) => {
    p.note.textContent = "";
    p.camera.disabled = true;
    try {
      const [w, hgt] = frameSize();
      await camera.start(deviceId, w, hgt);
      const list = await camera.devices();
      const current = camera.deviceId || deviceId;
      p.device.replaceChildren(...list.map((d, i) => {
        const opt = h(doc, "option", "", { value: d.deviceId }, d.label || `camera ${i + 1}`);
        opt.selected = d.deviceId === current;
        return opt;
      }));
    } catch (err) {
      off();
      const e = /** @type {{name?: string, message?: string}} */ (err);
      p.note.textContent = e?.name === "NotAllowedError"
        ? "camera: permission was refused (allow it in the browser's site settings)"
        : e?.name === "NotFoundError" ? "camera: no camera found"
          : `camera: ${e?.message || String(err)}`;
    } finally {
      p.camera.disabled = false;
      show();
    }
  };
  camera.mirror = p.mirror.checked;
  p.camera.addEventListener("click", () => { if (camera.on) off(); else void on(""); }, o);
  p.device.addEventListener("change", () => { if (camera.on) void on(p.device.value); }, o);
  p.mirror.addEventListener("change", () => { camera.mirror = p.mirror.checked; }, o);
  signal.addEventListener("abort", () => camera.stop());

  let hasResult = false;
  let feeding = false;
  /** Load the result shown into the canvas (`undoable`: a click; the loop is not). */
  const feed = async (/** @type {boolean} */ undoable) => {
    if (!hasResult || feeding || signal.aborted) return;
    feeding = true;
    try {
      const bmp = await createImageBitmap(output);
      try {
        if (camera.on) off(); // the result replaces the canvas, camera picture included
        sketch.load(bmp, undoable);
      } finally {
        bmp.close();
      }
      changed(Date.now(), reasons.feedback);
    } catch (err) {
      console.warn("[lcm_widgets] could not use the result as the canvas:", err);
    } finally {
      feeding = false;
    }
  };
  p.useResult.addEventListener("click", () => void feed(true), o);
  p.loop.addEventListener("change", () => { if (p.loop.checked) void feed(false); }, o);
  return {
    camera,
    resultPainted() {
      hasResult = true;
      p.useResult.disabled = false;
      if (p.loop.checked) void feed(false);
    },
  };
}
