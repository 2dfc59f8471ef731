// Feature visualizations: the image that most excites each channel of a
// layer, re-synthesised by the writer at some epochs (/feature_viz and
// /feature_viz_image, see API.md). Shared by the filters view and the detail
// panel: which record belongs to the epoch on screen, loading the PNG strips,
// drawing one channel's tile.

import { el, fmt, stepLabel } from "../dom.js";

/**
 * The run's feature visualization index (cached until the epochs change).
 * @param {import("../app.js").FlowApp} app
 * @returns {Promise<{steps: number[], layers: object, records: object[]}>}
 */
export function featureVizIndex(app) {
  const steps = app.epochs ? app.epochs.steps : [];
  const version = `${steps.length}:${steps[steps.length - 1]}`;
  return app.api.featureViz(app.run, version).catch(() => ({ steps: [], layers: {}, records: [] }));
}

/**
 * The record shown at `step`: the latest one at or before it (null before the first).
 * @returns {object|null}
 */
export function recordAt(index, step) {
  let best = null;
  for (const r of index.records) if (r.step <= step && (!best || r.step > best.step)) best = r;
  return best;
}

/** The decoded strip of `layer` at `step` (an ImageBitmap), or an Error. */
export function strip(app, step, layer) {
  return app.api.featureVizImage(app.run, step, layer).catch((e) => e);
}

/**
 * Draw channel tile `k` of `bitmap` (tiles of `h`×`w`, left to right) on `canvas`.
 * @param {HTMLCanvasElement} canvas
 */
export function drawTile(canvas, bitmap, k, h, w) {
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(bitmap, k * w, 0, w, h, 0, 0, w, h);
}

/**
 * Figures of every channel of `layer` in record `rec` (a <div class="fviz-row">).
 * @param {object} rec a record of the index
 * @param {string} layer
 * @param {ImageBitmap|Error} bitmap
 * @param {{max?: number, caption?: (ch:number, k:number) => string}} [opts]
 */
export function tiles(rec, layer, bitmap, opts = {}) {
  const entry = rec.layers[layer];
  const row = el("div", { class: "fviz-row", data: { layer, step: rec.step } });
  if (bitmap instanceof Error || !bitmap) {
    row.append(el("p", { class: "muted", text: bitmap ? bitmap.message : "not loaded" }));
    return row;
  }
  const [h, w] = entry.image_shape;
  const n = Math.min(entry.channels.length, opts.max || entry.channels.length, Math.floor(bitmap.width / w));
  for (let k = 0; k < n; k++) {
    const c = el("canvas", { class: "fviz" });
    drawTile(c, bitmap, k, h, w);
    const ch = entry.channels[k];
    const obj = entry.objective ? entry.objective[k] : null;
    const caption = opts.caption ? opts.caption(ch, k) : `ch ${ch}`;
    row.append(
      el("figure", { class: "fviz-tile", data: { channel: ch }, title: `channel ${ch}: mean activation ${obj === null || obj === undefined ? "–" : fmt(obj)} on its own image` }, [
        c,
        el("figcaption", { text: caption }),
      ]),
    );
  }
  return row;
}

/** The line under a layer's row: which epoch the images were made at and how. */
export function note(rec, step) {
  const when = rec.step === step ? stepLabel(rec.step) : `${stepLabel(rec.step)} (the latest at or before ${stepLabel(step)})`;
  return `made at ${when} · ${rec.steps} steps of gradient ascent from seed ${rec.seed}`;
}
