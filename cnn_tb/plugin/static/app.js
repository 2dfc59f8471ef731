// The CNN Flow application: view state, page skeleton, the data helpers the
// views share, and the render loop that hands each mode to its view module.

import { renderCompare } from "./views/compare.js";
import { bindEpochKeys, togglePlay, updateEpochTexts } from "./views/epoch_player.js";
import { renderFilters } from "./views/filters.js";
import { renderFlow } from "./views/flow.js";
import { renderPool } from "./views/pool.js";
import { Api, ApiError } from "./api.js";
import { el, emptyState, stepLabel } from "./dom.js";
import { Network } from "./network.js";
import { updateProbeStrip } from "./views/probe_strip.js";
import { loadRuns, poll } from "./run_loader.js";
import { buildToolbar } from "./views/toolbar.js";

const POLL_MS = 5000;
const RENDERERS = { flow: renderFlow, compare: renderCompare, filters: renderFilters, pool: renderPool };

/** State and controller of the plugin page (exposed as `window.cnnTbApp`). */
export class FlowApp {
  /** @param {HTMLElement} host */
  constructor(host) {
    this.api = new Api();
    this.host = host;
    this.runs = [];
    this.run = null;
    this.info = null;
    this.epochs = null;
    this.idx = 0;
    this.probe = 0;
    this.probe2 = null;
    this.mode = "flow";
    this.reduce = "mean";
    this.cmap = "viridis";
    this.norm = "map";
    this.showAll = false;
    this.network = null;
    this.infoVersion = 0; // bumped by setInfo: the views' structure may change
    this.selected = null;
    this.expanded = []; // open blocks: [top-level block id, block id inside it]
    this.depthStat = "std";
    this.scrollToSelected = false;
    this.detailCols = 8;
    this.detailCount = 32;
    this.filterLayer = null;
    this.playing = false;
    this.autoReload = true;
    this.token = 0;
    this.renderCount = 0;
    this.timings = [];
    this.images = new Map();
    this.fixedRanges = null;
    this.epochLoads = new Map(); // step -> promise of a partial epoch's complete record
    this.direction = 1; // of the last epoch move: prefetch looks that way first
    this.prefetchGen = 0; // bumped by every prefetch: an older one stops
  }

  // ---------------------------------------------------------------- skeleton

  /** Build the page, load the runs and start polling for new epochs. */
  async start() {
    this.root = el("div", { class: "cnn-tb", attrs: { id: "cnn-tb" }, data: { state: "loading" } });
    this.toolbar = el("div", { class: "toolbar" });
    this.banner = el("div", { class: "banner", attrs: { hidden: "" } });
    this.epochBar = el("div", { class: "epoch-bar" });
    this.probeStrip = el("div", { class: "probe-strip" });
    this.main = el("div", { class: "main" });
    this.detail = el("div", { class: "detail", attrs: { hidden: "" } });
    this.depthPanel = el("div", { class: "depth-panel", attrs: { hidden: "" } });
    this.root.append(this.toolbar, this.banner, this.epochBar, this.probeStrip, this.main, this.detail, this.depthPanel);
    this.host.append(this.root);
    buildToolbar(this);
    bindEpochKeys(this);
    // the flow view lays its cards out for the width: lay them out again when it
    // changes by more than a scrollbar
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (this.mode === "flow" && Math.abs(this.main.clientWidth - (this.flowWidth || 0)) >= 24) this.renderView();
      }, 150);
    });
    await loadRuns(this);
    this.pollTimer = setInterval(() => poll(this), POLL_MS);
  }

  setState(state) {
    this.root.dataset.state = state;
    // when the page first showed a drawn view and first became ready (ms since the
    // frame started loading): what a benchmark of the tab's first draw reads
    if ((state === "drawn" || state === "ready") && this.firstDrawnMs === undefined) this.firstDrawnMs = performance.now();
    if (state === "ready" && this.firstReadyMs === undefined) this.firstReadyMs = performance.now();
  }

  showError(err) {
    this.banner.hidden = false;
    this.banner.className = "banner error";
    this.banner.textContent = err instanceof ApiError ? `Server: ${err.message}` : String(err && err.message ? err.message : err);
  }

  clearError() {
    this.banner.hidden = true;
    this.banner.textContent = "";
  }

  /** Empty state: no epoch bar or probes, an explanation in the main area. */
  showEmpty(title, detail) {
    this.setState("empty");
    this.epochBar.replaceChildren();
    this.probeStrip.replaceChildren();
    this.depthPanel.hidden = true;
    this.main.replaceChildren(emptyState(title, detail));
  }

  updateModeButtons() {
    for (const [m, b] of Object.entries(this.modeButtons)) b.classList.toggle("active", m === this.mode);
    this.root.dataset.mode = this.mode;
  }

  setMode(m) {
    this.mode = m;
    this.updateModeButtons();
    if (m !== "flow") this.depthPanel.hidden = true;
    this.renderView();
  }

  /** Set a view option (e.g. `cmap`, `norm`) and redraw. */
  setOption(key, value) {
    this[key] = value;
    this.renderView();
  }

  // ---------------------------------------------------------------- epochs

  step() {
    return this.epochs.steps[this.idx];
  }

  epoch() {
    return this.epochs.epochs[this.idx];
  }

  /** Show epoch index `i` (clamped); the render is timed as a "step". */
  setIdx(i) {
    if (!this.epochs) return;
    const n = this.epochs.steps.length;
    i = Math.max(0, Math.min(n - 1, i));
    this.stepStarted = performance.now();
    if (i !== this.idx) this.direction = i > this.idx ? 1 : -1;
    this.idx = i;
    updateEpochTexts(this);
    this.renderView();
  }

  togglePlay() {
    togglePlay(this);
  }

  /**
   * `get(epochRecord)` for every epoch, undefined as null; undefined for the
   * partial epochs of a large run (not loaded: drawn through, not as a gap).
   */
  series(get) {
    return this.epochs.epochs.map((e) => {
      if (e.partial) return undefined;
      const v = get(e);
      return v === undefined ? null : v;
    });
  }

  /**
   * Make epoch `i` complete: a large run's `/epochs` holds the per-layer
   * statistics of a sample of its epochs only (`partial` records for the
   * rest); the shown one is fetched whole (`/epoch`) and kept.
   */
  async ensureEpoch(i) {
    const epochs = this.epochs;
    const e = epochs && epochs.epochs[i];
    if (!e || !e.partial) return;
    const key = `${this.run}\u0000${e.step}`;
    let load = this.epochLoads.get(key);
    if (!load) {
      load = this.api.epoch(this.run, e.step);
      load.catch(() => this.epochLoads.delete(key)); // try again next time
      this.epochLoads.set(key, load);
      if (this.epochLoads.size > 128) this.epochLoads.delete(this.epochLoads.keys().next().value);
    }
    const full = await load;
    if (epochs.epochs[i] === e) epochs.epochs[i] = Object.assign({}, full, { fetched: true });
  }

  // ---------------------------------------------------------------- probes

  /** Number of probe images of the run. */
  probeCount() {
    const p = this.info.probes || {};
    return Math.max(p.count || 0, this.info.probe_images || 0);
  }

  prediction(probe, epoch = this.epoch()) {
    const p = (epoch.predictions || [])[probe];
    const labels = (this.info.probes || {}).labels;
    const truth = p && p.true !== null && p.true !== undefined ? p.true : labels ? labels[probe] : null;
    const t = truth === undefined ? null : truth;
    const pred = p ? p.pred : null;
    return { pred, truth: t, conf: p ? p.confidence : null, probs: p ? p.probs : null, top: p ? p.top : [], wrong: pred !== null && t !== null && pred !== t };
  }

  probeImage(i) {
    const key = `${this.run}\u0000${i}`;
    let p = this.images.get(key);
    if (!p) {
      p = new Promise((resolve) => {
        const img = new Image();
        img.onload = () => resolve(img);
        img.onerror = () => resolve(null);
        img.src = this.api.probeUrl(this.run, i);
      });
      this.images.set(key, p);
    }
    return p;
  }

  /** [activation packs (or the Error), probe images] of `probes` at `step`. */
  probeData(probes, step) {
    return Promise.all([
      Promise.all(probes.map((p) => this.api.activations(this.run, p, step).catch((e) => e))),
      Promise.all(probes.map((p) => this.probeImage(p))),
    ]);
  }

  // ---------------------------------------------------------------- layers

  /** Use the model description of a newly loaded run (its blocks, its layers). */
  setInfo(info, sameRun) {
    this.info = info;
    this.infoVersion += 1;
    this.network = new Network(info);
    const blocks = this.network.blocks.length;
    if (!sameRun) this.expanded = [];
    this.expanded = this.expanded.filter((id) => id < blocks);
    if (this.selected && !this.network.layer(this.selected)) this.selected = null;
  }

  /**
   * Select layer `name` (null: none) and redraw. `reveal` opens the blocks
   * around it; `scroll` brings its card into view.
   */
  selectLayer(name, { reveal = false, scroll = false } = {}) {
    this.selected = name;
    if (name && reveal) {
      const path = this.network.pathTo(name);
      if (!path.every((id, k) => this.expanded[k] === id)) this.expanded = path;
    }
    this.scrollToSelected = Boolean(name && scroll);
    if (this.mode !== "flow") this.setMode("flow");
    else this.renderView();
  }

  /** Open block `id` on `level` (1: top level, 2: inside a stage), or close it when open; an opened block's panel is scrolled into view. */
  toggleBlock(id, level) {
    const open = this.expanded[level - 1] === id;
    this.expanded = open ? this.expanded.slice(0, level - 1) : this.expanded.slice(0, level - 1).concat([id]);
    this.scrollPanel = !open;
    if (this.mode !== "flow") this.setMode("flow");
    else this.renderView();
  }

  /** ↑ / ↓: select the previous / next shown layer in display order, opening its blocks. */
  moveSelection(delta) {
    if (!this.network) return;
    const order = this.network.shownOrder(this.showAll).filter((l) => l.kind !== "input");
    if (!order.length) return;
    const at = order.findIndex((l) => l.name === this.selected);
    const next = at < 0 ? (delta > 0 ? 0 : order.length - 1) : Math.max(0, Math.min(order.length - 1, at + delta));
    this.selectLayer(order[next].name, { reveal: true, scroll: true });
  }

  displayedLayers() {
    return this.info.layers.filter((l) => l.kind === "input" || l.logged || this.showAll);
  }

  /** The channel-reduced map of a layer's arrays (the chosen reduction first). */
  reducedMap(arrays) {
    return arrays[this.reduce] || arrays.mean || arrays.max;
  }

  /** [lo, hi] for the maps of a layer under the current normalisation. */
  range(layer) {
    if (this.norm === "map") return null;
    if (this.norm === "layer") {
      const s = (this.epoch().layers || {})[layer];
      return s && s.min !== null && s.max !== null ? [s.min, s.max] : null;
    }
    if (!this.fixedRanges) this.fixedRanges = new Map();
    if (!this.fixedRanges.has(layer)) {
      let a = Infinity;
      let b = -Infinity;
      for (const e of this.epochs.epochs) {
        if (e.fetched) continue; // the same range whichever epochs were shown
        const s = (e.layers || {})[layer];
        if (s && s.min !== null) a = Math.min(a, s.min);
        if (s && s.max !== null) b = Math.max(b, s.max);
      }
      this.fixedRanges.set(layer, Number.isFinite(a) && Number.isFinite(b) ? [a, b] : null);
    }
    return this.fixedRanges.get(layer);
  }

  layerStats(name, epoch = this.epoch()) {
    return (epoch.layers || {})[name] || null;
  }

  isOutput(layer) {
    return layer.name === this.info.output_layer;
  }

  // ---------------------------------------------------------------- rendering

  /** Redraw the current mode; records a timing and bumps `data-render-count`. */
  async renderView() {
    if (!this.info || !this.epochs || !this.epochs.steps.length) return;
    const token = ++this.token;
    const cause = this.stepStarted ? "step" : "view";
    const started = this.stepStarted || performance.now();
    this.stepStarted = null;
    // a large run's partial epoch is fetched whole before it is drawn; the maps
    // the view draws are asked for beside it, not after it
    if (this.epoch().partial) {
      this.warm(this.idx);
      if (!(await this.settled(token, this.ensureEpoch(this.idx)))) return;
    }
    updateEpochTexts(this);
    updateProbeStrip(this);
    this.updateNonfiniteBanner();
    if (!(await this.settled(token, (RENDERERS[this.mode] || renderFilters)(this, token)))) return;
    this.renderCount += 1;
    this.root.dataset.step = String(this.step());
    this.root.dataset.renderCount = String(this.renderCount);
    this.timings.push({ step: this.step(), ms: performance.now() - started, cause });
    if (this.timings.length > 500) this.timings.shift();
    // "drawn": a long run's last epoch, drawn before /epochs is in (see loadRun)
    this.setState(this.epochs.provisional ? "drawn" : "ready");
    this.prefetch();
  }

  /**
   * Await `work` of the render `token`: true when it finished and that render is
   * still the latest; an error shows in the banner (error state).
   */
  async settled(token, work) {
    try {
      await work;
    } catch (e) {
      if (token === this.token) {
        this.setState("error");
        this.showError(e);
      }
      return false;
    }
    return token === this.token;
  }

  updateNonfiniteBanner() {
    const e = this.epoch();
    if (!e.nonfinite) {
      if (this.banner.classList.contains("nonfinite")) this.clearError();
      return;
    }
    const bad = Object.entries(e.layers || {})
      .filter(([, s]) => s && s.nonfinite > 0)
      .map(([n]) => n);
    this.banner.hidden = false;
    this.banner.className = "banner nonfinite";
    this.banner.textContent = `NaN/Inf values at ${stepLabel(this.step())}${bad.length ? ` in: ${bad.join(", ")}` : ""}. They are drawn as the lowest colour.`;
  }

  /**
   * Warm the caches for the epochs around the current one, one epoch at a time
   * (the next one in the direction of the last move first) and only while the
   * view stays where it is: a jump elsewhere then waits behind one epoch's
   * requests at most, not behind every neighbour's.
   */
  prefetch() {
    const fwd = this.direction;
    let around = this.playing ? [1, 2, 3] : [fwd, 2 * fwd, -fwd, -2 * fwd];
    if (this.mode === "compare") around = around.slice(0, 2); // every probe: keep the queue short
    const at = this.idx;
    const gen = ++this.prefetchGen;
    (async () => {
      for (const d of around) {
        if (gen !== this.prefetchGen) return; // the view moved on: its own requests come first
        await this.warm(at + d);
      }
    })();
  }

  /** Ask for what the current view draws at epoch index `i` (its whole epoch record
   * when partial, the maps of the shown probes or the filters' kernels): the requests
   * land in the API's caches, which the renderers read. Resolves when all settled. */
  warm(i) {
    const s = this.epochs.steps[i];
    if (s === undefined) return Promise.resolve();
    const run = this.run;
    const asked = [this.ensureEpoch(i)];
    if (this.mode === "filters") {
      if (this.filterLayer) asked.push(this.api.kernels(run, s, this.filterLayer));
    } else {
      const probes = this.mode === "compare" ? [...Array(this.probeCount()).keys()] : [this.probe, this.probe2].filter((p) => p !== null);
      for (const p of probes) asked.push(this.api.activations(run, p, s));
      const sel = this.selected && this.info.layers.find((l) => l.name === this.selected);
      if (this.mode === "flow" && sel && sel.is_conv) asked.push(this.api.kernels(run, s, sel.name));
    }
    return Promise.allSettled(asked);
  }
}
