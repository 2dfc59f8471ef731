// The compare view: a probes × layers table of channel-reduced maps at the
// current step; a cell opens that probe and layer in the flow view.

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
  const layers = app.displayedLayers().filter((l) => l.kind === "input" || l.logged);
  const table = el("table", { class: "compare" });
  table.append(
    el("tr", {}, [el("th", { class: "corner", text: "probe" })].concat(layers.map((l) => el("th", { class: "col-name", text: l.name, title: `${l.name} · ${l.class} · ${shapeText(l.output_shape)}` })))),
  );
  probes.forEach((p, row) => {
    const { pred, truth, conf, wrong } = app.prediction(p);
    const rowHead = el("th", { class: `row-head${wrong ? " wrong" : ""}` }, [
      el("div", { text: `${probeName(p)}${wrong ? " ✗" : ""}` }),
      truth !== null ? el("div", { class: "lbl-true", text: `true: ${className(app.info, truth)}` }) : null,
      pred !== null ? el("div", { class: `lbl-pred ${wrong ? "bad" : "good"}`, text: `pred: ${className(app.info, pred)}` }) : null,
    ]);
    const tr = el("tr", { data: { probe: p } }, [rowHead]);
    for (const layer of layers) {
      const td = el("td", { data: { layer: layer.name }, title: `${probeName(p)} · ${layer.name}: click to open in the flow view` });
      td.addEventListener("click", () => {
        app.probe = p;
        app.selected = layer.kind === "input" ? null : layer.name;
        app.setMode("flow");
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
        else if (arrays.vector) draw.drawVector(c, arrays.vector, null, app.cmap, 64, 32);
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
