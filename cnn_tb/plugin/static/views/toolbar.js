// The toolbar: run picker, reload, mode tabs and the map display options.

import { COLORMAPS } from "../colormaps.js";
import { reloadRuns, selectRun } from "../run_loader.js";
import { el, field, select } from "../dom.js";

const MODES = [
  ["flow", "Flow"],
  ["compare", "Compare probes"],
  ["filters", "Filters"],
  ["pool", "Pool"],
];
const REDUCTIONS = [
  ["mean", "channel mean"],
  ["max", "channel max"],
];
const NORMALISATIONS = [
  ["map", "per map"],
  ["layer", "per layer"],
  ["fixed", "fixed across epochs"],
];

/**
 * Fill `app.toolbar`; sets `app.runSelect`, `app.modeButtons` and the option selects.
 * @param {import("../app.js").FlowApp} app
 */
export function buildToolbar(app) {
  app.runSelect = select([], "", (v) => selectRun(app, v), { class: "run-select", attrs: { "aria-label": "Run" } });
  const reload = el("button", { class: "btn", text: "Reload", title: "Reload runs and epochs" });
  reload.addEventListener("click", () => reloadRuns(app));
  const auto = el("input", { attrs: { type: "checkbox" } });
  auto.checked = app.autoReload;
  auto.addEventListener("change", () => (app.autoReload = auto.checked));
  app.modeButtons = {};
  const modes = el("div", { class: "modes", attrs: { role: "tablist" } });
  for (const [m, label] of MODES) {
    const b = el("button", { class: "mode-btn", text: label, data: { mode: m } });
    b.addEventListener("click", () => app.setMode(m));
    app.modeButtons[m] = b;
    modes.append(b);
  }
  const option = (key, options, cls) => select(options, app[key], (v) => app.setOption(key, v), { class: cls });
  app.reduceSelect = option("reduce", REDUCTIONS, "reduce-select");
  app.cmapSelect = option("cmap", COLORMAPS.map((c) => [c, c]), "cmap-select");
  app.normSelect = option("norm", NORMALISATIONS, "norm-select");
  const all = el("input", { attrs: { type: "checkbox" }, class: "show-all" });
  all.addEventListener("change", () => app.setOption("showAll", all.checked));
  app.toolbar.append(
    el("div", { class: "group" }, [field("Run", app.runSelect), reload, el("label", { class: "check" }, [auto, "auto-reload"])]),
    modes,
    el("div", { class: "group" }, [
      field("Map", app.reduceSelect),
      field("Colormap", app.cmapSelect),
      field("Normalise", app.normSelect),
      el("label", { class: "check", title: "Also show layers the writer did not log" }, [all, "all layers"]),
    ]),
  );
  app.updateModeButtons();
}
