// The layer search box: type part of a layer name, pick a match (Enter takes
// the first); the blocks around it open and it is selected.

import { el, shapeText } from "../dom.js";

const MAX_MATCHES = 12;

/**
 * Layers whose name contains `text` (case-insensitive): names starting with it first.
 * @param {Array<object>} layers
 * @param {string} text
 */
export function matchLayers(layers, text) {
  const q = text.trim().toLowerCase();
  if (!q) return [];
  const hits = layers.filter((l) => l.name.toLowerCase().includes(q));
  const starts = (l) => (l.name.toLowerCase().startsWith(q) ? 0 : 1);
  return hits.sort((a, b) => starts(a) - starts(b)).slice(0, MAX_MATCHES);
}

/**
 * The search field with its list of matches (built once, in the toolbar).
 * @param {import("../app.js").FlowApp} app
 * @returns {HTMLElement}
 */
export function buildSearch(app) {
  const input = el("input", { class: "layer-search", attrs: { type: "search", placeholder: "find layer…", "aria-label": "Find layer", autocomplete: "off", spellcheck: "false" } });
  const list = el("div", { class: "search-results", attrs: { hidden: "" } });
  let matches = [];
  const pick = (layer) => {
    list.hidden = true;
    input.value = layer.name;
    input.blur();
    app.selectLayer(layer.name, { reveal: true, scroll: true });
  };
  const update = () => {
    if (!app.network) return;
    matches = matchLayers(app.network.shownOrder(app.showAll).filter((l) => l.kind !== "input"), input.value);
    list.replaceChildren(
      ...matches.map((l) => {
        const b = el("button", { class: "search-hit", data: { layer: l.name }, title: l.name }, [
          el("span", { class: "hit-name", text: l.name }),
          el("span", { class: "muted", text: ` ${l.class} · ${shapeText(l.output_shape)}` }),
        ]);
        b.addEventListener("mousedown", (ev) => ev.preventDefault()); // keep the focus until the click
        b.addEventListener("click", () => pick(l));
        return b;
      }),
    );
    if (!matches.length && input.value.trim()) list.append(el("div", { class: "muted search-none", text: "no layer matches" }));
    list.hidden = !input.value.trim();
  };
  input.addEventListener("input", update);
  input.addEventListener("focus", update);
  input.addEventListener("blur", () => (list.hidden = true));
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && matches.length) pick(matches[0]);
    else if (ev.key === "Escape") {
      input.value = "";
      list.hidden = true;
      input.blur();
    }
  });
  app.searchInput = input;
  return el("div", { class: "search-box" }, [input, list]);
}
