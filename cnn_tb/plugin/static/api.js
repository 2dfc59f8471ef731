// The HTTP client of the plugin's API (cnn_tb/plugin/API.md): relative fetches
// (they resolve against the <base href> TensorBoard sets for plugin iframes),
// an LRU cache of decoded packs, and request de-duplication.

import { decodePack } from "./pack.js";

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
    this.hists = new Lru(64);
    this.fviz = new Lru(8);
    this.fvizImages = new Lru(256);
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
  /** The complete record of one epoch (for the `partial` epochs of a large run's `/epochs`). */
  epoch(run, step) {
    return this.json("epoch", { run, step });
  }
  /** The complete record of one pool step (for the `partial` records of a long run's `/pool`). */
  poolRecord(run, step) {
    return this.json("pool_record", { run, step });
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

  /** Activation histograms of one layer over the kept steps (cached per run and layer). */
  histograms(run, layer) {
    return this._cached(this.hists, JSON.stringify([run, layer]), () => {
      const p = this.json("histograms", { run, layer });
      p.then((data) => (p.loaded = data), () => {});
      return p;
    });
  }

  /** The histograms of a layer when they are loaded (undefined while loading or not asked for). */
  loadedHistograms(run, layer) {
    const p = this.hists.get(JSON.stringify([run, layer]));
    return p ? p.loaded : undefined;
  }

  /** Decoded kernel pack of one conv layer at one step. */
  kernels(run, step, layer) {
    return this._cached(this.kernelPacks, JSON.stringify([run, step, layer]), async () =>
      decodePack(await (await this._fetch("kernels", { run, step, layer })).arrayBuffer()),
    );
  }

  /** The run's feature visualization index; `version` changes when the epochs do. */
  featureViz(run, version) {
    return this._cached(this.fviz, JSON.stringify([run, version]), () => this.json("feature_viz", { run }));
  }

  /** The strip of feature visualizations of `layer` at `step`, decoded (an ImageBitmap). */
  featureVizImage(run, step, layer) {
    return this._cached(this.fvizImages, JSON.stringify([run, step, layer]), async () =>
      createImageBitmap(await (await this._fetch("feature_viz_image", { run, step, layer })).blob()),
    );
  }

  clear() {
    this.fviz.clear();
    this.fvizImages.clear();
    this.packs.clear();
    this.kernelPacks.clear();
    this.hists.clear();
  }
}
