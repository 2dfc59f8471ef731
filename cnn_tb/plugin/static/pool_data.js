// The held-out pool's data (routes /pool, /pool_pack, /pool_images in API.md):
// fetching and caching, which pool step goes with the shown epoch, and pool
// images cut from the sprite (thumbnails and dataset-example crops).

import { ApiError, Lru } from "./api.js";
import { decodePack } from "./pack.js";

// Caches of this module, filled through the Api's own request and cache helpers.
const pools = new Lru(8);
const poolPacks = new Lru(200);
const sprites = new Lru(8);
const poolRecords = new Lru(128);

/**
 * The /pool payload of the shown run, or null when it has no pool (a 404).
 * Fetched again when the run gets a new epoch.
 * @param {import("./app.js").FlowApp} app
 * @returns {Promise<object|null>}
 */
export function loadPool(app) {
  const steps = app.epochs ? app.epochs.steps : [];
  const key = JSON.stringify([app.run, steps.length ? steps[steps.length - 1] : null]);
  return app.api._cached(pools, key, async () => {
    try {
      return await (await app.api._fetch("pool", { run: app.run })).json();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  });
}

/**
 * The pool step shown with epoch `step`: the latest pool step at or before it.
 * @returns {{record: object, session: object, exact: boolean}|null}
 */
export function poolAt(pool, step) {
  if (!pool || !pool.records.length) return null;
  let pick = null;
  for (const r of pool.records) if (r.step <= step) pick = r;
  if (!pick) return null;
  return { record: pick, session: pool.sessions[pick.session], exact: pick.step === step };
}

/**
 * `poolAt(pool, step)` with its record in full: a `partial` record of a long
 * run's /pool is fetched whole (/pool_record) and replaces it in `pool.records`.
 * @returns {Promise<{record: object, session: object, exact: boolean}|null>}
 */
export async function poolAtFull(app, pool, step) {
  const at = poolAt(pool, step);
  if (!at || !at.record.partial) return at;
  const run = app.run;
  const full = await app.api._cached(poolRecords, JSON.stringify([run, at.record.step]), () => app.api.poolRecord(run, at.record.step));
  const i = pool.records.indexOf(at.record);
  const record = Object.assign({}, full, { fetched: true });
  if (i >= 0) pool.records[i] = record;
  return { ...at, record };
}

/**
 * Decoded pool pack of a pool step (optionally one layer and some kinds).
 * @returns {Promise<{header: object, arrays: Map, layers: Map}>}
 */
export function poolPack(app, step, layer = null, kinds = null) {
  const run = app.run;
  return app.api._cached(poolPacks, JSON.stringify([run, step, layer, kinds]), async () =>
    decodePack(await (await app.api._fetch("pool_pack", { run, step, layer, kinds })).arrayBuffer()),
  );
}

/**
 * The sprite of the pool used at pool step `step` (null when it cannot load).
 * @returns {Promise<HTMLImageElement|null>}
 */
export function poolSprite(app, step, session) {
  const q = new URLSearchParams({ run: app.run, step: String(step) });
  return app.api._cached(sprites, JSON.stringify([app.run, session.sprite.file]), () =>
    new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => resolve(null);
      img.src = `./pool_images?${q.toString()}`;
    }),
  );
}

/** The name of class `i` in a pool session ("#i" without class names). */
export function classLabel(session, i) {
  if (i === null || i === undefined) return "?";
  const names = session.class_names;
  return names && i >= 0 && i < names.length ? names[i] : `#${i}`;
}

/** The values of a uint8 pack array as numbers (lo + q / 255 * (hi - lo)), or a float32 array as is. */
export function values(entry) {
  if (!entry) return null;
  if (entry.dtype === "float32") return Array.from(entry.data);
  const lo = Number(entry.lo) || 0;
  const hi = Number(entry.hi) || 0;
  return Array.from(entry.data, (q) => lo + (q / 255) * (hi - lo));
}

/** Classes stored in a pack array (uint8 255 / float32 -1: undefined -> null). */
export function classes(entry) {
  if (!entry) return null;
  if (entry.dtype === "float32") return Array.from(entry.data, (v) => (v < 0 ? null : Math.round(v)));
  return Array.from(entry.data, (v) => (v === 255 ? null : v));
}

function spriteRect(session, index) {
  const [th, tw] = session.sprite.thumb;
  const cols = session.sprite.columns;
  return [(index % cols) * tw, Math.floor(index / cols) * th, tw, th];
}

/**
 * `box` = [y0, x0, y1, x1] grown to at least `side` pixels a side around its
 * centre, inside an `H` × `W` image (the context around a small receptive field).
 */
export function withContext(box, side, H, W) {
  const grow = (a, b, n) => {
    const want = Math.min(n, Math.max(side, b - a));
    let lo = Math.round((a + b - want) / 2);
    lo = Math.max(0, Math.min(n - want, lo));
    return [lo, lo + want];
  };
  const [y0, y1] = grow(box[0], box[2], H);
  const [x0, x1] = grow(box[1], box[3], W);
  return [y0, x0, y1, x1];
}

/**
 * Draw pool image `index` (a crop of it when `box` = [y0, x0, y1, x1] in pool-image
 * pixels) into `canvas`, `size` pixels on its longer side; `outline` (a box
 * inside `box`) is framed.
 */
export function drawPoolImage(canvas, sprite, session, index, size, box = null, outline = null) {
  const [sx, sy, tw, th] = spriteRect(session, index);
  const [H, W] = session.image_shape;
  const fy = th / H;
  const fx = tw / W;
  let src = [sx, sy, tw, th];
  if (box) {
    const [y0, x0, y1, x1] = box;
    src = [sx + x0 * fx, sy + y0 * fy, Math.max(1, (x1 - x0) * fx), Math.max(1, (y1 - y0) * fy)];
  }
  const scale = size / Math.max(src[2], src[3]);
  canvas.width = Math.max(1, Math.round(src[2] * scale));
  canvas.height = Math.max(1, Math.round(src[3] * scale));
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  if (sprite) ctx.drawImage(sprite, src[0], src[1], src[2], src[3], 0, 0, canvas.width, canvas.height);
  else {
    ctx.fillStyle = "#eeeeee";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  if (outline && box) {
    const k = canvas.width / src[2];
    const px = (v, o, f) => (v - o) * f * k;
    const x = px(outline[1], box[1], fx);
    const y = px(outline[0], box[0], fy);
    const w = (outline[3] - outline[1]) * fx * k;
    const h = (outline[2] - outline[0]) * fy * k;
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#ffffff";
    ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
    ctx.strokeStyle = "#000000";
    ctx.strokeRect(x - 0.5, y - 0.5, w + 1, h + 1);
  }
}
