// The flow view: the pipeline of layer columns (one row per shown probe),
// the layer chips of long models, and the output probability bars.

import { renderDetail } from "./detail.js";
import * as draw from "../draw.js";
import { className, el, fmt, pct, probabilityBars, shapeText, stepLabel } from "../dom.js";
import { drawArcs } from "./skip_arcs.js";

/**
 * Render the pipeline of the selected probe(s) at the current step, then the
 * detail panel of the selected layer.
 * @param {import("../app.js").FlowApp} app
 * @param {number} token render token; a newer render makes this one stop
 */
export async function renderFlow(app, token) {
  const step = app.step();
  const probes = [app.probe, app.probe2].filter((p) => p !== null);
  const [packs, images] = await app.probeData(probes, step);
  if (token !== app.token) return;
  const scroller = app.main.querySelector(".pipeline-scroll");
  const scrollLeft = scroller ? scroller.scrollLeft : 0;
  const layers = app.displayedLayers();
  const pipeline = el("div", { class: `pipeline${layers.length > 12 ? " dense" : ""}`, data: { rows: probes.length } });
  const arcs = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  arcs.setAttribute("class", "arcs");
  pipeline.append(arcs);
  let prevShape = null;
  layers.forEach((layer, li) => {
    if (li > 0) pipeline.append(el("div", { class: "conn", text: "→", attrs: { "aria-hidden": "true" } }));
    const shapeChanged = prevShape !== null && shapeText(prevShape) !== shapeText(layer.output_shape);
    prevShape = layer.output_shape;
    pipeline.append(layerColumn(app, layer, probes, packs, images, shapeChanged));
  });
  const scroll = el("div", { class: "pipeline-scroll" }, [pipeline]);
  const title = el("div", { class: "view-title" }, [
    el("span", { text: `${app.info.model_name}` }),
    el("span", { class: "muted", text: ` · ${probes.map((p) => `probe #${p}`).join(" vs ")} · ${stepLabel(step)} · click a layer for details` }),
  ]);
  const nav = layers.length > 8 ? layerNav(app, layers, pipeline) : null;
  app.main.replaceChildren(...[title, nav, scroll].filter(Boolean));
  scroll.scrollLeft = scrollLeft;
  drawArcs(app.info.layers, pipeline, arcs, layers);
  if (app.selected) await renderDetail(app, token);
  else app.detail.hidden = true;
}

/** Chips naming every layer; a click scrolls its card into view. */
function layerNav(app, layers, pipeline) {
  const nav = el("div", { class: "layer-nav" }, [el("span", { class: "muted", text: `${layers.length} layers · scroll sideways or jump:` })]);
  for (const layer of layers) {
    const chip = el("button", { class: `chip${layer.name === app.selected ? " active" : ""}`, text: layer.name, title: `${layer.class} · ${shapeText(layer.output_shape)}` });
    chip.addEventListener("click", () => {
      const col = [...pipeline.querySelectorAll(".layer-col")].find((c) => c.dataset.layer === layer.name);
      if (col) col.scrollIntoView({ block: "nearest", inline: "center" });
    });
    nav.append(chip);
  }
  return nav;
}

/** One layer's card: header, one cell per probe, stats under the last cell. */
function layerColumn(app, layer, probes, packs, images, shapeChanged) {
  const inbound = layer.inbound || [];
  const merge = inbound.length > 1;
  const output = app.isOutput(layer);
  const col = el("div", {
    class: `layer-col kind-${layer.kind}${merge ? " merge" : ""}${output ? " output" : ""}${layer.name === app.selected ? " selected" : ""}${layer.logged || layer.kind === "input" ? "" : " unlogged"}`,
    data: { layer: layer.name, kind: layer.kind },
  });
  const head = el("div", { class: "col-head" }, [
    el("div", { class: "layer-name", text: layer.name, title: layer.name }),
    el("div", { class: "layer-class", text: `${layer.class}${layer.activation && layer.activation !== "linear" ? ` · ${layer.activation}` : ""}`, title: layer.class }),
    el("div", { class: "shape-row" }, [
      el("span", { class: `layer-shape${shapeChanged ? " changed" : ""}`, text: shapeText(layer.output_shape), title: shapeChanged ? "shape changes here" : "output shape" }),
    ]),
  ]);
  if (merge) {
    const verb = /concat/i.test(layer.class) ? "concat" : /add/i.test(layer.class) ? "add" : "merge";
    head.append(el("div", { class: "merge-note", text: `${verb}: ${inbound.join(" + ")}`, title: inbound.join(" + ") }));
  }
  const stats = app.layerStats(layer.name);
  if (stats && stats.nonfinite > 0)
    head.querySelector(".shape-row").append(el("span", { class: "badge nan", text: `NaN ×${stats.nonfinite}`, title: `${stats.nonfinite} NaN/Inf values at this epoch` }));
  col.append(head);
  probes.forEach((p, row) => {
    const cell = el("div", { class: "cell", data: { probe: p } });
    const pack = packs[row];
    if (layer.kind === "input") {
      const c = el("canvas", { class: "map input-map" });
      if (images[row]) draw.drawImage(c, images[row]);
      cell.append(c);
      if (probes.length > 1) {
        const { wrong } = app.prediction(p);
        cell.append(el("div", { class: `cell-stats ${wrong ? "bad" : ""}`.trim(), text: `probe #${p}${wrong ? " ✗" : ""}` }));
      }
    } else if (pack instanceof Error) {
      cell.append(el("div", { class: "cell-msg", text: pack.message }));
    } else if (output && layer.kind === "vector") {
      cell.append(outputBars(app, p, pack));
    } else if (!layer.logged) {
      cell.append(el("div", { class: "cell-msg", text: "not logged" }));
    } else {
      const arrays = pack.layers.get(layer.name) || {};
      const map = app.reducedMap(arrays);
      if (layer.kind === "map" && map) {
        const c = el("canvas", { class: "map" });
        draw.drawMap(c, map, null, app.range(layer.name), app.cmap);
        cell.append(c);
      } else if (arrays.vector) {
        const c = el("canvas", { class: "map vector-map" });
        draw.drawVector(c, arrays.vector, app.norm === "map" ? null : app.range(layer.name), app.cmap);
        cell.append(c);
      } else cell.append(el("div", { class: "cell-msg", text: "no data at this epoch" }));
    }
    if (stats && layer.kind !== "input" && row === probes.length - 1) {
      cell.append(
        el("div", { class: "cell-stats", title: "over all probes at this epoch" }, [
          el("span", { text: `mean ${fmt(stats.mean, 2)}` }),
          el("span", { text: `dead ${pct(stats.dead_frac)}` }),
        ]),
      );
    }
    col.append(cell);
  });
  col.addEventListener("click", () => {
    if (layer.kind === "input") return; // the probe image itself: nothing more to show
    app.selected = app.selected === layer.name ? null : layer.name;
    app.renderView();
  });
  return col;
}

/** Probability bars of the output layer: all classes, or the top 8 plus the true one. */
function outputBars(app, probe, pack) {
  const { pred, truth, probs, top } = app.prediction(probe);
  let rows;
  if (probs && probs.length) rows = probs.map((p, i) => [i, p]);
  else if (top && top.length) rows = top.map(([c, p]) => [typeof c === "number" ? c : -1, p]);
  else {
    const arr = pack && pack.layers.get(app.info.output_layer);
    const v = arr && arr.vector ? draw.mapValues({ ...arr.vector, shape: [arr.vector.shape.at(-1)] }).values : [];
    rows = Array.from(v, (p, i) => [i, p]);
  }
  if (rows.length > 10) {
    const keep = new Set(rows.slice().sort((a, b) => (b[1] || 0) - (a[1] || 0)).slice(0, 8).map((r) => r[0]));
    if (truth !== null) keep.add(truth);
    rows = rows.filter((r) => keep.has(r[0]));
  }
  return probabilityBars(rows, pred, truth, (c) => className(app.info, c));
}
