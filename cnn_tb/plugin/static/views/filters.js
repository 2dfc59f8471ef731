// The filters view: the kernels of one conv layer as a filter grid, with
// their relative change over the epochs.

import * as draw from "../draw.js";
import { el, pct, select, shapeText, stepLabel } from "../dom.js";

/**
 * Render the kernels of `app.filterLayer` (the first conv layer by default) at the current step.
 * @param {import("../app.js").FlowApp} app
 * @param {number} token render token; a newer render makes this one stop
 */
export async function renderFilters(app, token) {
  const convs = app.info.layers.filter((l) => l.is_conv && l.logged !== false);
  app.detail.hidden = true;
  if (!convs.length) {
    app.main.replaceChildren(el("p", { class: "muted", text: "This model has no convolution layers with logged kernels." }));
    return;
  }
  if (!app.filterLayer || !convs.some((l) => l.name === app.filterLayer)) app.filterLayer = convs[0].name;
  const layer = convs.find((l) => l.name === app.filterLayer);
  const step = app.step();
  let kpack;
  try {
    kpack = await app.api.kernels(app.run, step, layer.name);
  } catch (e) {
    kpack = e;
  }
  if (token !== app.token) return;
  const pick = select(convs.map((l) => [l.name, l.name]), layer.name, (v) => app.setOption("filterLayer", v), { class: "filter-layer" });
  const body = el("div", { class: "filters-body" });
  if (kpack instanceof Error) body.append(el("p", { class: "muted", text: kpack.message }));
  else {
    const entry = kpack.arrays.get(`${layer.name}/kernel`);
    if (!entry) body.append(el("p", { class: "muted", text: "no kernels logged for this layer at this epoch" }));
    else {
      const c = el("canvas", { class: "kernel-grid big" });
      const colsN = draw.kernelColumns(entry.shape[3]);
      draw.drawKernelGrid(c, entry, colsN);
      c.style.width = `${Math.min(900, Math.max(360, colsN * (entry.shape[1] + 1) * 26))}px`;
      body.append(c);
    }
  }
  const changes = app.series((e) => (e.kernel_change || {})[layer.name]);
  const spark = el("canvas", { class: "spark" });
  draw.drawSparkline(spark, changes, app.idx, 260, 40);
  const cur = changes[app.idx];
  const side = el("div", { class: "filters-side" }, [
    el("div", { class: "big-number", text: cur === null ? "–" : pct(cur) }),
    el("div", { class: "muted", text: `relative L2 change of the kernels at ${stepLabel(step)} vs the previous logged step` }),
    spark,
    el("div", { class: "muted", text: `${layer.class} · kernel ${shapeText(layer.kernel_shape)} · press Play to watch the filters evolve` }),
  ]);
  app.main.replaceChildren(
    el("div", { class: "view-title" }, [el("span", { text: "Filters of " }), pick, el("span", { class: "muted", text: ` · ${stepLabel(step)}` })]),
    el("div", { class: "filters" }, [body, side]),
  );
}
