// The filters view: the kernels of one conv layer as a filter grid, with
// their relative change over the epochs, and below them, per visualized
// layer, what each channel looks for (feature visualizations) at the epoch
// shown: the epoch slider and Play animate them.

import * as draw from "../draw.js";
import { el, pct, select, shapeText, stepLabel } from "../dom.js";
import * as fviz from "./feature_viz.js";

/**
 * Render the kernels of `app.filterLayer` (the first conv layer by default) at the current step.
 * @param {import("../app.js").FlowApp} app
 * @param {number} token render token; a newer render makes this one stop
 */
export async function renderFilters(app, token) {
  const convs = app.info.layers.filter((l) => l.is_conv && l.logged !== false);
  app.detail.hidden = true;
  if (!convs.length) {
    app.main.replaceChildren(el("p", { class: "muted", text: "This model has no convolution layers with logged kernels." }));
    return;
  }
  if (!app.filterLayer || !convs.some((l) => l.name === app.filterLayer)) app.filterLayer = convs[0].name;
  const layer = convs.find((l) => l.name === app.filterLayer);
  const step = app.step();
  const [kpack, index] = await Promise.all([app.api.kernels(app.run, step, layer.name).catch((e) => e), fviz.featureVizIndex(app)]);
  if (token !== app.token) return;
  const rec = fviz.recordAt(index, step);
  const order = new Map(app.info.layers.map((l, i) => [l.name, i]));
  const vizLayers = rec ? Object.keys(rec.layers).sort((a, b) => (order.get(a) ?? 1e9) - (order.get(b) ?? 1e9)) : [];
  const bitmaps = await Promise.all(vizLayers.map((name) => fviz.strip(app, rec.step, name)));
  if (token !== app.token) return;
  const pick = select(convs.map((l) => [l.name, l.name]), layer.name, (v) => app.setOption("filterLayer", v), { class: "filter-layer" });
  const body = el("div", { class: "filters-body" });
  if (kpack instanceof Error) body.append(el("p", { class: "muted", text: kpack.message }));
  else {
    const entry = kpack.arrays.get(`${layer.name}/kernel`);
    if (!entry) body.append(el("p", { class: "muted", text: "no kernels logged for this layer at this epoch" }));
    else {
      const c = el("canvas", { class: "kernel-grid big" });
      const colsN = draw.kernelColumns(entry.shape[3]);
      draw.drawKernelGrid(c, entry, colsN);
      c.style.width = `${Math.min(900, Math.max(360, colsN * (entry.shape[1] + 1) * 26))}px`;
      body.append(c);
    }
  }
  const changes = app.series((e) => (e.kernel_change || {})[layer.name]);
  const spark = el("canvas", { class: "spark" });
  draw.drawSparkline(spark, changes, app.idx, 260, 40);
  const cur = changes[app.idx];
  const side = el("div", { class: "filters-side" }, [
    el("div", { class: "big-number", text: cur === null ? "–" : pct(cur) }),
    el("div", { class: "muted", text: `relative L2 change of the kernels at ${stepLabel(step)} vs the previous logged step` }),
    spark,
    el("div", { class: "muted", text: `${layer.class} · kernel ${shapeText(layer.kernel_shape)} · press Play to watch the filters evolve` }),
  ]);
  app.main.replaceChildren(
    featureVizSection(app, index, rec, vizLayers, bitmaps, step),
    el("div", { class: "view-title" }, [el("span", { text: "Filters of " }), pick, el("span", { class: "muted", text: ` · ${stepLabel(step)}` })]),
    el("div", { class: "filters" }, [body, side]),
  );
}

/** Per visualized layer, a row of its channels' feature visualizations at the epoch shown. */
function featureVizSection(app, index, rec, vizLayers, bitmaps, step) {
  const box = el("section", { class: "fviz-section", data: { step: rec ? rec.step : "" } }, [
    el("div", { class: "view-title", text: "What each channel looks for" }),
    el("p", { class: "muted", text: "Feature visualization: for each channel, the input image optimised to raise the channel's mean activation (1/f-scaled DCT image, decorrelated colour, random jitter, scale and rotation). The same seed at every epoch, so the images change only because the network did." }),
  ]);
  if (!rec) {
    const first = index.steps.length ? ` The first is at ${stepLabel(index.steps[0])}.` : "";
    box.append(el("p", { class: "muted fviz-empty", text: `No feature visualizations at or before ${stepLabel(step)}.${first} The writer makes them every 5 epochs and after the last one, within 5% of the training time (option feature_viz=).` }));
    return box;
  }
  for (let i = 0; i < vizLayers.length; i++) {
    const name = vizLayers[i];
    const info = app.info.layers.find((l) => l.name === name);
    const head = el("div", { class: "fviz-head" }, [
      el("span", { class: "fviz-layer", text: name }),
      el("span", { class: "muted", text: ` · ${info ? info.class : ""} · ${fviz.note(rec, step)}` }),
    ]);
    box.append(el("div", { class: "fviz-block", data: { layer: name } }, [head, fviz.tiles(rec, name, bitmaps[i])]));
  }
  const c = rec.cost || {};
  if (c.share !== null && c.share !== undefined) {
    const limit = c.max_share === null || c.max_share === undefined ? "no limit set" : `limit ${pct(c.max_share)}`;
    box.append(el("p", { class: "muted fviz-cost", text: `Feature visualization has taken ${pct(c.share)} of the training time so far (${limit}); ${index.steps.length} of ${app.epochs.steps.length} logged epochs have it.` }));
  }
  return box;
}
