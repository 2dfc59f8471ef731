// Skip-connection arcs drawn in an SVG above the flow pipeline.

/**
 * Arcs above the pipeline for inputs that do not come from the column on the
 * left; sets `pipeline.dataset.skips` to the number drawn.
 * @param {Array<object>} allLayers every layer of the model (hidden ones too)
 * @param {HTMLElement} pipeline the element holding the `.layer-col` cards
 * @param {SVGSVGElement} svg
 * @param {Array<object>} layers the displayed layers, in column order
 */
export function drawArcs(allLayers, pipeline, svg, layers) {
  const shown = new Set(layers.map((l) => l.name));
  const byName = new Map(allLayers.map((l) => [l.name, l]));
  const visibleSource = (name) => {
    let cur = name;
    for (let guard = 0; guard < 1000 && cur && !shown.has(cur); guard++) {
      const l = byName.get(cur);
      cur = l && l.inbound && l.inbound.length ? l.inbound[0] : null;
    }
    return cur;
  };
  const cols = new Map();
  for (const c of pipeline.querySelectorAll(".layer-col")) cols.set(c.dataset.layer, c);
  const width = pipeline.scrollWidth;
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", "34");
  svg.setAttribute("viewBox", `0 0 ${width} 34`);
  const ns = "http://www.w3.org/2000/svg";
  const defs = document.createElementNS(ns, "defs");
  const marker = document.createElementNS(ns, "marker");
  marker.setAttribute("id", "arrow");
  marker.setAttribute("viewBox", "0 0 10 10");
  marker.setAttribute("refX", "8");
  marker.setAttribute("refY", "5");
  marker.setAttribute("markerWidth", "6");
  marker.setAttribute("markerHeight", "6");
  marker.setAttribute("orient", "auto-start-reverse");
  const tip = document.createElementNS(ns, "path");
  tip.setAttribute("d", "M 0 0 L 10 5 L 0 10 z");
  tip.setAttribute("fill", "#1976d2");
  marker.append(tip);
  defs.append(marker);
  svg.append(defs);
  let count = 0;
  layers.forEach((layer, i) => {
    const prev = i > 0 ? layers[i - 1].name : null;
    for (const src of layer.inbound || []) {
      const from = visibleSource(src);
      if (!from || from === prev || from === layer.name || !cols.has(from)) continue;
      const a = cols.get(from);
      const b = cols.get(layer.name);
      const x1 = a.offsetLeft + a.offsetWidth / 2;
      const x2 = b.offsetLeft + b.offsetWidth / 2;
      const h = 30 - (count % 3) * 7;
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", `M ${x1} 34 C ${x1} ${34 - h}, ${x2} ${34 - h}, ${x2} 34`);
      path.setAttribute("class", "skip-arc");
      path.setAttribute("marker-end", "url(#arrow)");
      path.dataset.from = from;
      path.dataset.to = layer.name;
      const title = document.createElementNS(ns, "title");
      title.textContent = `skip connection: ${from} → ${layer.name}`;
      path.append(title);
      svg.append(path);
      a.classList.add("skip-source");
      count++;
    }
  });
  pipeline.dataset.skips = String(count);
}
