// The Pool view: what the layers have learned across the held-out pool at the
// shown epoch. Class separation by depth (one line per pool epoch), the
// confusion matrix and the most confused pairs with their images, and right vs
// wrong: the correctly and wrongly classified images of one class side by side
// through the layers, with where the wrong ones leave their class.

import { el, pct, stepLabel } from "../dom.js";
import { classLabel, classes, drawPoolImage, loadPool, poolAtFull, poolPack, poolSprite, values } from "../pool_data.js";
import { lineEpochs } from "./depth.js";
import { drawConfusion, drawMarginChart, drawSeparationChart, epochColour } from "./pool_charts.js";

const MAX_SHOWN = 12; // images per side in right vs wrong
const THUMB = 40;

/**
 * Render the Pool view for the shown epoch.
 * @param {import("../app.js").FlowApp} app
 * @param {number} token render token; a newer render makes this one stop
 */
export async function renderPool(app, token) {
  const pool = await loadPool(app);
  if (token !== app.token) return;
  app.detail.hidden = true;
  if (!pool) {
    app.main.replaceChildren(noPool());
    return;
  }
  const at = await poolAtFull(app, pool, app.step());
  if (token !== app.token) return;
  if (!at) {
    app.main.replaceChildren(
      el("div", { class: "pool-view" }, [
        el("p", { class: "muted", text: `No pool step at or before ${stepLabel(app.step())}; the first is ${stepLabel(pool.steps[0])}.` }),
      ]),
    );
    return;
  }
  const { record, session } = at;
  const [pack, sprite] = await Promise.all([poolPack(app, record.step), poolSprite(app, record.step, session)]);
  if (token !== app.token) return;
  // the chart fills its card: the main area's and the view's padding (2 × 16 each), the card's border and padding (2 × 13)
  const width = Math.max(320, (app.main.clientWidth || 1200) - 92);
  const ctx = { app, pool, record, session, pack, sprite, width, name: (i) => classLabel(session, i) };
  const note = at.exact ? "" : ` (the pool runs every ${session.every_n_epochs} epochs: showing ${stepLabel(record.step)})`;
  const title = el("div", { class: "view-title" }, [
    el("span", { text: "Held-out pool" }),
    el("span", {
      class: "muted",
      text: ` · ${session.count} images · ${session.num_classes} classes · ${stepLabel(app.step())}${note} · accuracy ${pct(record.accuracy)}`,
    }),
  ]);
  const view = el("div", { class: "pool-view", data: { poolStep: record.step } }, [
    title,
    separationSection(ctx),
    el("div", { class: "pool-row" }, [confusionSection(ctx), pairsSection(ctx)]),
    rightWrongSection(ctx),
  ]);
  app.main.replaceChildren(view);
}

function noPool() {
  const code = [
    "pool = cnn_tb.Probes(x_val[:512], labels=y_val[:512], class_names=CLASS_NAMES)",
    "cnn_tb.LayerFlow(log_dir, probes, pool=pool)",
  ].join("\n");
  return el("div", { class: "empty-state", data: { empty: "pool" } }, [
    el("h2", { text: "This run has no held-out pool" }),
    el("p", {
      text: "With a pool of a few hundred labelled held-out images, this view shows how well every layer separates the classes, the confusion matrix, and where wrongly classified images leave their class:",
    }),
    el("pre", { class: "code", text: code }),
  ]);
}

function card(cls, heading, children) {
  return el("section", { class: `pool-card ${cls}` }, [el("h4", { text: heading }), ...children]);
}

// ------------------------------------------------------------------ separation

function separationSection({ app, pool, record, session, width }) {
  const layers = session.layers;
  const all = pool.records.filter((r) => r.session === record.session);
  // a long run's /pool holds the class separation of an even sample of its pool
  // steps (and the shown one, fetched whole): the lines are drawn from those
  const records = all.filter((r) => !r.partial);
  const current = records.findIndex((r) => r.step === record.step);
  // at most 40 lines (evenly spaced, the shown epoch always), as in the depth panel
  const which = lineEpochs(records.length, current);
  const lines = which.map((k) => ({
    label: stepLabel(records[k].step),
    values: layers.map((l) => (records[k].class_separation[l] === undefined ? null : records[k].class_separation[l])),
    current: k === current,
  }));
  const present = new Set(session.labels).size || 1;
  const canvas = el("canvas", { class: "depth-chart sep-chart", data: { lines: lines.length, points: layers.length } });
  const geo = drawSeparationChart(canvas, layers, lines, 1 / present, width);
  const best = geo.best;
  const sep = record.class_separation;
  const last = layers[layers.length - 1];
  const facts = [
    best !== null ? `most separating: ${layers[best]} (${pct(sep[layers[best]])})` : "no layer separates (every feature constant)",
    `${layers[0]}: ${pct(sep[layers[0]])}`,
    `${last}: ${pct(sep[last])}`,
  ];
  const legend = el("div", { class: "pool-legend" });
  if (lines.length <= 12) {
    lines.forEach((line, i) => {
      const swatch = el("span", { class: `swatch${line.current ? " current" : ""}`, style: { background: epochColour(i, lines.length, line.current) } });
      legend.append(el("span", { class: "legend-item" }, [swatch, line.label]));
    });
  } else {
    const drawn = which.length < all.length ? `${which.length} of ${all.length} pool epochs drawn (evenly spaced)` : `${all.length} pool epochs`;
    legend.append(el("span", { class: "muted", text: `${drawn}, light (early) to dark (late); the shown one thick` }));
  }
  const readout = el("span", { class: "muted sep-readout", text: "hover: layer and value · click: show the layer in the flow" });
  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    const px = ev.clientX - r.left;
    if (px < geo.left - 4 || px > geo.left + geo.w + 4) return -1;
    const n = layers.length;
    return n > 1 ? Math.max(0, Math.min(n - 1, Math.round(((px - geo.left) / geo.w) * (n - 1)))) : 0;
  };
  canvas.addEventListener("mousemove", (ev) => {
    const i = at(ev);
    if (i >= 0) readout.textContent = `${layers[i]} · class separation ${pct(sep[layers[i]])} at ${stepLabel(record.step)}`;
  });
  canvas.addEventListener("click", (ev) => {
    const i = at(ev);
    if (i > 0 && app.network.layer(layers[i])) app.selectLayer(layers[i], { reveal: true, scroll: true });
  });
  const box = card("separation", "Class separation by layer", [
    el("p", {
      class: "muted",
      text: "Fraction of pool images whose nearest class mean is their own class, from each layer's standardised per-channel means (leave-one-out). Dashed: chance (one over the number of classes).",
    }),
    canvas,
    el("div", { class: "controls" }, [legend, readout]),
    el("p", { class: "pool-facts", text: facts.join(" · ") }),
  ]);
  box.dataset.best = best !== null ? layers[best] : "";
  return box;
}

// ------------------------------------------------------------- confusion, pairs

function confusionSection({ app, record, session, name }) {
  if (!record.confusion) return card("confusion", "Confusion matrix", [el("p", { class: "muted", text: "Not stored for more than 100 classes." })]);
  const canvas = el("canvas", { class: "confusion", title: "rows: true class, columns: predicted; click a row for right vs wrong" });
  const names = record.confusion.map((_, i) => name(i));
  const geo = drawConfusion(canvas, record.confusion, names);
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    const row = Math.floor((ev.clientY - r.top - geo.top) / geo.cell);
    if (row >= 0 && row < names.length) {
      app.poolClass = row;
      app.renderView();
    }
  });
  const total = record.confusion.reduce((a, row) => a + row.reduce((b, v) => b + v, 0), 0);
  const right = record.confusion.reduce((a, row, i) => a + row[i], 0);
  return card("confusion", "Confusion matrix", [
    el("p", { class: "muted", text: `rows: true class · columns: predicted class · ${right} of ${total} right` }),
    canvas,
  ]);
}

function pairsSection({ app, record, session, sprite, name }) {
  const list = el("div", { class: "pairs" });
  if (!record.confused_pairs.length) list.append(el("p", { class: "muted", text: "No mistakes on the pool." }));
  for (const pair of record.confused_pairs) {
    const thumbs = el("div", { class: "pair-thumbs" });
    for (const i of pair.examples) {
      const c = el("canvas", { class: "pool-thumb", title: `pool image #${i}` });
      drawPoolImage(c, sprite, session, i, THUMB);
      thumbs.append(c);
    }
    const row = el("div", { class: "pair", data: { true: pair.true, pred: pair.pred }, title: "show this class in right vs wrong" }, [
      el("div", { class: "pair-label" }, [
        el("span", { class: "lbl-true", text: name(pair.true) }),
        el("span", { class: "muted", text: " taken for " }),
        el("span", { class: "lbl-pred bad", text: name(pair.pred) }),
        el("span", { class: "muted", text: ` · ${pair.count}×` }),
      ]),
      thumbs,
    ]);
    row.addEventListener("click", () => {
      app.poolClass = pair.true;
      app.renderView();
    });
    list.append(row);
  }
  return card("pairs-card", "Most confused pairs", [list]);
}

// --------------------------------------------------------------- right vs wrong

/** The first layer from which image `i` stays away from class `c` to the end, or null. */
function departure(nearest, i, c) {
  let d = null;
  for (let l = nearest.length - 1; l >= 0; l--) {
    if (nearest[l] === null || nearest[l][i] === c) break;
    d = l;
  }
  return d;
}

function mean(xs) {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function rightWrongSection({ app, record, session, pack, sprite, name, width }) {
  const labels = session.labels;
  const pred = classes(pack.arrays.get("/pred"));
  const counts = new Map();
  labels.forEach((c) => counts.set(c, (counts.get(c) || 0) + 1));
  // by default the class with the most images on its smaller side (right or wrong)
  let first = record.confused_pairs.length ? record.confused_pairs[0].true : labels[0];
  let most = -1;
  for (const k of [...counts.keys()].sort((a, b) => a - b)) {
    const n = labels.filter((t, i) => t === k && pred[i] !== k).length;
    const m = Math.min(n, counts.get(k) - n);
    if (m > most) [most, first] = [m, k];
  }
  const c = counts.has(app.poolClass) ? app.poolClass : first;
  const pick = el("select", { class: "pool-class", attrs: { "aria-label": "Class" } });
  for (const k of [...counts.keys()].sort((a, b) => a - b)) {
    const wrong = labels.filter((t, i) => t === k && pred[i] !== k).length;
    pick.append(el("option", { text: `${name(k)} (${counts.get(k)} images, ${wrong} wrong)`, attrs: { value: k } }));
  }
  pick.value = String(c);
  pick.addEventListener("change", () => {
    app.poolClass = Number(pick.value);
    app.renderView();
  });
  const layers = session.layers;
  const nearest = layers.map((l) => classes(pack.arrays.get(`${l}/nearest`)));
  const margin = layers.map((l) => values(pack.arrays.get(`${l}/margin`)));
  const members = labels.map((t, i) => i).filter((i) => labels[i] === c);
  const right = members.filter((i) => pred[i] === c);
  const wrong = members.filter((i) => pred[i] !== c);
  const meanOf = (ids) => margin.map((m) => (m ? mean(ids.map((i) => m[i])) : null));
  const chart = el("canvas", { class: "margin-chart" });
  drawMarginChart(chart, layers, right.length ? meanOf(right) : null, wrong.length ? meanOf(wrong) : null, width);
  const departs = new Map();
  for (const i of wrong) {
    const d = departure(nearest, i, c);
    const key = d === null ? "still nearest their class at the last layer" : d === 0 ? "never nearest their class (from the input on)" : layers[d];
    departs.set(key, (departs.get(key) || 0) + 1);
  }
  const summary = wrong.length
    ? `Where the wrong images of ${name(c)} leave their class for good: ${[...departs.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ×${v}`).join(", ")}`
    : `Every image of ${name(c)} is classified right.`;
  return card("right-wrong", "Right vs wrong through the layers", [
    el("div", { class: "controls" }, [el("span", { class: "muted", text: "Class" }), pick, el("span", { class: "muted", text: `${right.length} right · ${wrong.length} wrong` })]),
    el("p", {
      class: "muted",
      text: "Margin of an image at a layer: (distance to the nearest other class mean − distance to its own) / their sum; above 0 it is nearer its own class. Lines: the mean over the right and over the wrong images.",
    }),
    chart,
    el("p", { class: "pool-facts departures", text: summary }),
    el("p", { class: "muted rw-legend" }, [
      el("span", { class: "key own" }), " nearest its own class mean at the layer ",
      el("span", { class: "key other" }), " nearest another class ",
      el("span", { class: "key departs" }), " leaves its class here for good · columns: right images, then wrong ones (→ their prediction)",
    ]),
    layerGrid({ layers, nearest, margin, right: right.slice(0, MAX_SHOWN), wrong: wrong.slice(0, MAX_SHOWN), c, pred, session, sprite, name }),
  ]);
}

/** Layers (rows) × images (columns: right, then wrong); a cell is green where the
 * image's nearest class mean at that layer is its own class. */
function layerGrid({ layers, nearest, margin, right, wrong, c, pred, session, sprite, name }) {
  // deep models: rows a few pixels tall, a layer name every `every` rows (all names in the tooltips)
  const compact = layers.length > 60;
  const every = compact ? Math.ceil(layers.length / 40) : 1;
  const table = el("table", { class: `rw-grid${compact ? " compact" : ""}`, data: { rows: layers.length, cols: right.length + wrong.length } });
  const head = el("tr", {}, [el("th", { class: "corner", text: "layer" })]);
  const cols = [...right.map((i) => [i, true]), ...wrong.map((i) => [i, false])];
  cols.forEach(([i, ok], k) => {
    const canvas = el("canvas", { class: "pool-thumb" });
    drawPoolImage(canvas, sprite, session, i, THUMB);
    head.append(
      el("th", { class: `rw-col ${ok ? "good" : "bad"}${k === right.length ? " split" : ""}`, data: { image: i } }, [
        canvas,
        el("div", { class: "rw-pred", text: ok ? "✓" : `→ ${name(pred[i])}`, title: ok ? "classified right" : `predicted ${name(pred[i])}` }),
      ]),
    );
  });
  table.append(head);
  const departed = new Map(wrong.map((i) => [i, departure(nearest, i, c)]));
  layers.forEach((layer, l) => {
    const label = l % every === 0 || l === layers.length - 1 ? layer : "";
    const tr = el("tr", { data: { layer } }, [el("th", { class: `rw-layer${label ? " tick" : ""}`, text: label, title: layer })]);
    cols.forEach(([i], k) => {
      const n = nearest[l] ? nearest[l][i] : null;
      const m = margin[l] ? margin[l][i] : null;
      const state = n === null ? "none" : n === c ? "own" : "other";
      const departs = departed.get(i) === l;
      tr.append(
        el("td", {
          class: `rw-cell ${state}${departs ? " departs" : ""}${k === right.length ? " split" : ""}`,
          title: `${layer} · image #${i}: nearest ${n === null ? "–" : name(n)}${m === null ? "" : ` · margin ${m.toFixed(2)}`}${departs ? " · leaves its class here" : ""}`,
        }),
      );
    });
    table.append(tr);
  });
  return el("div", { class: "rw-scroll" }, [table]);
}
