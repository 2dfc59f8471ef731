// The depth panel under the flow: a statistic against depth (x = logged
// layers in display order, one line per logged epoch, colour = epoch), and the
// activation histograms of one layer over the epochs (x = epoch, y = value,
// colour = how many values fall there).

import * as draw from "../draw.js";
import { lut } from "../colormaps.js";
import { el, showBuilt, stepLabel } from "../dom.js";
import { DEPTH_STATS, statSelect, statText, statValue } from "./overview.js";

const MAX_LINES = 40; // epochs drawn as lines; more are sampled evenly (the shown epoch always)

/** Indices of the epochs drawn as lines: all up to MAX_LINES, else an even sample plus the shown one (`current`, or null for none). */
export function lineEpochs(n, current) {
  if (n <= MAX_LINES) return [...Array(n).keys()];
  const out = new Set();
  for (let k = 0; k < MAX_LINES; k++) out.add(Math.round((k * (n - 1)) / (MAX_LINES - 1)));
  if (current !== null) out.add(current);
  return [...out].sort((a, b) => a - b);
}

function epochColor(t) {
  const table = lut("viridis");
  const k = Math.round(Math.max(0, Math.min(1, t)) * 230) * 3; // skip the palest yellow
  return `rgb(${table[k]},${table[k + 1]},${table[k + 2]})`;
}

/**
 * Fill `app.depthPanel` for the shown epoch. The view does not wait for
 * histograms not loaded yet (a long run's first `/histograms` decodes every
 * epoch record): the panel shows them when they come, if the view is the same.
 * @param {import("../app.js").FlowApp} app
 * @param {number} token render token; a newer render makes this one stop
 * @param {string} key the view key (see dom.showBuilt)
 * @param {boolean} wait wait for the histograms whether loaded or not
 */
export async function renderDepthPanel(app, token, key, wait = false) {
  if (app.epochs.provisional) {
    app.depthPanel.hidden = true; // lines for every epoch once they are in
    return;
  }
  const chart = depthChart(app);
  const hist = el("section", { class: "hist-section" });
  const layer = focusLayer(app);
  if (!layer || wait || app.api.loadedHistograms(app.run, layer.name) !== undefined) await histogramSection(app, hist, token);
  else {
    histogramHead(hist, layer);
    hist.append(el("p", { class: "muted hist-msg hist-loading", text: "loading the histograms…" }));
    const again = () => token === app.token && renderDepthPanel(app, token, key, true);
    app.api.histograms(app.run, layer.name).then(again, again);
  }
  if (token !== app.token) return;
  // an epoch change repaints the two pictures in place (see dom.morph)
  showBuilt(app.depthPanel, key, [chart, hist]);
  app.depthPanel.hidden = false;
}

function depthChart(app) {
  const net = app.network;
  const layers = net.loggedOrder();
  const stat = app.depthStat;
  const label = DEPTH_STATS.find(([k]) => k === stat)[1];
  const epochs = app.epochs.epochs;
  // a large run's partial epochs have no statistics: lines for the complete ones
  // (those /epochs sent whole, the same whichever epochs were shown) and the shown one
  const complete = epochs.map((e, i) => (e.partial || e.fetched ? -1 : i)).filter((i) => i >= 0);
  const which = [...new Set(lineEpochs(complete.length, null).map((k) => complete[k]).concat([app.idx]))].sort((a, b) => a - b);
  const series = which.map((e) => layers.map((l) => statValue(app, l, stat, epochs[e])));
  const finite = series.flat().filter((v) => v !== null && Number.isFinite(v));
  const log = (stat === "std" || stat === "kernel_change") && finite.some((v) => v > 0);
  const usable = log ? finite.filter((v) => v > 0) : finite;
  let range = usable.length ? [Math.min(...usable), Math.max(...usable)] : [0, 1];
  if (stat === "dead_frac") range = [0, 1];
  const lines = which.map((e, k) => ({
    values: series[k],
    color: e === app.idx ? "#212121" : epochColor(epochs.length > 1 ? e / (epochs.length - 1) : 1),
    width: e === app.idx ? 2.2 : 1.2,
    epoch: e,
  }));
  lines.sort((a, b) => (a.epoch === app.idx) - (b.epoch === app.idx)); // the shown epoch on top
  const marks = [];
  if (!net.flat) {
    const position = new Map(layers.map((l, i) => [l.name, i]));
    for (const it of net.topItems(false)) {
      if (it.kind !== "block") continue;
      const first = net.layersOf(it.id).map((i) => position.get(net.layers[i].name)).find((p) => p !== undefined);
      if (first !== undefined) marks.push({ x: first, label: it.block.name });
    }
  }
  const width = Math.max(360, Math.floor((app.main.clientWidth - 48) * 0.58));
  const canvas = el("canvas", { class: "depth-chart", data: { lines: lines.length, points: layers.length, stat } });
  const selectedPos = layers.findIndex((l) => l.name === app.selected);
  const geo = draw.drawDepthChart(canvas, {
    width,
    height: 240,
    n: layers.length,
    lines,
    log,
    range,
    marks,
    labels: layers.map((l) => l.name),
    highlight: selectedPos >= 0 ? selectedPos : null,
  });
  const readout = el("span", { class: "muted depth-readout", text: "hover: layer and value · click: select the layer" });
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    const px = ev.clientX - r.left;
    if (px < geo.left - 4 || px > geo.right + 4 || !layers.length) return -1;
    const n = layers.length;
    return Math.max(0, Math.min(n - 1, Math.round(((px - geo.left) / Math.max(1, geo.right - geo.left)) * (n - 1))));
  };
  canvas.addEventListener("mousemove", (ev) => {
    const i = at(ev);
    if (i < 0) return;
    const v = statValue(app, layers[i], stat, app.epoch());
    readout.textContent = `${layers[i].name} · ${label} ${statText(stat, v)} at ${stepLabel(app.step())}`;
  });
  canvas.addEventListener("click", (ev) => {
    const i = at(ev);
    if (i >= 0) app.selectLayer(layers[i].name, { reveal: true, scroll: true });
  });
  const legend = el("div", { class: "depth-legend" });
  const shown = which.length < epochs.length ? `${which.length} of ${epochs.length} epochs drawn (evenly spaced)` : `${which.length} epoch${which.length > 1 ? "s" : ""}`;
  legend.append(
    el("span", { class: "legend-bar", title: "line colour: epoch" }),
    el("span", { class: "muted", text: `${stepLabel(app.epochs.steps[0])} → ${stepLabel(app.epochs.steps.at(-1))} · black: ${stepLabel(app.step())} · ${shown}${log ? " · log scale" : ""}` }),
  );
  if (which.length <= 12)
    for (const e of which)
      legend.append(el("span", { class: "legend-epoch", data: { epoch: app.epochs.steps[e] }, style: { background: e === app.idx ? "#212121" : epochColor(epochs.length > 1 ? e / (epochs.length - 1) : 1) }, title: stepLabel(app.epochs.steps[e]) }));
  return el("section", { class: "depth-section", style: { width: `${width}px` } }, [
    el("div", { class: "depth-head" }, [el("h4", { text: `${label} by depth` }), statSelect(app, "depth-stat"), readout]),
    canvas,
    legend,
  ]);
}

/** The layer the histogram shows: the selected one, else the last logged layer before the output. */
function focusLayer(app) {
  const logged = app.network.loggedOrder();
  if (app.selected && logged.some((l) => l.name === app.selected)) return app.network.layer(app.selected);
  const body = logged.filter((l) => !app.isOutput(l));
  return body.length ? body[body.length - 1] : logged[logged.length - 1] || null;
}

function histogramHead(box, layer) {
  box.append(el("div", { class: "depth-head" }, [el("h4", { text: "Activation histogram over epochs" }), el("span", { class: "muted", text: layer ? layer.name : "" })]));
}

async function histogramSection(app, box, token) {
  const layer = focusLayer(app);
  histogramHead(box, layer);
  if (!layer) return;
  let data;
  try {
    data = await app.api.histograms(app.run, layer.name);
  } catch (e) {
    if (token !== app.token) return;
    box.append(el("p", { class: "muted hist-msg", text: e.message }));
    return;
  }
  if (token !== app.token) return;
  const steps = app.epochs.steps;
  // the columns stay the same object while the layer's histograms and the epochs do:
  // drawHistogramImage then redraws its picture from a kept tile (a jump redraws
  // this section with only the current epoch's frame moved)
  let memo = app.histColumns;
  if (!memo || memo.data !== data || memo.steps !== steps) {
    const byStep = new Map(data.histograms.map((h) => [h.step, h.buckets]));
    let lo = Infinity;
    let hi = -Infinity;
    for (const b of byStep.values()) {
      lo = Math.min(lo, b[0][0]);
      hi = Math.max(hi, b[b.length - 1][1]);
    }
    memo = app.histColumns = { data, steps, columns: steps.map((s) => byStep.get(s) || null), lo, hi };
  }
  const { columns, lo, hi } = memo;
  if (!Number.isFinite(lo)) {
    box.append(el("p", { class: "muted hist-msg", text: "No histogram of this layer for the logged epochs." }));
    return;
  }
  const width = Math.max(260, Math.floor((app.main.clientWidth - 48) * 0.4));
  const canvas = el("canvas", { class: "hist-image", data: { layer: layer.name, columns: columns.length } });
  const geo = draw.drawHistogramImage(canvas, { width, height: 240, columns, lo, hi, bins: 64, current: app.idx, cmap: "heat", labels: steps.map(stepLabel) });
  canvas.dataset.drawn = String(geo.drawn);
  box.append(canvas);
  const kept = columns.filter(Boolean).length;
  const note = kept < steps.length
    ? `${kept} of ${steps.length} epochs have a histogram: TensorBoard keeps a sample of histogram steps (100 with its default loader); start it with --samples_per_plugin=histograms=0 to keep all. Grey: not kept.`
    : `${kept} epoch${kept > 1 ? "s" : ""} · colour: share of the layer's values in each value bin, log scale (white: none) · blue frame: ${stepLabel(app.step())}`;
  box.append(el("p", { class: "muted hist-note", text: note }));
}
