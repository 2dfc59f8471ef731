// The flow view: the whole network on one screen. The top level (blocks and
// loose layers, at most 16 items: see cnn_tb/plugin/structure.py) is laid out
// in rows of cards that fit the width; an open block shows its children in a
// panel below, and an open unit inside it a second panel. Above them: the
// title with the layer search and the depth overview; below: the detail panel
// of the selected layer and the depth charts.

import { renderDetail } from "./detail.js";
import { renderDepthPanel } from "./depth.js";
import { renderOverview } from "./overview.js";
import { buildSearch } from "./search.js";
import { blockCard, blockSummary, layerCard } from "./cards.js";
import { el, probeName, shapeText, showBuilt, stepLabel } from "../dom.js";
import { drawArcs, markArcs } from "./skip_arcs.js";
import { addSeparationBadges } from "./examples.js";

const GAP = 12; // the arrow between two cards (.conn in style.css)
const MIN_CARD = 80; // narrowest card before a row wraps
const CARD = 118; // card width in wrapped rows
const MAX_CARD = 150;
const OUTPUT_CARD = 150; // .layer-col.output in style.css

/**
 * Render the flow of the shown probe(s) at the current step, then the detail
 * panel of the selected layer and the depth panel.
 * @param {import("../app.js").FlowApp} app
 * @param {number} token render token; a newer render makes this one stop
 */
export async function renderFlow(app, token) {
  const step = app.step();
  const probes = [app.probe, app.probe2].filter((p) => p !== null);
  const [packs, images] = await app.probeData(probes, step);
  if (token !== app.token) return;
  const net = app.network;
  app.flowWidth = app.main.clientWidth;
  const width = Math.max(320, app.flowWidth - 32);
  const top = net.topItems(app.showAll);
  const ctx = { app, probes, packs, images };
  const flow = el("div", { class: "flow", data: { items: top.length } });
  flow.append(...rows(ctx, top, width, 1));
  const panels = [];
  const panelWidth = (level) => width - 8 - 24 * level; // panel border, padding and indent
  let parent = app.expanded[0] !== undefined ? top.find((it) => it.kind === "block" && it.id === app.expanded[0]) : null;
  for (let level = 1; parent && level <= 2; level++) {
    const kids = net.childItems(parent.id, app.showAll);
    const panel = el("div", { class: `block-panel level-${level}`, data: { block: parent.id, name: parent.block.name, children: kids.length } }, [
      panelHead(app, parent, level),
      ...rows(ctx, kids, panelWidth(level), level + 1),
    ]);
    panels.push(panel);
    const next = app.expanded[level];
    parent = next !== undefined ? kids.find((it) => it.kind === "block" && it.id === next) : null;
  }
  const head = flowHead(app);
  const overview = renderOverview(app);
  // the class-separation badges go on the cards before they are shown (one build to show)
  const built = el("div", {}, [overview, flow, ...panels]);
  await addSeparationBadges(app, built, token);
  if (token !== app.token) return;
  head.title.textContent = app.info.model_name;
  head.info.textContent = ` · ${probes.map(probeName).join(" vs ")} · ${stepLabel(step)} · ${layerCountText(app)}`;
  const scrollY = window.scrollY;
  // the head (with the search field, which may have the focus) stays; the rest is
  // patched in place when only the epoch (or the data) changed, else rebuilt
  if (app.main.firstChild !== head.box || app.main.childNodes.length !== 2) app.main.replaceChildren(head.box, head.body);
  const key = viewKey(app, probes, width);
  const kept = showBuilt(head.body, key, [...built.childNodes]);
  if (!kept) for (const row of app.main.querySelectorAll(".pipeline")) drawArcs(row); // new or replaced rows
  head.body.dataset.patched = String(kept ? Number(head.body.dataset.patched || 0) + 1 : 0);
  window.scrollTo(window.scrollX, scrollY);
  if (app.selected) await renderDetail(app, token);
  else app.detail.hidden = true;
  if (token !== app.token) return;
  await renderDepthPanel(app, token, key);
  if (token !== app.token) return;
  if (app.scrollPanel) {
    app.scrollPanel = false;
    // an opened panel below the screen: scroll so that its head shows, the flow above it as far as possible
    const panels = app.main.querySelectorAll(".block-panel");
    const last = panels[panels.length - 1];
    const top = last ? last.getBoundingClientRect().top : 0;
    if (last && top > window.innerHeight - 160) window.scrollBy(0, top - window.innerHeight + 320);
  }
  if (app.scrollToSelected) {
    app.scrollToSelected = false;
    const card = [...app.main.querySelectorAll(".layer-col")].find((c) => c.dataset.layer === app.selected);
    if (card) card.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
}

/**
 * What the flow's structure and its listeners depend on: two renders with the
 * same key differ only in what they show of the data (epoch, statistics, maps).
 */
function viewKey(app, probes, width) {
  return JSON.stringify([app.run, app.infoVersion, app.showAll, app.expanded, app.selected, probes, width,
    app.reduce, app.cmap, app.norm, app.depthStat]);
}

/** The title row of the flow view, built once: model name, what is shown, the layer search. */
function flowHead(app) {
  if (!app.flowHead) {
    const title = el("span", { class: "model-name" });
    const info = el("span", { class: "muted" });
    const box = el("div", { class: "view-title" }, [title, info, buildSearch(app)]);
    app.flowHead = { box, title, info, body: el("div", { class: "flow-body" }) };
  }
  return app.flowHead;
}

function layerCountText(app) {
  const net = app.network;
  const logged = net.loggedOrder().length;
  if (net.flat) return `${logged} logged layers · click a layer for details · ↑/↓ layer, ←/→ epoch`;
  const blocks = net.topItems(app.showAll).filter((it) => it.kind === "block").length;
  return `${logged} logged layers in ${blocks} block${blocks === 1 ? "" : "s"} · click a block to open it, a layer for details · ↑/↓ layer, ←/→ epoch`;
}

function panelHead(app, parent, level) {
  const close = el("button", { class: "btn icon close", text: "×", title: "close this block" });
  close.addEventListener("click", () => app.toggleBlock(parent.id, level));
  const path = app.expanded.slice(0, level).map((id) => app.network.blocks[id].name).join(" ▸ ");
  return el("div", { class: "panel-head" }, [
    el("span", { class: "panel-title", text: path }),
    el("span", { class: "muted", text: ` · ${blockSummary(app, parent.block)} · ${parent.block.kind === "stage" ? "click a block to open it" : "click a layer for details"}` }),
    close,
  ]);
}

/**
 * Lay `items` out in rows of cards that fit `width`: one row while cards can
 * be at least MIN_CARD wide, else rows of CARD-wide cards.
 * @returns {Array<HTMLElement>} the `.pipeline` rows
 */
function rows(ctx, items, width, level) {
  const { app } = ctx;
  const n = items.length;
  if (!n) return [el("p", { class: "muted", text: "Nothing logged in this block." })];
  const hasOutput = items[n - 1].kind === "layer" && app.isOutput(items[n - 1].layer);
  const plain = n - (hasOutput ? 1 : 0);
  const fitOne = (width - (hasOutput ? OUTPUT_CARD : 0) - (n - 1) * GAP) / Math.max(1, plain);
  let perRow = n;
  let card = Math.min(MAX_CARD, Math.floor(fitOne));
  if (fitOne < MIN_CARD) {
    // wrapped rows; each row starts with a "↪" as wide as a gap
    const fit = Math.max(1, Math.floor(width / (CARD + GAP)));
    const count = Math.ceil(n / fit);
    perRow = Math.ceil(n / count);
    card = Math.min(MAX_CARD, Math.floor((width - perRow * GAP - (hasOutput ? OUTPUT_CARD - CARD : 0)) / perRow));
  }
  const out = [];
  let prevShape = null;
  for (let start = 0; start < n; start += perRow) {
    const row = el("div", { class: "pipeline", data: { rows: ctx.probes.length, level }, style: { "--card-w": `${card}px`, "--map-w": `${card - 14}px` } });
    row.append(svgArcs());
    items.slice(start, start + perRow).forEach((it, k) => {
      if (k > 0 || start > 0) row.append(el("div", { class: "conn", text: k === 0 ? "↪" : "→", attrs: { "aria-hidden": "true" } }));
      const outLayer = it.kind === "layer" ? it.layer : app.network.blockOutput(it.id, app.showAll);
      const shape = shapeText(outLayer.output_shape);
      const changed = prevShape !== null && prevShape !== shape;
      prevShape = shape;
      row.append(
        it.kind === "layer"
          ? layerCard(app, it.layer, ctx.probes, ctx.packs, ctx.images, changed)
          : blockCard(app, it, ctx.probes, ctx.packs, ctx.images, changed, level),
      );
    });
    markArcs(app.network, row);
    out.push(row);
  }
  return out;
}

function svgArcs() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "arcs");
  return svg;
}
