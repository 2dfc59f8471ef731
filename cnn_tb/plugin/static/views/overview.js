// The depth overview: one cell per logged layer over the whole network (in
// display order), coloured by the chosen statistic at the shown epoch, with
// the top-level blocks marked under it. A click on a cell selects that layer
// (opening the blocks around it); a click on a block opens it.

import { lut } from "../colormaps.js";
import { el, fmt, pct, select } from "../dom.js";

/** The statistics the overview and the depth chart can show: [key, label]. */
export const DEPTH_STATS = [
  ["mean", "mean"],
  ["std", "std"],
  ["dead_frac", "dead fraction"],
  ["kernel_change", "kernel change"],
  ["nonfinite", "non-finite"],
];

/**
 * Value of statistic `stat` for `layer` in epoch record `epoch` (null when it does not apply).
 * @param {import("../app.js").FlowApp} app
 */
export function statValue(app, layer, stat, epoch) {
  if (stat === "kernel_change") {
    const v = (epoch.kernel_change || {})[layer.name];
    return v === undefined ? null : v;
  }
  const s = (epoch.layers || {})[layer.name];
  if (!s) return null;
  if (stat === "dead_frac" && !app.network.deadApplies(layer)) return null;
  const v = s[stat];
  return v === undefined ? null : v;
}

/** Format a value of `stat` for text. */
export function statText(stat, v) {
  if (v === null || v === undefined) return "n/a";
  if (stat === "dead_frac" || stat === "kernel_change") return pct(v);
  if (stat === "nonfinite") return String(v);
  return fmt(v, 3);
}

function rgb(table, t) {
  const k = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
  return `rgb(${table[k]},${table[k + 1]},${table[k + 2]})`;
}

/**
 * A colour function for `stat` over `values` (nulls are "n/a"), with its legend text.
 * @returns {{color: (v: number|null) => string, legend: string}}
 */
export function statColors(stat, values) {
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  const NA = "";
  if (stat === "nonfinite") {
    return { color: (v) => (v === null ? NA : v > 0 ? "#d32f2f" : "#c8e6c9"), legend: "green: all finite · red: NaN/Inf" };
  }
  if (stat === "dead_frac") {
    const t = lut("magma");
    return { color: (v) => (v === null ? NA : rgb(t, 1 - 0.85 * v)), legend: "light: 0% dead · dark: 100% (ReLU outputs only)" };
  }
  if (stat === "mean") {
    const m = Math.max(1e-12, ...finite.map(Math.abs));
    const t = lut("diverging");
    return { color: (v) => (v === null ? NA : rgb(t, 0.5 + v / (2 * m))), legend: `blue −${fmt(m, 2)} · white 0 · red +${fmt(m, 2)}` };
  }
  // std, kernel change: log scale over the positive values
  const pos = finite.filter((v) => v > 0);
  const lo = pos.length ? Math.log10(Math.min(...pos)) : 0;
  const hi = pos.length ? Math.log10(Math.max(...pos)) : 1;
  const t = lut("viridis");
  return {
    color: (v) => (v === null ? NA : v <= 0 ? rgb(t, 0) : rgb(t, hi > lo ? (Math.log10(v) - lo) / (hi - lo) : 0.5)),
    legend: `log scale: dark ${statText(stat, pos.length ? 10 ** lo : null)} · yellow ${statText(stat, pos.length ? 10 ** hi : null)}`,
  };
}

/**
 * Build the overview strip for the shown epoch.
 * @param {import("../app.js").FlowApp} app
 * @returns {HTMLElement}
 */
export function renderOverview(app) {
  const net = app.network;
  const layers = net.loggedOrder();
  const epoch = app.epoch();
  const stat = app.depthStat;
  const values = layers.map((l) => statValue(app, l, stat, epoch));
  const { color, legend } = statColors(stat, values);
  const label = DEPTH_STATS.find(([k]) => k === stat)[1];
  const cells = el("div", { class: "ov-cells", data: { cells: layers.length } });
  layers.forEach((l, i) => {
    const c = el("div", {
      class: `ov-cell${values[i] === null ? " na" : ""}${l.name === app.selected ? " selected" : ""}`,
      data: { layer: l.name, index: i },
      title: `${l.name} · ${label} ${statText(stat, values[i])}`,
    });
    if (values[i] !== null) c.style.background = color(values[i]);
    cells.append(c);
  });
  cells.addEventListener("click", (ev) => {
    const cell = ev.target.closest(".ov-cell");
    if (cell) app.selectLayer(cell.dataset.layer, { reveal: true, scroll: true });
  });
  const box = el("div", { class: "overview" }, [
    el("div", { class: "ov-head" }, [
      el("span", { class: "ov-title", text: `Depth: ${layers.length} logged layers, colour =` }),
      statSelect(app, "ov-stat"),
      el("span", { class: "muted ov-legend", text: legend }),
    ]),
    cells,
  ]);
  if (!net.flat) box.append(blockStrip(app, layers));
  return box;
}

/** The top-level blocks under the cells, each as wide as its logged layers. */
function blockStrip(app, layers) {
  const net = app.network;
  const strip = el("div", { class: "ov-blocks" });
  const position = new Map(layers.map((l, i) => [l.name, i]));
  for (const it of net.topItems(false)) {
    const inside = it.kind === "layer" ? [it.layer] : net.layersOf(it.id).map((i) => net.layers[i]);
    const count = inside.filter((l) => position.has(l.name)).length;
    if (!count) continue;
    const name = it.kind === "layer" ? it.layer.name : it.block.name;
    const seg = el("div", {
      class: `ov-block${it.kind === "block" ? " is-block" : ""}${it.kind === "block" && app.expanded[0] === it.id ? " open" : ""}`,
      style: { flexGrow: String(count) },
      title: it.kind === "block" ? `${name}: ${count} logged layers · click to open` : name,
    }, [el("span", { text: name })]);
    if (it.kind === "block") seg.addEventListener("click", () => app.toggleBlock(it.id, 1));
    else seg.addEventListener("click", () => app.selectLayer(name, { reveal: true, scroll: true }));
    strip.append(seg);
  }
  return strip;
}

/** The statistic picker shared by the overview and the depth chart. */
export function statSelect(app, cls) {
  return select(DEPTH_STATS, app.depthStat, (v) => app.setOption("depthStat", v), { class: `stat-select ${cls}`, attrs: { "aria-label": "Statistic" } });
}
