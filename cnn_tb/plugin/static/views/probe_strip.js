// The probe strip: one thumbnail per probe image with its true and predicted
// labels, plus the "side by side with" picker for a second probe.

import { className, confText, el, field, probeName, select } from "../dom.js";

/**
 * Rebuild the strip for the loaded run; sets `app.probeItems` and `app.probe2Select`.
 * @param {import("../app.js").FlowApp} app
 */
export function buildProbeStrip(app) {
  const n = app.probeCount();
  app.probeItems = [];
  const items = [];
  for (let i = 0; i < n; i++) {
    const img = el("img", { class: "thumb", attrs: { src: app.api.probeUrl(app.run, i), alt: probeName(i) } });
    const labels = el("div", { class: "probe-labels" });
    const item = el("button", { class: "probe", data: { probe: i } }, [img, labels]);
    item.addEventListener("click", (ev) => {
      if (ev.shiftKey) app.probe2 = app.probe2 === i || i === app.probe ? null : i;
      else {
        app.probe = i;
        if (app.probe2 === i) app.probe2 = null;
      }
      app.probe2Select.value = app.probe2 === null ? "" : String(app.probe2);
      app.renderView();
    });
    app.probeItems.push({ item, labels });
    items.push(item);
  }
  app.probe2Select = select(
    [["", "none"]].concat(Array.from({ length: n }, (_, i) => [String(i), probeName(i)])),
    app.probe2 === null ? "" : app.probe2,
    (v) => app.setOption("probe2", v === "" ? null : Number(v)),
    { class: "probe2-select" },
  );
  app.probeStrip.replaceChildren(
    el("div", { class: "probe-list" }, items),
    el("div", { class: "probe-side" }, [field("Side by side with", app.probe2Select)]),
  );
  updateProbeStrip(app);
}

/**
 * Mark the selected/second/misclassified probes and refresh their labels for the shown epoch.
 * @param {import("../app.js").FlowApp} app
 */
export function updateProbeStrip(app) {
  if (!app.probeItems) return;
  app.probeItems.forEach(({ item, labels }, i) => {
    const { pred, truth, conf, wrong } = app.prediction(i);
    item.classList.toggle("selected", i === app.probe);
    item.classList.toggle("second", i === app.probe2);
    item.classList.toggle("wrong", wrong);
    item.dataset.wrong = wrong ? "1" : "0";
    const kids = [el("span", { class: "probe-index", text: `${probeName(i)}${wrong ? " ✗" : ""}` })];
    const full = [probeName(i)];
    if (truth !== null) {
      kids.push(el("span", { class: "lbl-true", text: `true: ${className(app.info, truth)}` }));
      full.push(`true: ${className(app.info, truth)}`);
    }
    if (pred !== null) {
      const text = `pred: ${className(app.info, pred)} ${confText(conf)}`.trim();
      kids.push(el("span", { class: `lbl-pred ${wrong ? "bad" : "good"}`, text }));
      full.push(text);
    }
    labels.replaceChildren(...kids);
    // labels wrap inside the card; the tooltip repeats them on one line each
    item.title = `${full.join("\n")}\nclick: show this probe · shift-click: side by side`;
  });
}
