// Data access for the CNN Flow view: relative fetches (they resolve against the
// <base href> TensorBoard sets for plugin iframes), caching and pack decoding.

/** An HTTP error carrying the server's message. */
export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A small LRU map. */
export class Lru {
  /** @param {number} max */
  constructor(max) {
    this.max = max;
    this.map = new Map();
  }
  get(key) {
    if (!this.map.has(key)) return undefined;
    const v = this.map.get(key);
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }
  has(key) {
    return this.map.has(key);
  }
  set(key, value) {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value);
  }
  clear() {
    this.map.clear();
  }
}

/**
 * Decode an uncompressed pack: "CTB1", uint32 LE header length, JSON header,
 * raw array bytes.
 * @param {ArrayBuffer} buffer
 * @returns {{header: object, arrays: Map<string, object>, layers: Map<string, object>}}
 */
export function decodePack(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < 8) throw new Error("pack is truncated");
  const magic = String.fromCharCode(view.getUint8(0), view.getUint8(1), view.getUint8(2), view.getUint8(3));
  if (magic !== "CTB1") throw new Error(`unknown pack format ${JSON.stringify(magic)}`);
  const hlen = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, hlen)));
  const body = 8 + hlen;
  const arrays = new Map();
  const layers = new Map();
  for (const e of header.arrays || []) {
    const start = body + e.offset;
    let data;
    if (e.dtype === "float32") data = new Float32Array(buffer.slice(start, start + e.nbytes));
    else data = new Uint8Array(buffer, start, e.nbytes);
    const entry = { ...e, data };
    arrays.set(e.name, entry);
    const cut = e.name.lastIndexOf("/");
    const layer = e.name.slice(0, cut);
    const kind = e.name.slice(cut + 1);
    if (!layers.has(layer)) layers.set(layer, {});
    layers.get(layer)[kind] = entry;
  }
  return { header, arrays, layers };
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
  return q.toString();
}

/** Client of the plugin's HTTP API (see cnn_tb/plugin/API.md). */
export class Api {
  constructor() {
    this.packs = new Lru(400);
    this.kernelPacks = new Lru(300);
  }

  async _fetch(route, params) {
    const resp = await fetch(`./${route}?${query(params || {})}`);
    if (!resp.ok) {
      const text = await resp.text().catch(() => "");
      throw new ApiError(resp.status, text || `${route}: HTTP ${resp.status}`);
    }
    return resp;
  }

  async json(route, params) {
    return (await this._fetch(route, params)).json();
  }

  runs() {
    return this.json("runs");
  }
  run(run) {
    return this.json("run", { run });
  }
  epochs(run) {
    return this.json("epochs", { run });
  }
  probeUrl(run, probe) {
    return `./probe?${query({ run, probe })}`;
  }

  _cached(cache, key, load) {
    let p = cache.get(key);
    if (!p) {
      p = load();
      cache.set(key, p);
      p.catch(() => {
        if (cache.get(key) === p) cache.map.delete(key);
      });
    }
    return p;
  }

  /** Decoded activations pack of one probe at one step (cached, deduplicated). */
  activations(run, probe, step) {
    return this._cached(this.packs, JSON.stringify([run, probe, step]), async () =>
      decodePack(await (await this._fetch("activations", { run, probe, step })).arrayBuffer()),
    );
  }

  /** Peek at a loaded pack without fetching (undefined while loading). */
  loadedActivations(run, probe, step) {
    return this.packs.get(JSON.stringify([run, probe, step]));
  }

  /** Decoded kernel pack of one conv layer at one step. */
  kernels(run, step, layer) {
    return this._cached(this.kernelPacks, JSON.stringify([run, step, layer]), async () =>
      decodePack(await (await this._fetch("kernels", { run, step, layer })).arrayBuffer()),
    );
  }

  clear() {
    this.packs.clear();
    this.kernelPacks.clear();
  }
}

/** Human label of a step: -1 is the untrained model, step e is after epoch e+1. */
export function stepLabel(step) {
  return step < 0 ? "untrained" : `epoch ${step + 1}`;
}

/** "32×32×3" for a shape list (null dims shown as "?"). */
export function shapeText(shape) {
  if (!Array.isArray(shape) || !shape.length) return "?";
  return shape.map((d) => (d === null || d === undefined ? "?" : String(d))).join("×");
}

/** Class name for index i (or "#i"). */
export function className(runInfo, i) {
  if (i === null || i === undefined) return "?";
  const names = runInfo && runInfo.probes && runInfo.probes.class_names;
  if (names && i >= 0 && i < names.length) return names[i];
  return `#${i}`;
}
