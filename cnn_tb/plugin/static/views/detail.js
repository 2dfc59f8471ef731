// The detail panel of the selected layer: its feature maps, kernels,
// heatmaps on the probe image and statistics over the epochs.

import * as draw from "../draw.js";
import { className, el, field, fmt, pct, probeName, select, shapeText, stepLabel } from "../dom.js";
import * as fviz from "./feature_viz.js";
import { addChannelExamples } from "./examples.js";

const STAT_ROWS = ["mean", "std", "min", "max", "zero_frac", "neg_frac", "dead_frac"];
const FRACTIONS = new Set(["zero_frac", "neg_frac", "dead_frac"]);

/**
 * Fill and show `app.detail` for `app.selected` (hidden when that layer is gone).
 * @param {import("../app.js").FlowApp} app
 * @param {number} token render token; a newer render makes this one stop
 */
export async function renderDetail(app, token) {
  const layer = app.info.layers.find((l) => l.name === app.selected);
  if (!layer) {
    app.detail.hidden = true;
    return;
  }
  const step = app.step();
  const probe = app.probe;
  const wantsKernel = layer.is_conv;
  const [pack, image, kpack, index] = await Promise.all([
    app.api.activations(app.run, probe, step).catch((e) => e),
    app.probeImage(probe),
    wantsKernel ? app.api.kernels(app.run, step, layer.name).catch((e) => e) : Promise.resolve(null),
    fviz.featureVizIndex(app),
  ]);
  if (token !== app.token) return;
  const rec = fviz.recordAt(index, step);
  const vizRec = rec && rec.layers[layer.name] ? rec : null;
  const bitmap = vizRec ? await fviz.strip(app, vizRec.step, layer.name) : null;
  if (token !== app.token) return;
  const arrays = pack instanceof Error ? {} : pack.layers.get(layer.name) || {};
  const close = el("button", { class: "btn icon close", text: "×", title: "close" });
  close.addEventListener("click", (ev) => {
    ev.stopPropagation();
    app.selected = null;
    app.renderView();
  });
  const head = el("div", { class: "detail-head" }, [
    el("h3", { text: layer.name }),
    el("span", { class: "muted", text: `${layer.class} · output ${shapeText(layer.output_shape)} · ${layer.params.toLocaleString()} params${layer.activation ? ` · ${layer.activation}` : ""}` }),
    layer.inbound.length ? el("span", { class: "muted", text: ` · inputs: ${layer.inbound.join(", ")}` }) : null,
    el("span", { class: "muted", text: ` · ${probeName(probe)} · ${stepLabel(step)}` }),
    close,
  ]);
  const sections = [];
  sections.push(mapsSection(app, layer, arrays));
  if (vizRec) sections.push(featureVizSection(app, layer, vizRec, bitmap, arrays, kpack, step));
  if (wantsKernel) sections.push(kernelSection(app, layer, kpack));
  sections.push(heatmapSection(app, layer, arrays, image));
  sections.push(statsSection(app, layer));
  app.detail.replaceChildren(head, el("div", { class: "detail-body" }, sections.filter(Boolean)));
  app.detail.dataset.layer = layer.name;
  app.detail.hidden = false;
  await addChannelExamples(app, layer, token);
}

/** Feature maps of the probe (a grid of channels), or the vector strip. */
function mapsSection(app, layer, arrays) {
  const maps = arrays.maps;
  const box = el("section", { class: "maps-section" }, [el("h4", { text: "Feature maps" })]);
  if (!maps) {
    box.append(el("p", { class: "muted", text: layer.kind === "vector" ? "Vector layer: see the activation strip." : "No channel maps logged for this layer." }));
    if (arrays.vector) {
      const c = el("canvas", { class: "big-vector" });
      draw.drawVector(c, arrays.vector, null, app.cmap, 256, 80);
      const stored = arrays.vector.shape[arrays.vector.shape.length - 1];
      const full = arrays.vector.meta && arrays.vector.meta.full_shape ? arrays.vector.meta.full_shape[0] : stored;
      box.append(c, el("p", { class: "muted", text: `${stored} of ${full} units${stored > 128 ? " (bars merge neighbours by max)" : ""}` }));
    }
    return box;
  }
  const channels = (maps.meta && maps.meta.channels) || [...Array(maps.shape[2]).keys()];
  const full = (maps.meta && maps.meta.full_shape) || maps.shape;
  const cols = el("input", { attrs: { type: "range", min: 1, max: 16, value: app.detailCols }, class: "cols-range" });
  cols.addEventListener("input", () => {
    app.detailCols = Number(cols.value);
    grid.style.gridTemplateColumns = `repeat(${app.detailCols}, minmax(0, 128px))`;
  });
  // the menu offers what is stored: 8, 16, 32... below the stored count, then all of them
  const stored = channels.length;
  const counts = [8, 16, 32, 64, 128].filter((c) => c < stored).map((c) => [String(c), String(c)]);
  counts.push([String(stored), `all ${stored}`]);
  const current = Math.min(app.detailCount, stored);
  const countSel = select(counts, counts.some(([v]) => Number(v) === current) ? String(current) : String(stored), (v) => app.setOption("detailCount", Number(v)), { class: "count-select" });
  const shown = Number(countSel.value);
  const total = full[full.length - 1];
  const settings = app.info.settings || {};
  const budget = settings.budget_bytes ? `the ${Math.round(settings.budget_bytes / 1024)} KiB per probe and epoch the writer may store (budget_bytes)` : "the writer's byte budget";
  const notes = [`${shown === stored ? `all ${stored}` : `${shown} of ${stored}`} stored channels`];
  if (total > stored) {
    const why = stored === settings.max_channels ? `max_channels=${stored}` : budget;
    notes.push(`the layer has ${total}: the writer stores the first ${stored} (${why})`);
  }
  if (maps.meta && maps.meta.pool > 1)
    notes.push(`stored at ${maps.shape[0]}×${maps.shape[1]} instead of ${full[0]}×${full[1]}: each value is the mean of ${maps.meta.pool}×${maps.meta.pool} pixels, to fit ${budget}`);
  box.append(
    el("div", { class: "controls" }, [field("Columns", cols), field("Maps", countSel), el("span", { class: "muted", text: notes.join(" · ") })]),
  );
  let range = null;
  if (app.norm === "layer") {
    const lo = Array.isArray(maps.lo) ? Math.min(...maps.lo) : maps.lo;
    const hi = Array.isArray(maps.hi) ? Math.max(...maps.hi) : maps.hi;
    range = [lo, hi];
  } else if (app.norm === "fixed") range = app.range(layer.name);
  const grid = el("div", { class: "map-grid", style: { gridTemplateColumns: `repeat(${app.detailCols}, minmax(0, 128px))` } });
  for (let k = 0; k < shown; k++) {
    const c = el("canvas", { class: "map" });
    draw.drawMap(c, maps, k, range, app.cmap);
    grid.append(el("figure", { class: "map-tile", data: { channel: channels[k] } }, [c, el("figcaption", { text: `ch ${channels[k]}` })]));
  }
  box.append(grid);
  return box;
}

/** One kernel filter `f` of a kernel pack entry, as an entry of one filter. */
function oneFilter(entry, f) {
  const [kh, kw, cin, cout] = entry.shape;
  const data = new Uint8Array(kh * kw * cin);
  for (let i = 0; i < kh * kw * cin; i++) data[i] = entry.data[i * cout + f];
  return { ...entry, shape: [kh, kw, cin, 1], data };
}

/** Each visualized channel: its feature visualization beside its feature map (this probe) and kernel. */
function featureVizSection(app, layer, rec, bitmap, arrays, kpack, step) {
  const box = el("section", { class: "fviz-detail" }, [
    el("h4", { text: "What each channel looks for" }),
    el("p", { class: "muted", text: `Per channel: its feature visualization (${fviz.note(rec, step)}), its feature map on ${probeName(app.probe)}${layer.is_conv ? " and its kernel" : ""}.` }),
  ]);
  if (!bitmap || bitmap instanceof Error) {
    box.append(el("p", { class: "muted", text: bitmap ? bitmap.message : "not loaded" }));
    return box;
  }
  const entry = rec.layers[layer.name];
  const [h, w] = entry.image_shape;
  const maps = arrays.maps;
  const mapChannels = maps ? (maps.meta && maps.meta.channels) || [...Array(maps.shape[2]).keys()] : [];
  const kernel = kpack && !(kpack instanceof Error) ? kpack.arrays.get(`${layer.name}/kernel`) : null;
  const range = app.norm === "fixed" ? app.range(layer.name) : null;
  const grid = el("div", { class: "fviz-pairs" });
  for (let k = 0; k < Math.min(entry.channels.length, Math.floor(bitmap.width / w)); k++) {
    const ch = entry.channels[k];
    const parts = [];
    const v = el("canvas", { class: "fviz", title: "feature visualization" });
    fviz.drawTile(v, bitmap, k, h, w);
    parts.push(v);
    const m = mapChannels.indexOf(ch);
    if (m >= 0) {
      const c = el("canvas", { class: "map", title: "feature map on the probe" });
      draw.drawMap(c, maps, m, range, app.cmap);
      parts.push(c);
    }
    if (kernel && ch < kernel.shape[3]) {
      const c = el("canvas", { class: "kernel-one", title: "kernel" });
      draw.drawKernelGrid(c, oneFilter(kernel, ch), 1);
      parts.push(c);
    }
    grid.append(el("figure", { class: "fviz-pair", data: { channel: ch } }, [el("div", { class: "fviz-parts" }, parts), el("figcaption", { text: `ch ${ch}` })]));
  }
  box.append(grid);
  return box;
}

/** The layer's kernels as a filter grid, with their change since the previous step. */
function kernelSection(app, layer, kpack) {
  const box = el("section", { class: "kernel-section" }, [el("h4", { text: "Kernels" })]);
  if (!kpack || kpack instanceof Error) {
    box.append(el("p", { class: "muted", text: kpack ? kpack.message : "no kernels logged" }));
    return box;
  }
  const entry = kpack.arrays.get(`${layer.name}/kernel`);
  if (!entry) {
    box.append(el("p", { class: "muted", text: "no kernels logged for this layer" }));
    return box;
  }
  const c = el("canvas", { class: "kernel-grid" });
  draw.drawKernelGrid(c, entry, draw.kernelColumns(entry.shape[3]));
  const change = (app.epoch().kernel_change || {})[layer.name];
  const full = (entry.meta && entry.meta.full_shape) || entry.shape;
  const kept = full[3] > entry.shape[3] || full[2] > entry.shape[2] ? ` (stored ${shapeText(entry.shape)})` : "";
  box.append(
    c,
    el("p", { class: "muted", text: `${shapeText(full)}${kept} · ${entry.shape[2] === 3 ? "RGB per filter" : "mean over input channels, blue < 0 < red"} · change since previous step: ${change === null || change === undefined ? "–" : pct(change)}` }),
  );
  return box;
}

/** Max activation and Grad-CAM maps over the probe image. */
function heatmapSection(app, layer, arrays, image) {
  const box = el("section", { class: "heat-section" }, [el("h4", { text: "Heatmaps on the probe" })]);
  const { pred, truth } = app.prediction(app.probe);
  const items = [];
  if (arrays.max) items.push(["max activation", arrays.max, "magma"]);
  if (arrays.gradcam) items.push([`Grad-CAM (predicted: ${className(app.info, pred)})`, arrays.gradcam, "magma"]);
  if (arrays.gradcam_true) items.push([`Grad-CAM (true: ${className(app.info, truth)})`, arrays.gradcam_true, "magma"]);
  if (!items.length) {
    box.append(el("p", { class: "muted", text: "No spatial maps for this layer." }));
    return box;
  }
  const row = el("div", { class: "heat-row" });
  for (const [label, entry, cmap] of items) {
    const c = el("canvas", { class: "overlay" });
    const isCam = entry.name.endsWith("gradcam") || entry.name.endsWith("gradcam_true");
    draw.drawOverlay(c, image, draw.mapValues(entry), isCam ? [0, 1] : null, cmap === "magma" && app.cmap !== "gray" ? app.cmap : cmap);
    row.append(el("figure", { class: "heat-tile" }, [c, el("figcaption", { text: label, title: label })]));
  }
  box.append(row);
  return box;
}

/** Layer statistics over all probes: the current value and a sparkline over epochs. */
function statsSection(app, layer) {
  const box = el("section", { class: "stats-section" }, [el("h4", { text: "Statistics over all probes" })]);
  const table = el("table", { class: "stats" });
  table.append(el("tr", {}, [el("th", { text: "stat" }), el("th", { text: stepLabel(app.step()) }), el("th", { text: "over epochs" })]));
  // a dead fraction only means something for ReLU outputs
  const rows = STAT_ROWS.filter((s) => s !== "dead_frac" || app.network.deadApplies(layer)).map((s) => [s, (e) => ((e.layers || {})[layer.name] || {})[s]]);
  if (layer.is_conv) rows.push(["kernel change", (e) => (e.kernel_change || {})[layer.name]]);
  for (const [name, get] of rows) {
    const series = app.series(get);
    const cur = series[app.idx];
    const c = el("canvas", { class: "spark" });
    draw.drawSparkline(c, series, app.idx);
    const frac = FRACTIONS.has(name) || name === "kernel change";
    table.append(el("tr", {}, [el("td", { text: name.replace("_frac", " fraction") }), el("td", { class: "num", text: frac ? pct(cur) : fmt(cur) }), el("td", {}, [c])]));
  }
  const s = app.layerStats(layer.name);
  if (s && s.nonfinite > 0) box.append(el("p", { class: "badge nan", text: `${s.nonfinite} non-finite values at this epoch` }));
  box.append(table);
  return box;
}
