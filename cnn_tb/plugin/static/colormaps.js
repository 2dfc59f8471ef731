// Colormap look-up tables (256 RGB entries), interpolated from anchor colours.

const ANCHORS = {
  viridis: ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"],
  magma: ["#000004", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55064", "#fb8761", "#fec287", "#fcfdbf"],
  gray: ["#000000", "#ffffff"],
  diverging: ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b"],
  // white (nothing) to dark red (most): densities such as histograms over epochs
  heat: ["#ffffff", "#fff3b0", "#fdd17a", "#fb9a45", "#ea5b2a", "#c2271f", "#7f0c1b", "#3d0312"],
};

/** Names of the colormaps offered for maps. */
export const COLORMAPS = ["viridis", "magma", "gray", "diverging"];

/** True for maps whose centre means zero. */
export function isDiverging(name) {
  return name === "diverging";
}

const cache = new Map();

function hex(c) {
  return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
}

/**
 * @param {string} name
 * @returns {Uint8ClampedArray} 256 * 3 bytes
 */
export function lut(name) {
  if (cache.has(name)) return cache.get(name);
  const anchors = (ANCHORS[name] || ANCHORS.viridis).map(hex);
  const out = new Uint8ClampedArray(256 * 3);
  const n = anchors.length - 1;
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * n;
    const k = Math.min(n - 1, Math.floor(t));
    const f = t - k;
    for (let ch = 0; ch < 3; ch++) out[i * 3 + ch] = Math.round(anchors[k][ch] * (1 - f) + anchors[k + 1][ch] * f);
  }
  cache.set(name, out);
  return out;
}
