// The cards of the flow view: a layer card (its map for each shown probe,
// the output layer's probability bars) and a block card (a collapsed block:
// its output map and a one-line summary; a click opens it).

import * as draw from "../draw.js";
import { className, el, fmt, pct, probabilityBars, probeName, shapeText } from "../dom.js";

/**
 * The cell of one probe: the layer's reduced map, its units, the input image or a message.
 * @param {import("../app.js").FlowApp} app
 */
function layerCell(app, layer, probe, pack, image, isOutput) {
  const cell = el("div", { class: "cell", data: { probe } });
  if (layer.kind === "input") {
    const c = el("canvas", { class: "map input-map" });
    if (image) draw.drawImage(c, image);
    cell.append(c);
    return cell;
  }
  if (pack instanceof Error) {
    cell.append(el("div", { class: "cell-msg", text: pack.message }));
    return cell;
  }
  if (isOutput && layer.kind === "vector") {
    cell.append(outputBars(app, probe, pack));
    return cell;
  }
  if (!layer.logged) {
    cell.append(el("div", { class: "cell-msg", text: "not logged" }));
    return cell;
  }
  const arrays = pack.layers.get(layer.name) || {};
  const map = app.reducedMap(arrays);
  if (layer.kind === "map" && map) {
    const c = el("canvas", { class: "map" });
    draw.drawMap(c, map, null, app.range(layer.name), app.cmap);
    cell.append(c);
  } else if (arrays.vector) {
    const c = el("canvas", { class: "map unit-grid" });
    const g = draw.drawUnitGrid(c, arrays.vector, app.norm === "map" ? null : app.range(layer.name), app.cmap);
    const full = arrays.vector.meta && arrays.vector.meta.full_shape ? arrays.vector.meta.full_shape[0] : g.units;
    c.title = `${g.units === full ? g.units : `${g.units} of ${full}`} units, one pixel each (${g.cols} per row)`;
    cell.append(c);
  } else cell.append(el("div", { class: "cell-msg", text: "no data at this epoch" }));
  return cell;
}

/** The statistics line under a card: mean, and dead (ReLU-like layers) or std. */
function statsLine(app, layer) {
  const s = app.layerStats(layer.name);
  if (!s || layer.kind === "input") return null;
  const second = app.network.deadApplies(layer)
    ? el("span", { class: "dead", text: `dead ${pct(s.dead_frac)}`, title: "channels never positive on any probe (ReLU outputs)" })
    : el("span", { text: `std ${fmt(s.std, 2)}` });
  return el("div", { class: "cell-stats", title: `${layer.name}: over all probes at this epoch` }, [el("span", { text: `mean ${fmt(s.mean, 2)}` }), second]);
}

/**
 * One layer's card.
 * @param {import("../app.js").FlowApp} app
 * @param {object} layer
 * @param {Array<number>} probes
 * @param {Array<object|Error>} packs one per probe
 * @param {Array<HTMLImageElement|null>} images one per probe
 * @param {boolean} shapeChanged
 */
export function layerCard(app, layer, probes, packs, images, shapeChanged) {
  const inbound = layer.inbound || [];
  const merge = inbound.length > 1;
  const output = app.isOutput(layer);
  const col = el("div", {
    class: `layer-col kind-${layer.kind}${merge ? " merge" : ""}${output ? " output" : ""}${layer.name === app.selected ? " selected" : ""}${layer.logged || layer.kind === "input" ? "" : " unlogged"}`,
    data: { layer: layer.name, kind: layer.kind },
  });
  const act = layer.activation && layer.activation !== "linear" ? ` · ${layer.activation}` : "";
  const head = el("div", { class: "col-head" }, [
    el("div", { class: "layer-name", text: layer.name, title: layer.name }),
    el("div", { class: "layer-class", text: `${layer.class}${act}`, title: `${layer.class}${act}` }),
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
    const cell = layerCell(app, layer, p, packs[row], images[row], output);
    if (layer.kind === "input" && probes.length > 1) {
      const { wrong } = app.prediction(p);
      cell.append(el("div", { class: `cell-stats ${wrong ? "bad" : ""}`.trim(), text: `${probeName(p)}${wrong ? " ✗" : ""}` }));
    }
    if (row === probes.length - 1) {
      const line = statsLine(app, layer);
      if (line) cell.append(line);
    }
    col.append(cell);
  });
  col.addEventListener("click", () => {
    if (layer.kind === "input") return; // the probe image itself: nothing more to show
    app.selectLayer(app.selected === layer.name ? null : layer.name);
  });
  return col;
}

const MERGE_WORDS = { Add: "add", Concatenate: "concat", Multiply: "multiply", Average: "average", Maximum: "max", Minimum: "min", Subtract: "subtract", Dot: "dot" };

/** One-line summary of a block: "3 blocks · 32 layers" or "add · 12 layers" (a unit ending in a merge). */
export function blockSummary(app, block) {
  const units = block.children.filter(([k]) => k === "block").length;
  const parts = [];
  if (units) parts.push(`${units} block${units > 1 ? "s" : ""}`);
  else if (block.merge) parts.push(MERGE_WORDS[block.merge] || block.merge);
  parts.push(`${block.layers} layers`);
  return parts.join(" · ");
}

/**
 * A collapsed (or open) block's card: its output map and a summary; a click opens or closes it.
 * @param {import("../app.js").FlowApp} app
 * @param {{id: number, block: object}} item
 * @param {number} level 1 for top-level blocks, 2 inside a stage
 */
export function blockCard(app, item, probes, packs, images, shapeChanged, level) {
  const block = item.block;
  const out = app.network.blockOutput(item.id, app.showAll);
  const open = app.expanded[level - 1] === item.id;
  const hasSelected = app.selected !== null && app.network.pathTo(app.selected).includes(item.id);
  const col = el("div", {
    class: `block-col kind-${block.kind}${open ? " open" : ""}${hasSelected ? " has-selected" : ""}`,
    data: { block: item.id, name: block.name, layers: block.layers },
    title: `${block.name}: ${blockSummary(app, block)} · output of ${out.name} · click to ${open ? "close" : "open"}`,
  });
  col.append(
    el("div", { class: "col-head" }, [
      el("div", { class: "layer-name block-name" }, [el("span", { class: "caret", text: open ? "▾" : "▸" }), el("span", { text: block.name })]),
      el("div", { class: "layer-class block-summary", text: blockSummary(app, block) }),
      el("div", { class: "shape-row" }, [el("span", { class: `layer-shape${shapeChanged ? " changed" : ""}`, text: shapeText(out.output_shape), title: `output of ${out.name}` })]),
    ]),
  );
  probes.forEach((p, row) => {
    const cell = layerCell(app, out, p, packs[row], images[row], false);
    if (row === probes.length - 1) {
      const line = statsLine(app, out);
      if (line) cell.append(line);
    }
    col.append(cell);
  });
  col.addEventListener("click", () => app.toggleBlock(item.id, level));
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
