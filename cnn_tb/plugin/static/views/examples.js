// The held-out pool in the flow view: each layer card's class separation, and
// in the detail panel, under each channel's map, the pool images that excite
// the channel most, cropped to the receptive field of the maximum.

import { el, pct, stepLabel } from "../dom.js";
import { classLabel, drawPoolImage, loadPool, poolAt, poolAtFull, poolPack, poolSprite, withContext } from "../pool_data.js";

const CROP = 48; // canvas pixels on the longer side of a crop

/**
 * Put "sep 87%" on each layer card of `root` (the most separating layer of the
 * shown pool epoch marked); nothing when the run has no pool.
 * @param {import("../app.js").FlowApp} app
 * @param {HTMLElement} root holds the `.layer-col[data-layer]` cards
 * @param {number} token render token
 */
export async function addSeparationBadges(app, root, token) {
  const pool = await loadPool(app).catch(() => null);
  if (token !== app.token || !pool) return;
  const at = await poolAtFull(app, pool, app.step()).catch(() => null);
  if (token !== app.token || !at) return;
  const sep = at.record.class_separation;
  let best = null;
  for (const [layer, v] of Object.entries(sep)) if (v !== null && (best === null || v > sep[best])) best = layer;
  const cards = [...root.querySelectorAll(".layer-col[data-layer]")].map((c) => [c, c.dataset.layer]);
  // a closed block card shows its output layer: its class separation too
  for (const c of root.querySelectorAll(".block-col[data-block]")) {
    const out = app.network.blockOutput(Number(c.dataset.block), app.showAll);
    if (out) cards.push([c, out.name]);
  }
  for (const [col, layer] of cards) {
    if (!(layer in sep) || sep[layer] === null) continue;
    const head = col.querySelector(".col-head") || col;
    const isBest = layer === best;
    head.append(
      el("div", {
        class: `sep-badge${isBest ? " best" : ""}`,
        text: `${isBest ? "★ " : ""}sep ${pct(sep[layer])}`,
        data: { value: sep[layer] },
        title: `${layer}: class separation ${pct(sep[layer])} on the held-out pool at ${stepLabel(at.record.step)}, the fraction of pool images nearest their own class mean${isBest ? " (the most separating layer)" : ""}`,
      }),
    );
  }
}

/**
 * Under each `.map-tile[data-channel]` of the detail panel, the top pool images
 * of that channel, cropped to the receptive field of their maximum.
 * @param {import("../app.js").FlowApp} app
 * @param {object} layer the selected layer (run record entry)
 * @param {number} token render token
 */
export async function addChannelExamples(app, layer, token) {
  const pool = await loadPool(app).catch(() => null);
  if (token !== app.token || !pool) return;
  const at = poolAt(pool, app.step());
  const info = at && at.session.examples[layer.name];
  if (!info) return;
  let pack;
  let sprite;
  try {
    [pack, sprite] = await Promise.all([poolPack(app, at.record.step, layer.name, "examples"), poolSprite(app, at.record.step, at.session)]);
  } catch (e) {
    return;
  }
  if (token !== app.token) return;
  const table = pack.arrays.get(`${layer.name}/examples`);
  if (!table) return;
  const [n, k, f] = table.shape;
  const channels = (table.meta && table.meta.channels) || [...Array(n).keys()];
  const section = app.detail.querySelector(".maps-section");
  const field = info.field && info.field.size ? `${info.field.size[0]}×${info.field.size[1]} px` : "";
  if (section) {
    section.querySelector("h4").after(
      el("p", {
        class: "muted examples-note",
        text: `Under each map: the ${k} pool images that excite the channel most (${stepLabel(at.record.step)}), cropped to the receptive field of the maximum${field ? ` (${field}${info.field.exact ? "" : ", approximate"})` : ""}; a field smaller than a third of the image is framed, with the pixels around it.`,
      }),
    );
  }
  for (const tile of app.detail.querySelectorAll(".map-tile[data-channel]")) {
    const c = channels.indexOf(Number(tile.dataset.channel));
    if (c < 0) continue;
    const strip = el("div", { class: "examples", data: { channel: tile.dataset.channel } });
    for (let r = 0; r < k; r++) {
      const row = table.data.subarray((c * k + r) * f, (c * k + r + 1) * f);
      const [image, value, y0, x0, y1, x1] = row;
      const canvas = el("canvas", {
        class: "example",
        title: `pool image #${image} · max ${Number(value).toPrecision(3)} · pixels y ${y0}–${y1}, x ${x0}–${x1} · true ${classLabel(at.session, at.session.labels[image])}`,
        data: { image },
      });
      // a receptive field smaller than a third of the image is shown framed, with context around it
      const [H, W] = at.session.image_shape;
      const side = Math.max(4, Math.round(Math.min(H, W) / 3));
      const rf = [y0, x0, y1, x1];
      const shown = withContext(rf, side, H, W);
      const framed = shown.some((v, i) => v !== rf[i]);
      canvas.dataset.box = rf.join(",");
      drawPoolImage(canvas, sprite, at.session, image, CROP, shown, framed ? rf : null);
      strip.append(canvas);
    }
    tile.append(strip);
  }
}
