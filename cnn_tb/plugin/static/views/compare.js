// The compare view: a probes × layers table of channel-reduced maps at the
// current step, with the columns of the flow view (a closed block is one
// column, its output); a cell opens that probe and layer (or block) in the
// flow view.

import * as draw from "../draw.js";
import { className, confText, el, probeName, shapeText, stepLabel } from "../dom.js";

/**
 * Render every probe through every logged layer at the current step.
 * @param {import("../app.js").FlowApp} app
 * @param {number} token render token; a newer render makes this one stop
 */
export async function renderCompare(app, token) {
  const step = app.step();
  const n = app.probeCount();
  const probes = [...Array(n).keys()];
  const [packs, images] = await app.probeData(probes, step);
  if (token !== app.token) return;
  const net = app.network;
  const columns = net.flowItems(app.expanded, false).map((it) =>
    it.kind === "layer" ? { name: it.layer.name, layer: it.layer, item: it } : { name: it.block.name, layer: net.blockOutput(it.id, app.showAll), item: it },
  );
  const table = el("table", { class: "compare" });
  table.append(
    el(
      "tr",
      {},
      [el("th", { class: "corner", text: "probe" })].concat(
        columns.map((c) =>
          el("th", {
            class: `col-name${c.item.kind === "block" ? " block-name" : ""}`,
            text: c.item.kind === "block" ? `▸ ${c.name}` : c.name,
            title: c.item.kind === "block" ? `${c.name}: block of ${c.item.block.layers} layers, output of ${c.layer.name} · ${shapeText(c.layer.output_shape)}` : `${c.name} · ${c.layer.class} · ${shapeText(c.layer.output_shape)}`,
          }),
        ),
      ),
    ),
  );
  probes.forEach((p, row) => {
    const { pred, truth, conf, wrong } = app.prediction(p);
    const rowHead = el("th", { class: `row-head${wrong ? " wrong" : ""}` }, [
      el("div", { text: `${probeName(p)}${wrong ? " ✗" : ""}` }),
      truth !== null ? el("div", { class: "lbl-true", text: `true: ${className(app.info, truth)}` }) : null,
      pred !== null ? el("div", { class: `lbl-pred ${wrong ? "bad" : "good"}`, text: `pred: ${className(app.info, pred)}` }) : null,
    ]);
    const tr = el("tr", { data: { probe: p } }, [rowHead]);
    for (const { name, layer, item } of columns) {
      const td = el("td", { data: item.kind === "block" ? { block: item.id, name } : { layer: name }, title: `${probeName(p)} · ${name}: click to open in the flow view` });
      td.addEventListener("click", () => {
        app.probe = p;
        if (item.kind === "block") {
          app.expanded = app.expanded.slice(0, item.level - 1).concat([item.id]);
          app.setMode("flow");
        } else if (layer.kind === "input") {
          app.selected = null;
          app.setMode("flow");
        } else app.selectLayer(layer.name, { reveal: true });
      });
      const pack = packs[row];
      if (layer.kind === "input") {
        const c = el("canvas", { class: "map" });
        if (images[row]) draw.drawImage(c, images[row]);
        td.append(c);
      } else if (pack instanceof Error) td.append(el("span", { class: "cell-msg", text: "–" }));
      else if (app.isOutput(layer)) {
        td.append(el("div", { class: `out-text ${wrong ? "bad" : "good"}`, text: `${className(app.info, pred)} ${confText(conf)}` }));
      } else {
        const arrays = pack.layers.get(layer.name) || {};
        const entry = app.reducedMap(arrays);
        const c = el("canvas", { class: "map" });
        if (entry) draw.drawMap(c, entry, null, app.range(layer.name), app.cmap);
        else if (arrays.vector) {
          c.classList.add("unit-grid");
          draw.drawUnitGrid(c, arrays.vector, null, app.cmap);
        }
        td.append(c);
      }
      tr.append(td);
    }
    table.append(tr);
  });
  app.detail.hidden = true;
  app.main.replaceChildren(
    el("div", { class: "view-title" }, [el("span", { text: "How different probes flow through the network" }), el("span", { class: "muted", text: ` · ${stepLabel(step)} · ${app.reduce} maps` })]),
    el("div", { class: "compare-scroll" }, [table]),
  );
}
