// Canvas charts of the Pool view: class separation by depth (one line per pool
// epoch), the confusion matrix, and right-vs-wrong margins by depth. Pure
// drawing functions; canvas text is drawn with fillText (never parsed).

import { hiDpi } from "../draw.js";

const FONT = '11px Roboto, "Helvetica Neue", Arial, sans-serif';
const GOOD = "#0f9d58";
const BAD = "#db4437";

function setup(canvas, width, height) {
  const ctx = hiDpi(canvas, width, height);
  ctx.font = FONT;
  return ctx;
}

/** Light orange (early) to dark orange (late) for epoch `i` of `n`; the shown epoch darkest. */
export function epochColour(i, n, current = false) {
  if (current) return "#e65100";
  const t = n > 1 ? i / (n - 1) : 1;
  const a = [255, 204, 128];
  const b = [191, 54, 12];
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * t)).join(",")})`;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Axes over layers (x) and [lo, hi] (y); returns the plot geometry.
 */
function axes(ctx, layers, width, height, lo, hi, ticks, fmt) {
  const labelEvery = Math.max(1, Math.ceil(layers.length / 40));
  const left = 40;
  const right = 12;
  const top = 12;
  const bottom = layers.length <= 60 ? 84 : 24;
  const w = width - left - right;
  const h = height - top - bottom;
  const x = (i) => left + (layers.length > 1 ? (i / (layers.length - 1)) * w : w / 2);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * h;
  ctx.strokeStyle = "#e0e0e0";
  ctx.fillStyle = "#757575";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of ticks) {
    ctx.beginPath();
    ctx.moveTo(left, y(v));
    ctx.lineTo(left + w, y(v));
    ctx.stroke();
    ctx.fillText(fmt(v), left - 4, y(v));
  }
  if (layers.length <= 60) {
    ctx.textAlign = "right";
    layers.forEach((name, i) => {
      if (i % labelEvery) return;
      ctx.save();
      ctx.translate(x(i), top + h + 6);
      ctx.rotate(-Math.PI / 3.2);
      ctx.fillText(clip(name, 14), 0, 0);
      ctx.restore();
    });
  }
  return { x, y, left, top, w, h };
}

function polyline(ctx, xs, ys, values) {
  ctx.beginPath();
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    if (pen) ctx.lineTo(xs(i), ys(v));
    else ctx.moveTo(xs(i), ys(v));
    pen = true;
  });
  ctx.stroke();
}

/**
 * Class separation by layer: one line per pool epoch (light = early, dark =
 * late), the shown epoch thick with points, chance level dashed, the most
 * separating layer of the shown epoch marked.
 * @param {HTMLCanvasElement} canvas
 * @param {string[]} layers network order, the input first
 * @param {Array<{label: string, values: Array<number|null>, current: boolean}>} lines
 * @param {number} chance the fraction a constant guess gets
 * @returns {{best: number|null}} index of the most separating layer of the current line
 */
export function drawSeparationChart(canvas, layers, lines, chance, width = 900, height = 280) {
  const ctx = setup(canvas, width, height);
  const g = axes(ctx, layers, width, height, 0, 1, [0, 0.25, 0.5, 0.75, 1], (v) => `${Math.round(v * 100)}%`);
  ctx.setLineDash([4, 4]);
  ctx.strokeStyle = "#9e9e9e";
  ctx.beginPath();
  ctx.moveTo(g.left, g.y(chance));
  ctx.lineTo(g.left + g.w, g.y(chance));
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = "#9e9e9e";
  ctx.textAlign = "right";
  ctx.fillText("chance", g.left + g.w - 4, g.y(chance) - 7);
  let best = null;
  lines.forEach((line, i) => {
    ctx.strokeStyle = epochColour(i, lines.length, line.current);
    ctx.lineWidth = line.current ? 3 : 1.2;
    polyline(ctx, g.x, g.y, line.values);
  });
  const current = lines.find((l) => l.current);
  if (current) {
    ctx.fillStyle = "#e65100";
    current.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      ctx.beginPath();
      ctx.arc(g.x(i), g.y(v), 2.5, 0, 2 * Math.PI);
      ctx.fill();
      if (best === null || v > current.values[best]) best = i;
    });
    if (best !== null) {
      const bx = g.x(best);
      const by = g.y(current.values[best]);
      ctx.strokeStyle = "#1976d2";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(bx, by, 7, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.fillStyle = "#1976d2";
      ctx.textAlign = bx > g.left + g.w * 0.7 ? "right" : "left";
      const text = `most separating: ${clip(layers[best], 24)} ${Math.round(current.values[best] * 100)}%`;
      ctx.fillText(text, bx + (ctx.textAlign === "left" ? 10 : -10), Math.max(g.top + 6, by - 12));
    }
  }
  return { best, left: g.left, w: g.w };
}

/**
 * Confusion matrix: cells coloured by their row fraction, counts in the cells,
 * class names on the left, class indices on top. Row = true class.
 * @returns {{cell: number, left: number, top: number}} geometry, for clicks
 */
export function drawConfusion(canvas, matrix, names) {
  const k = matrix.length;
  const cell = k <= 12 ? 30 : k <= 30 ? 20 : Math.max(4, Math.floor(600 / k));
  const left = k <= 40 ? 120 : 4;
  const top = k <= 40 ? 18 : 4;
  const ctx = setup(canvas, left + k * cell + 4, top + k * cell + 4);
  for (let i = 0; i < k; i++) {
    const row = matrix[i];
    const total = row.reduce((a, b) => a + b, 0);
    for (let j = 0; j < k; j++) {
      const f = total ? row[j] / total : 0;
      ctx.fillStyle = "#fafafa";
      ctx.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1);
      if (row[j]) {
        ctx.fillStyle = i === j ? `rgba(15, 157, 88, ${0.12 + 0.88 * f})` : `rgba(219, 68, 55, ${0.12 + 0.88 * f})`;
        ctx.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1);
      }
      if (cell >= 18 && row[j]) {
        ctx.fillStyle = f > 0.55 ? "#ffffff" : "#212121";
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(String(row[j]), left + j * cell + cell / 2, top + i * cell + cell / 2);
      }
    }
    if (k <= 40) {
      ctx.fillStyle = "#424242";
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(clip(names[i], 18), left - 6, top + i * cell + cell / 2);
      ctx.textAlign = "center";
      ctx.fillText(String(i), left + i * cell + cell / 2, top / 2);
    }
  }
  return { cell, left, top };
}

/**
 * Right vs wrong by depth: the mean margin (own class vs nearest other class)
 * of the correctly and of the wrongly classified images of one class.
 */
export function drawMarginChart(canvas, layers, right, wrong, width = 900, height = 220) {
  const ctx = setup(canvas, width, height);
  // symmetric around 0, scaled to the lines (margins of deep layers are often small)
  const all = [...(right || []), ...(wrong || [])].filter((v) => v !== null && Number.isFinite(v));
  const reach = Math.min(1, Math.max(0.05, ...all.map(Math.abs)) * 1.15);
  const ticks = [-reach, -reach / 2, 0, reach / 2, reach];
  const g = axes(ctx, layers, width, height, -reach, reach, ticks, (v) => (reach < 0.2 ? v.toFixed(3) : v.toFixed(2)));
  ctx.strokeStyle = "#616161";
  ctx.beginPath();
  ctx.moveTo(g.left, g.y(0));
  ctx.lineTo(g.left + g.w, g.y(0));
  ctx.stroke();
  for (const [values, colour, label] of [
    [right, GOOD, "right"],
    [wrong, BAD, "wrong"],
  ]) {
    if (!values) continue;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2.5;
    polyline(ctx, g.x, g.y, values);
    const last = values.length - 1;
    if (values[last] !== null && Number.isFinite(values[last])) {
      ctx.fillStyle = colour;
      ctx.textAlign = "right";
      ctx.fillText(label, g.x(last) - 4, g.y(values[last]) + (label === "right" ? -9 : 11));
    }
  }
  ctx.fillStyle = "#757575";
  ctx.textAlign = "left";
  ctx.fillText("nearer its own class ↑", g.left + 4, g.top + 8);
  ctx.fillText("nearer another class ↓", g.left + 4, g.top + g.h - 8);
  return { reach };
}
