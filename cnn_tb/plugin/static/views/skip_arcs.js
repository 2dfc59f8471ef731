// Skip-connection arcs drawn in an SVG above one row of the flow view.

const NS = "http://www.w3.org/2000/svg";
const BAND = 34; // height of the arc band above the cards

const ARCS = new WeakMap(); // row -> [[source card, target card]] (markArcs)

/**
 * Find the arcs of a row (built, not yet shown): inputs that come from a card
 * of the same row other than the one on the left. A block card stands for
 * every layer inside it; hidden (unlogged) layers are followed back to a shown
 * one. Marks what follows from the structure alone: `row.dataset.skips` (the
 * number of arcs), the `with-arcs` band (a row without arcs has no band and no
 * SVG) and the source cards; `drawArcs` draws them once the row is laid out.
 * @param {import("../network.js").Network} net
 * @param {HTMLElement} row a `.pipeline` element holding `.layer-col` / `.block-col` cards
 */
export function markArcs(net, row) {
  const cards = [...row.querySelectorAll(".layer-col, .block-col")];
  const cardOf = new Map();
  const members = new Map(); // card -> layer names it stands for
  for (const c of cards) {
    const names = c.dataset.layer !== undefined ? [c.dataset.layer] : net.layersOf(Number(c.dataset.block)).map((i) => net.layers[i].name);
    members.set(c, names);
    for (const n of names) cardOf.set(n, c);
  }
  const sourceCard = (name) => {
    let cur = name;
    for (let guard = 0; guard < 1000 && cur; guard++) {
      if (cardOf.has(cur)) return cardOf.get(cur);
      const l = net.layer(cur);
      if (!l || l.logged || l.kind === "input") return null; // shown elsewhere: no arc in this row
      cur = l.inbound && l.inbound.length ? l.inbound[0] : null;
    }
    return null;
  };
  const arcs = [];
  cards.forEach((card, i) => {
    const own = new Set(members.get(card));
    const seen = new Set();
    for (const name of own) {
      const l = net.layer(name);
      for (const src of (l && l.inbound) || []) {
        if (own.has(src)) continue;
        const from = sourceCard(src);
        if (!from || from === card || from === cards[i - 1] || seen.has(from)) continue;
        seen.add(from);
        arcs.push([from, card]);
      }
    }
  });
  row.dataset.skips = String(arcs.length);
  ARCS.set(row, arcs);
  if (!arcs.length) {
    row.querySelector("svg.arcs").remove();
    return;
  }
  row.classList.add("with-arcs");
  for (const [a] of arcs) a.classList.add("skip-source");
}

/**
 * Draw the arcs `markArcs` found in a shown row, from its cards' layout.
 * @param {HTMLElement} row
 */
export function drawArcs(row) {
  const arcs = ARCS.get(row);
  const svg = row.querySelector("svg.arcs");
  if (!arcs || !arcs.length || !svg) return;
  svg.replaceChildren();
  const width = row.scrollWidth;
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(BAND));
  svg.setAttribute("viewBox", `0 0 ${width} ${BAND}`);
  const defs = document.createElementNS(NS, "defs");
  const marker = document.createElementNS(NS, "marker");
  const id = `arrow-${Math.random().toString(36).slice(2)}`;
  marker.setAttribute("id", id);
  marker.setAttribute("viewBox", "0 0 10 10");
  marker.setAttribute("refX", "8");
  marker.setAttribute("refY", "5");
  marker.setAttribute("markerWidth", "6");
  marker.setAttribute("markerHeight", "6");
  marker.setAttribute("orient", "auto-start-reverse");
  const tip = document.createElementNS(NS, "path");
  tip.setAttribute("d", "M 0 0 L 10 5 L 0 10 z");
  tip.setAttribute("fill", "#1976d2");
  marker.append(tip);
  defs.append(marker);
  svg.append(defs);
  arcs.forEach(([a, b], count) => {
    const x1 = a.offsetLeft + a.offsetWidth / 2;
    const x2 = b.offsetLeft + b.offsetWidth / 2;
    const h = 30 - (count % 3) * 7;
    const path = document.createElementNS(NS, "path");
    path.setAttribute("d", `M ${x1} ${BAND} C ${x1} ${BAND - h}, ${x2} ${BAND - h}, ${x2} ${BAND}`);
    path.setAttribute("class", "skip-arc");
    path.setAttribute("marker-end", `url(#${id})`);
    const label = (c) => c.dataset.layer !== undefined ? c.dataset.layer : c.dataset.name;
    path.dataset.from = label(a);
    path.dataset.to = label(b);
    const title = document.createElementNS(NS, "title");
    title.textContent = `skip connection: ${label(a)} → ${label(b)}`;
    path.append(title);
    svg.append(path);
  });
}
