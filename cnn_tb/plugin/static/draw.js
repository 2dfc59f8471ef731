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

/** A small trend line of `values` (nulls skipped), marking index `current`. */
export function drawSparkline(canvas, values, current, width = 140, height = 28, color = "#f57c00") {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
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
