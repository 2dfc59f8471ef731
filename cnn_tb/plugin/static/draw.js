// Canvas drawing: maps through colormaps, bar strips, overlays, kernel grids,
// sparklines. Pure functions of their inputs; no fetching, no state.

import { isDiverging, lut } from "./colormaps.js";

/**
 * A 2-D view into a pack array.
 * @typedef {{entry: object, width: number, height: number, channel: (number|null)}} MapSource
 */

function loHi(entry, channel) {
  const lo = Array.isArray(entry.lo) ? entry.lo[channel || 0] : entry.lo;
  const hi = Array.isArray(entry.hi) ? entry.hi[channel || 0] : entry.hi;
  return [Number(lo) || 0, Number(hi) || 0];
}

/**
 * Dequantized values of one map: a [h, w] array, or channel `channel` of a
 * [h, w, c] array.
 * @returns {{values: Float32Array, width: number, height: number}}
 */
export function mapValues(entry, channel = null) {
  const shape = entry.shape;
  const h = shape[0];
  const w = shape.length > 1 ? shape[1] : 1;
  const c = shape.length > 2 ? shape[2] : 1;
  const n = h * w;
  const values = new Float32Array(n);
  const data = entry.data;
  const ch = channel === null ? 0 : channel;
  if (entry.dtype === "float32") {
    for (let i = 0; i < n; i++) values[i] = data[i * c + ch];
  } else {
    const [lo, hi] = loHi(entry, ch);
    const s = (hi - lo) / 255;
    for (let i = 0; i < n; i++) values[i] = lo + data[i * c + ch] * s;
  }
  return { values, width: w, height: h };
}

/** [min, max] of a value array (finite values only). */
export function extent(values) {
  let a = Infinity;
  let b = -Infinity;
  for (const v of values) {
    if (v < a) a = v;
    if (v > b) b = v;
  }
  if (!Number.isFinite(a)) return [0, 0];
  return [a, b];
}

/**
 * Colour `values` into an ImageData-sized RGBA buffer.
 * @param {Float32Array} values
 * @param {[number, number]|null} range null = the values' own extent
 * @param {string} cmap
 * @param {number} alpha 0..255
 */
export function colorize(values, range, cmap, alpha = 255) {
  let [a, b] = range || extent(values);
  const table = lut(cmap);
  const out = new Uint8ClampedArray(values.length * 4);
  let scale;
  let offset;
  if (isDiverging(cmap)) {
    const m = Math.max(Math.abs(a), Math.abs(b)) || 1;
    scale = 127.5 / m;
    offset = 127.5;
  } else {
    const span = b - a;
    scale = span > 0 ? 255 / span : 0;
    offset = span > 0 ? -a * scale : 0;
  }
  for (let i = 0; i < values.length; i++) {
    let t = Math.round(values[i] * scale + offset);
    if (!(t >= 0)) t = 0;
    else if (t > 255) t = 255;
    out[i * 4] = table[t * 3];
    out[i * 4 + 1] = table[t * 3 + 1];
    out[i * 4 + 2] = table[t * 3 + 2];
    out[i * 4 + 3] = alpha;
  }
  return out;
}

/** Draw one map (values) into `canvas` at its native resolution. */
export function drawValues(canvas, map, range, cmap) {
  canvas.width = map.width;
  canvas.height = map.height;
  const ctx = canvas.getContext("2d");
  const img = new ImageData(colorize(map.values, range, cmap), map.width, map.height);
  ctx.putImageData(img, 0, 0);
}

/** Draw a pack map array (channel or 2-D) into `canvas`. */
export function drawMap(canvas, entry, channel, range, cmap) {
  drawValues(canvas, mapValues(entry, channel), range, cmap);
}

/**
 * A vector layer as a bar chart: bars coloured by the colormap, at most
 * `maxBars` bars (neighbours merged by max).
 */
export function drawVector(canvas, entry, range, cmap, maxBars = 128, height = 48) {
  const { values } = mapValues({ ...entry, shape: [entry.shape[entry.shape.length - 1] || 0] });
  const n = values.length;
  const bars = Math.max(1, Math.min(n, maxBars));
  const merged = new Float32Array(bars);
  for (let i = 0; i < bars; i++) {
    const s = Math.floor((i * n) / bars);
    const e = Math.max(s + 1, Math.floor(((i + 1) * n) / bars));
    let m = -Infinity;
    for (let j = s; j < e; j++) m = Math.max(m, values[j]);
    merged[i] = m;
  }
  const [a0, b0] = range || extent(merged);
  const a = Math.min(a0, 0);
  const b = Math.max(b0, a + 1e-9);
  const barW = Math.max(1, Math.floor(256 / bars));
  canvas.width = bars * barW;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fafafa";
  ctx.fillRect(0, 0, canvas.width, height);
  const colors = colorize(merged, [a0, b0], cmap);
  const zeroY = height - ((0 - a) / (b - a)) * (height - 2) - 1;
  for (let i = 0; i < bars; i++) {
    const y = height - ((merged[i] - a) / (b - a)) * (height - 2) - 1;
    ctx.fillStyle = `rgb(${colors[i * 4]},${colors[i * 4 + 1]},${colors[i * 4 + 2]})`;
    const top = Math.min(y, zeroY);
    ctx.fillRect(i * barW, top, Math.max(1, barW - (barW > 2 ? 1 : 0)), Math.max(1, Math.abs(zeroY - y)));
  }
  ctx.fillStyle = "#9e9e9e";
  ctx.fillRect(0, Math.round(zeroY), canvas.width, 1);
}

/**
 * Probe image with a heat map on top (bilinear upsampling, alpha blend).
 * @param {HTMLCanvasElement} canvas
 * @param {CanvasImageSource} image the probe image
 * @param {{values: Float32Array, width: number, height: number}} heat
 */
export function drawOverlay(canvas, image, heat, range, cmap, size = 160, alpha = 0.55) {
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  if (image) ctx.drawImage(image, 0, 0, size, size);
  const tmp = document.createElement("canvas");
  tmp.width = heat.width;
  tmp.height = heat.height;
  tmp.getContext("2d").putImageData(new ImageData(colorize(heat.values, range, cmap), heat.width, heat.height), 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.globalAlpha = image ? alpha : 1;
  ctx.drawImage(tmp, 0, 0, size, size);
  ctx.globalAlpha = 1;
}

/**
 * Conv kernels [kh, kw, cin, cout] as a grid of filters: RGB when cin == 3,
 * else the mean over input channels through a diverging colormap. Each filter
 * is scaled by its own largest absolute weight.
 */
export function drawKernelGrid(canvas, entry, cols, cmap = "diverging", zoom = 1) {
  const [kh, kw, cin, cout] = entry.shape;
  const [lo, hi] = loHi(entry, 0);
  const s = (hi - lo) / 255;
  const data = entry.data;
  const n = cout;
  cols = Math.max(1, Math.min(cols, n));
  const rows = Math.ceil(n / cols);
  const gap = 1;
  const W = cols * (kw + gap) + gap;
  const H = rows * (kh + gap) + gap;
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H);
  img.data.fill(255);
  const table = lut(cmap);
  for (let f = 0; f < n; f++) {
    const ox = gap + (f % cols) * (kw + gap);
    const oy = gap + Math.floor(f / cols) * (kh + gap);
    const vals = new Float32Array(kh * kw * cin);
    let m = 1e-12;
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let c = 0; c < cin; c++) {
          const v = lo + data[((y * kw + x) * cin + c) * cout + f] * s;
          vals[(y * kw + x) * cin + c] = v;
          m = Math.max(m, Math.abs(v));
        }
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++) {
        const p = ((oy + y) * W + ox + x) * 4;
        if (cin === 3) {
          for (let c = 0; c < 3; c++) img.data[p + c] = Math.round(127.5 + (vals[(y * kw + x) * 3 + c] / m) * 127.5);
        } else {
          let mean = 0;
          for (let c = 0; c < cin; c++) mean += vals[(y * kw + x) * cin + c];
          mean /= cin;
          const t = Math.max(0, Math.min(255, Math.round(127.5 + (mean / m) * 127.5 * Math.min(4, Math.sqrt(cin)))));
          img.data[p] = table[t * 3];
          img.data[p + 1] = table[t * 3 + 1];
          img.data[p + 2] = table[t * 3 + 2];
        }
        img.data[p + 3] = 255;
      }
  }
  ctx.putImageData(img, 0, 0);
  return { rows, cols, zoom };
}

/** Columns of the kernel grid for `cout` filters: about twice as wide as tall, at most 16. */
export function kernelColumns(cout) {
  return Math.min(16, Math.ceil(Math.sqrt(cout * 2)));
}

/** A small trend line of `values` (a null breaks it, an undefined is stepped over), marking index `current`. */
export function drawSparkline(canvas, values, current, width = 140, height = 28, color = "#f57c00") {
  const ctx = hiDpi(canvas, width, height);
  ctx.clearRect(0, 0, width, height);
  const finite = values.filter((v) => v !== null && Number.isFinite(v));
  if (!finite.length) return;
  let [a, b] = extent(finite);
  if (b - a < 1e-12) {
    a -= 0.5;
    b += 0.5;
  }
  const n = values.length;
  const x = (i) => (n === 1 ? width / 2 : 2 + (i / (n - 1)) * (width - 4));
  const y = (v) => height - 3 - ((v - a) / (b - a)) * (height - 6);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let started = false;
  values.forEach((v, i) => {
    if (v === undefined) return; // not loaded (a partial epoch of a large run): the line goes on
    if (v === null || !Number.isFinite(v)) {
      started = false;
      return;
    }
    if (!started) ctx.moveTo(x(i), y(v));
    else ctx.lineTo(x(i), y(v));
    started = true;
  });
  ctx.stroke();
  const v = values[current];
  if (v !== null && v !== undefined && Number.isFinite(v)) {
    ctx.fillStyle = "#212121";
    ctx.beginPath();
    ctx.arc(x(current), y(v), 2.5, 0, Math.PI * 2);
    ctx.fill();
  }
}

/** Draw an <img> into a canvas at its natural size (same-origin, so readable). */
export function drawImage(canvas, image) {
  canvas.width = image.naturalWidth || image.width;
  canvas.height = image.naturalHeight || image.height;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(image, 0, 0);
}

/**
 * A vector layer as a grid of units (row by row, a near-square grid), each
 * unit one pixel coloured by its value: the same look as a channel map.
 * @returns {{cols: number, rows: number, units: number}}
 */
export function drawUnitGrid(canvas, entry, range, cmap) {
  const { values } = mapValues({ ...entry, shape: [entry.shape[entry.shape.length - 1] || 0] });
  const n = values.length;
  const cols = Math.max(1, Math.ceil(Math.sqrt(n)));
  const rows = Math.max(1, Math.ceil(n / cols));
  canvas.width = cols;
  canvas.height = rows;
  const rgba = colorize(values, range, cmap);
  const img = new ImageData(cols, rows);
  img.data.set(rgba);
  for (let i = n; i < cols * rows; i++) {
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = 245;
    img.data[i * 4 + 3] = 255;
  }
  canvas.getContext("2d").putImageData(img, 0, 0);
  return { cols, rows, units: n };
}

/** A canvas of `width` x `height` CSS pixels at the screen's resolution; its 2-D context, in CSS pixels. */
export function hiDpi(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** Tick values for an axis over [lo, hi] (powers of ten on a log axis). */
export function ticks(lo, hi, log, count = 4) {
  if (!(hi > lo)) return [lo];
  if (log) {
    const out = [];
    for (let e = Math.ceil(Math.log10(lo)); e <= Math.floor(Math.log10(hi)); e++) out.push(10 ** e);
    return out.length >= 2 ? out : [lo, hi];
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function tickText(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-2 || a >= 1e4)) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

/**
 * A statistic against depth: x = layers in display order, y = value; one line
 * per epoch. Nulls break a line.
 * @param {HTMLCanvasElement} canvas
 * @param {{width: number, height: number, n: number,
 *          lines: Array<{values: Array<number|null>, color: string, width: number}>,
 *          log: boolean, range: [number, number], marks: Array<{x: number, label: string}>,
 *          highlight: (number|null), labels: (Array<string>|undefined)}} o
 *   `labels` (one per point) are written under the axis while they have room.
 * @returns {{x: (i: number) => number, left: number, right: number, top: number, bottom: number}}
 */
export function drawDepthChart(canvas, o) {
  const ctx = hiDpi(canvas, o.width, o.height);
  const left = 52;
  const right = o.width - 8;
  const top = 16;
  const n = Math.max(1, o.n);
  const spacing = n > 1 ? (right - left) / (n - 1) : right - left;
  const withLabels = Boolean(o.labels) && spacing >= 28;
  const bottom = o.height - (withLabels ? 20 : 8);
  const x = (i) => (n === 1 ? (left + right) / 2 : left + (i / (n - 1)) * (right - left));
  let [lo, hi] = o.range;
  if (o.log) {
    lo = Math.log10(lo);
    hi = Math.log10(hi);
  }
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const y = (v) => {
    const t = o.log ? Math.log10(v) : v;
    return bottom - ((t - lo) / (hi - lo)) * (bottom - top);
  };
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, o.width, o.height);
  ctx.font = "10px Roboto, Arial, sans-serif";
  // block boundaries and names
  ctx.strokeStyle = "#eeeeee";
  ctx.fillStyle = "#9e9e9e";
  ctx.lineWidth = 1;
  for (const m of o.marks) {
    const px = Math.round(x(m.x)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(px, top);
    ctx.lineTo(px, bottom);
    ctx.stroke();
  }
  // names of the widest blocks first, where they do not overlap
  const spans = o.marks.map((m, k) => ({ m, from: x(m.x), to: k + 1 < o.marks.length ? x(o.marks[k + 1].x) : right }));
  const taken = [];
  for (const s of spans.sort((a, b) => b.to - b.from - (a.to - a.from))) {
    const from = s.from + 2;
    const to = from + ctx.measureText(s.m.label).width;
    if (to > right || taken.some(([a, b]) => from < b + 6 && to > a - 6)) continue;
    taken.push([from, to]);
    ctx.fillText(s.m.label, from, top - 4);
  }
  // y axis
  ctx.fillStyle = "#757575";
  ctx.strokeStyle = "#e0e0e0";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of ticks(o.log ? 10 ** lo : lo, o.log ? 10 ** hi : hi, o.log)) {
    const py = Math.round(y(t)) + 0.5;
    if (py < top - 1 || py > bottom + 1) continue;
    ctx.beginPath();
    ctx.moveTo(left, py);
    ctx.lineTo(right, py);
    ctx.stroke();
    ctx.fillText(tickText(t), left - 4, py);
  }
  ctx.textAlign = "left";
  ctx.textBaseline = "alphabetic";
  if (withLabels) {
    ctx.fillStyle = "#757575";
    ctx.textAlign = "center";
    o.labels.forEach((name, i) => {
      let text = name;
      while (text.length > 1 && ctx.measureText(text).width > spacing - 4) text = text.slice(0, -1);
      if (text !== name) text = `${text.slice(0, -1)}…`;
      const half = ctx.measureText(text).width / 2;
      ctx.fillText(text, Math.max(left + half, Math.min(o.width - half - 2, x(i))), o.height - 6);
    });
    ctx.textAlign = "left";
  }
  if (o.highlight !== null && o.highlight !== undefined) {
    ctx.fillStyle = "rgba(245, 124, 0, 0.15)";
    const px = x(o.highlight);
    ctx.fillRect(px - 3, top, 6, bottom - top);
  }
  ctx.lineJoin = "round";
  for (const line of o.lines) {
    ctx.strokeStyle = line.color;
    ctx.lineWidth = line.width;
    ctx.beginPath();
    let open = false;
    line.values.forEach((v, i) => {
      const ok = v !== null && v !== undefined && Number.isFinite(v) && (!o.log || v > 0);
      if (!ok) {
        open = false;
        return;
      }
      const py = Math.max(top, Math.min(bottom, y(v)));
      if (open) ctx.lineTo(x(i), py);
      else ctx.moveTo(x(i), py);
      open = true;
    });
    ctx.stroke();
    if (n === 1 || line.values.filter((v) => v !== null).length === 1) {
      line.values.forEach((v, i) => {
        if (v === null || !Number.isFinite(v)) return;
        ctx.fillStyle = line.color;
        ctx.beginPath();
        ctx.arc(x(i), Math.max(top, Math.min(bottom, y(v))), 2.5, 0, Math.PI * 2);
        ctx.fill();
      });
    }
  }
  return { x, left, right, top, bottom };
}

/**
 * Histograms over epochs: x = epoch (one column per epoch), y = value, colour =
 * the share of values in that bin (log scale over four decades below the
 * largest share). Columns without a histogram are light grey.
 * @param {HTMLCanvasElement} canvas
 * @param {{width: number, height: number, columns: Array<Array<[number, number, number]>|null>,
 *          lo: number, hi: number, bins: number, current: number, cmap: string, labels: Array<string>}} o
 * @returns {{left: number, right: number, top: number, bottom: number, drawn: number}}
 */
export function drawHistogramImage(canvas, o) {
  const ctx = hiDpi(canvas, o.width, o.height);
  const left = 52;
  const right = o.width - 8;
  const top = 6;
  const bottom = o.height - 18;
  const cols = Math.max(1, o.columns.length);
  const span = o.hi - o.lo || 1;
  const key = `${o.lo}|${o.hi}|${o.bins}|${o.cmap}`;
  let kept = histogramTiles.get(o.columns);
  if (!kept || kept.key !== key) {
    kept = { key, ...histogramTile(o, cols, span) };
    histogramTiles.set(o.columns, kept);
  }
  const { tile, drawn } = kept;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, o.width, o.height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tile, left, top, right - left, bottom - top);
  ctx.font = "10px Roboto, Arial, sans-serif";
  ctx.fillStyle = "#757575";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of ticks(o.lo, o.hi, false)) {
    const py = bottom - ((t - o.lo) / span) * (bottom - top);
    if (py < top - 1 || py > bottom + 1) continue;
    ctx.fillText(tickText(t), left - 4, py);
    ctx.fillRect(left - 3, Math.round(py), 3, 1);
  }
  ctx.textBaseline = "alphabetic";
  const colW = (right - left) / cols;
  const label = (c, align) => {
    ctx.textAlign = align;
    ctx.fillText(o.labels[c], align === "left" ? left : align === "right" ? right : left + (c + 0.5) * colW, o.height - 5);
  };
  label(0, "left");
  if (cols > 1) label(cols - 1, "right");
  if (o.current >= 0 && o.current < cols) {
    ctx.strokeStyle = "#1976d2";
    ctx.lineWidth = 2;
    ctx.strokeRect(left + o.current * colW + 1, top + 1, Math.max(2, colW - 2), bottom - top - 2);
  }
  return { left, right, top, bottom, drawn };
}

/** Pictures of histograms over epochs already computed, by their columns array. */
const histogramTiles = new WeakMap();

/** The picture of drawHistogramImage's columns: one pixel per (epoch, value bin). */
function histogramTile(o, cols, span) {
  const bins = o.bins;
  const dens = new Float32Array(cols * bins);
  let max = 0;
  let drawn = 0;
  o.columns.forEach((buckets, c) => {
    if (!buckets) return;
    drawn++;
    let total = 0;
    for (const b of buckets) total += b[2];
    if (!(total > 0)) return;
    for (const [l, r, count] of buckets) {
      const a = ((l - o.lo) / span) * bins;
      const z = ((r - o.lo) / span) * bins;
      if (!(z > a)) {
        const k = Math.max(0, Math.min(bins - 1, Math.floor(a)));
        dens[k * cols + c] += count / total;
        continue;
      }
      for (let k = Math.max(0, Math.floor(a)); k < Math.min(bins, Math.ceil(z)); k++) {
        const overlap = Math.min(z, k + 1) - Math.max(a, k);
        if (overlap > 0) dens[k * cols + c] += (count / total) * (overlap / (z - a));
      }
    }
  });
  for (const v of dens) if (v > max) max = v;
  const table = lut(o.cmap);
  const img = new ImageData(cols, bins);
  for (let k = 0; k < bins; k++) {
    const row = bins - 1 - k; // high values on top
    for (let c = 0; c < cols; c++) {
      const p = (row * cols + c) * 4;
      if (!o.columns[c]) {
        img.data[p] = img.data[p + 1] = img.data[p + 2] = 240;
      } else {
        const d = max > 0 ? dens[k * cols + c] / max : 0;
        const t = d > 1e-4 ? Math.round(Math.max(1, ((Math.log10(d) + 4) / 4) * 255)) : 0;
        img.data[p] = table[t * 3];
        img.data[p + 1] = table[t * 3 + 1];
        img.data[p + 2] = table[t * 3 + 2];
      }
      img.data[p + 3] = 255;
    }
  }
  const tile = document.createElement("canvas");
  tile.width = cols;
  tile.height = bins;
  tile.getContext("2d").putImageData(img, 0, 0);
  return { tile, drawn };
}
