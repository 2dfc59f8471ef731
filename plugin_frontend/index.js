// CNN Flow: entry module of the cnn_tb TensorBoard plugin (loaded in an
// iframe by TensorBoard, which calls render()).

import { COLORMAPS } from "./colormaps.js";
import * as draw from "./draw.js";
import { Api, ApiError, className, shapeText, stepLabel } from "./model.js";
import { el, emptyState, field, fmt, pct, probabilityBars, select } from "./views.js";

const POLL_MS = 5000;
const PLAY_MS = 600;
const STAT_ROWS = ["mean", "std", "min", "max", "zero_frac", "neg_frac", "dead_frac"];
const FRACTIONS = new Set(["zero_frac", "neg_frac", "dead_frac"]);

/** Entry point called by TensorBoard's plugin_entry.html. */
export async function render() {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./style.css", import.meta.url).href;
  document.head.append(link);
  const app = new FlowApp(document.body);
  window.cnnTbApp = app;
  await app.start();
}

class FlowApp {
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
    this.selected = null;
    this.detailCols = 8;
    this.detailCount = 32;
    this.filterLayer = null;
    this.playing = false;
    this.autoReload = true;
    this.token = 0;
    this.detailToken = 0;
    this.renderCount = 0;
    this.timings = [];
    this.images = new Map();
    this.fixedRanges = null;
  }

  // ---------------------------------------------------------------- skeleton

  async start() {
    this.root = el("div", { class: "cnn-tb", attrs: { id: "cnn-tb" }, data: { state: "loading" } });
    this.toolbar = el("div", { class: "toolbar" });
    this.banner = el("div", { class: "banner", attrs: { hidden: "" } });
    this.epochBar = el("div", { class: "epoch-bar" });
    this.probeStrip = el("div", { class: "probe-strip" });
    this.main = el("div", { class: "main" });
    this.detail = el("div", { class: "detail", attrs: { hidden: "" } });
    this.root.append(this.toolbar, this.banner, this.epochBar, this.probeStrip, this.main, this.detail);
    this.host.append(this.root);
    this.buildToolbar();
    document.addEventListener("keydown", (ev) => {
      const tag = ev.target && ev.target.tagName;
      if (!this.epochs || tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
      if (ev.key === "ArrowLeft") this.setIdx(this.idx - 1);
      else if (ev.key === "ArrowRight") this.setIdx(this.idx + 1);
      else if (ev.key === " ") this.togglePlay();
      else return;
      ev.preventDefault();
    });
    await this.loadRuns();
    this.pollTimer = setInterval(() => this.poll(), POLL_MS);
  }

  setState(state) {
    this.root.dataset.state = state;
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

  buildToolbar() {
    this.runSelect = select([], "", (v) => this.selectRun(v), { class: "run-select", attrs: { "aria-label": "Run" } });
    const reload = el("button", { class: "btn", text: "Reload", title: "Reload runs and epochs" });
    reload.addEventListener("click", () => this.reload());
    const auto = el("input", { attrs: { type: "checkbox" } });
    auto.checked = this.autoReload;
    auto.addEventListener("change", () => (this.autoReload = auto.checked));
    this.modeButtons = {};
    const modes = el("div", { class: "modes", attrs: { role: "tablist" } });
    for (const [m, label] of [
      ["flow", "Flow"],
      ["compare", "Compare probes"],
      ["filters", "Filters"],
    ]) {
      const b = el("button", { class: "mode-btn", text: label, data: { mode: m } });
      b.addEventListener("click", () => this.setMode(m));
      this.modeButtons[m] = b;
      modes.append(b);
    }
    this.reduceSelect = select(
      [
        ["mean", "channel mean"],
        ["max", "channel max"],
      ],
      this.reduce,
      (v) => {
        this.reduce = v;
        this.renderView();
      },
      { class: "reduce-select" },
    );
    this.cmapSelect = select(
      COLORMAPS.map((c) => [c, c]),
      this.cmap,
      (v) => {
        this.cmap = v;
        this.renderView();
      },
      { class: "cmap-select" },
    );
    this.normSelect = select(
      [
        ["map", "per map"],
        ["layer", "per layer"],
        ["fixed", "fixed across epochs"],
      ],
      this.norm,
      (v) => {
        this.norm = v;
        this.renderView();
      },
      { class: "norm-select" },
    );
    const all = el("input", { attrs: { type: "checkbox" }, class: "show-all" });
    all.addEventListener("change", () => {
      this.showAll = all.checked;
      this.renderView();
    });
    this.toolbar.append(
      el("div", { class: "group" }, [field("Run", this.runSelect), reload, el("label", { class: "check" }, [auto, "auto-reload"])]),
      modes,
      el("div", { class: "group" }, [
        field("Map", this.reduceSelect),
        field("Colormap", this.cmapSelect),
        field("Normalise", this.normSelect),
        el("label", { class: "check", title: "Also show layers the writer did not log" }, [all, "all layers"]),
      ]),
    );
    this.updateModeButtons();
  }

  updateModeButtons() {
    for (const [m, b] of Object.entries(this.modeButtons)) b.classList.toggle("active", m === this.mode);
    this.root.dataset.mode = this.mode;
  }

  setMode(m) {
    this.mode = m;
    this.updateModeButtons();
    this.renderView();
  }

  // ---------------------------------------------------------------- loading

  async loadRuns() {
    try {
      this.runs = await this.api.runs();
    } catch (e) {
      this.setState("error");
      this.showError(e);
      return;
    }
    this.fillRunSelect();
    if (!this.runs.length) {
      this.run = null;
      this.setState("empty");
      this.epochBar.replaceChildren();
      this.probeStrip.replaceChildren();
      this.detail.hidden = true;
      this.main.replaceChildren(
        emptyState(
          "No CNN flow data in this log directory yet",
          "The CNN Flow tab shows what every layer of your Keras CNN does to a few probe images, epoch by epoch. Add the cnn_tb.LayerFlow callback to model.fit:",
        ),
      );
      return;
    }
    const names = this.runs.map((r) => r.run);
    if (!names.includes(this.run)) {
      const good = this.runs.find((r) => r.has_model && r.last_step !== null) || this.runs[0];
      this.run = good.run;
    }
    this.runSelect.value = this.run;
    await this.loadRun();
  }

  fillRunSelect() {
    this.runSelect.replaceChildren(...this.runs.map((r) => el("option", { text: r.run, attrs: { value: r.run } })));
    if (this.run) this.runSelect.value = this.run;
  }

  async selectRun(run) {
    this.run = run;
    this.selected = null;
    this.filterLayer = null;
    this.probe = 0;
    this.probe2 = null;
    await this.loadRun();
  }

  async loadRun() {
    const run = this.run;
    this.playing = false;
    clearTimeout(this.playTimer);
    this.setState("loading");
    this.clearError();
    let info;
    let epochs;
    try {
      [info, epochs] = await Promise.all([this.api.run(run), this.api.epochs(run)]);
    } catch (e) {
      if (run !== this.run) return;
      this.info = null;
      this.epochs = null;
      this.setState("empty");
      this.epochBar.replaceChildren();
      this.probeStrip.replaceChildren();
      this.detail.hidden = true;
      this.main.replaceChildren(
        emptyState(`Run "${run}" has no readable flow records`, e instanceof ApiError ? e.message : String(e)),
      );
      return;
    }
    if (run !== this.run) return;
    this.info = info;
    this.epochs = epochs;
    this.fixedRanges = null;
    this.knownRun = this.runs.find((r) => r.run === run) || null;
    if (!epochs.steps.length) {
      this.setState("empty");
      this.epochBar.replaceChildren();
      this.probeStrip.replaceChildren();
      this.main.replaceChildren(
        emptyState(`Run "${run}" has no complete epoch yet`, "A step appears once its epoch record is written. Waiting for the first epoch (auto-reload)."),
      );
      return;
    }
    this.idx = epochs.steps.length - 1;
    const count = this.probeCount();
    if (this.probe >= count) this.probe = 0;
    if (this.probe2 !== null && this.probe2 >= count) this.probe2 = null;
    this.buildEpochBar();
    this.buildProbeStrip();
    await this.renderView();
  }

  probeCount() {
    const p = this.info.probes || {};
    return Math.max(p.count || 0, this.info.probe_images || 0);
  }

  async reload() {
    this.api.clear();
    this.images.clear();
    await this.loadRuns();
  }

  async poll() {
    if (!this.autoReload || this.busyPolling) return;
    this.busyPolling = true;
    try {
      const runs = await this.api.runs();
      const before = JSON.stringify(this.runs.map((r) => r.run));
      const after = JSON.stringify(runs.map((r) => r.run));
      const now = runs.find((r) => r.run === this.run);
      const old = this.knownRun;
      this.runs = runs;
      if (before !== after) this.fillRunSelect();
      if (!this.run || !now) {
        if (runs.length) await this.loadRuns();
        return;
      }
      if (!this.epochs || !this.epochs.steps.length || !this.info) {
        if (now.last_step !== null) await this.loadRun();
        return;
      }
      if (!old || old.last_step !== now.last_step || old.last_wall_time !== now.last_wall_time) {
        this.knownRun = now;
        const atEnd = this.idx === this.epochs.steps.length - 1;
        const step = this.step();
        const epochs = await this.api.epochs(this.run);
        this.epochs = epochs;
        this.fixedRanges = null;
        const i = epochs.steps.indexOf(step);
        this.idx = atEnd || i < 0 ? epochs.steps.length - 1 : i;
        this.buildEpochBar();
        await this.renderView();
      }
    } catch (e) {
      /* a failed poll is retried at the next tick */
    } finally {
      this.busyPolling = false;
    }
  }

  // ---------------------------------------------------------------- epochs

  step() {
    return this.epochs.steps[this.idx];
  }

  epoch() {
    return this.epochs.epochs[this.idx];
  }

  buildEpochBar() {
    const n = this.epochs.steps.length;
    this.playBtn = el("button", { class: "btn play", text: this.playing ? "Pause" : "Play", title: "Animate over epochs (space); ← → step" });
    this.playBtn.addEventListener("click", () => this.togglePlay());
    this.slider = el("input", { class: "epoch-slider", attrs: { type: "range", min: 0, max: Math.max(0, n - 1), step: 1, "aria-label": "Epoch" } });
    this.slider.value = String(this.idx);
    this.slider.addEventListener("input", () => this.setIdx(Number(this.slider.value)));
    this.stepText = el("span", { class: "step-label" });
    this.jumpInput = el("input", { class: "jump", attrs: { type: "number", min: 0, step: 1, title: "epoch number (0 = untrained)" } });
    const go = el("button", { class: "btn", text: "Go" });
    const jump = () => {
      const e = Number(this.jumpInput.value);
      if (!Number.isFinite(e)) return;
      const i = this.epochs.steps.indexOf(Math.round(e) - 1);
      if (i >= 0) {
        this.jumpInput.classList.remove("bad");
        this.jumpInput.value = "";
        this.setIdx(i);
      } else this.jumpInput.classList.add("bad");
    };
    go.addEventListener("click", jump);
    this.jumpInput.addEventListener("keydown", (ev) => ev.key === "Enter" && jump());
    const prev = el("button", { class: "btn icon", text: "‹", title: "previous epoch" });
    prev.addEventListener("click", () => this.setIdx(this.idx - 1));
    const next = el("button", { class: "btn icon", text: "›", title: "next epoch" });
    next.addEventListener("click", () => this.setIdx(this.idx + 1));
    this.metricsText = el("span", { class: "metrics" });
    this.epochBar.replaceChildren(
      this.playBtn,
      prev,
      this.slider,
      next,
      this.stepText,
      el("span", { class: "jump-box" }, [el("span", { class: "field-label", text: "go to epoch" }), this.jumpInput, go]),
      this.metricsText,
    );
    this.updateEpochTexts();
  }

  updateEpochTexts() {
    const step = this.step();
    const n = this.epochs.steps.length;
    this.slider.value = String(this.idx);
    this.stepText.textContent = `${stepLabel(step)}  ·  step ${step}  ·  ${this.idx + 1}/${n}`;
    const logs = this.epoch().logs || {};
    const keys = Object.keys(logs).slice(0, 4);
    this.metricsText.textContent = keys.map((k) => `${k} ${fmt(logs[k])}`).join("   ");
    this.jumpInput.max = String(Math.max(...this.epochs.steps) + 1);
    this.jumpInput.placeholder = String(step + 1);
  }

  setIdx(i) {
    if (!this.epochs) return;
    const n = this.epochs.steps.length;
    i = Math.max(0, Math.min(n - 1, i));
    this.stepStarted = performance.now();
    this.idx = i;
    this.updateEpochTexts();
    this.renderView();
  }

  togglePlay() {
    this.playing = !this.playing;
    this.playBtn.textContent = this.playing ? "Pause" : "Play";
    if (this.playing) {
      if (this.idx >= this.epochs.steps.length - 1) this.setIdx(0);
      this.scheduleTick();
    } else clearTimeout(this.playTimer);
  }

  scheduleTick() {
    clearTimeout(this.playTimer);
    this.playTimer = setTimeout(() => {
      if (!this.playing) return;
      if (this.idx >= this.epochs.steps.length - 1) {
        this.togglePlay();
        return;
      }
      this.setIdx(this.idx + 1);
      this.scheduleTick();
    }, PLAY_MS);
  }

  // ---------------------------------------------------------------- probes

  prediction(probe, epoch = this.epoch()) {
    const p = (epoch.predictions || [])[probe];
    const labels = (this.info.probes || {}).labels;
    const truth = p && p.true !== null && p.true !== undefined ? p.true : labels ? labels[probe] : null;
    return { pred: p ? p.pred : null, truth: truth === undefined ? null : truth, conf: p ? p.confidence : null, probs: p ? p.probs : null, top: p ? p.top : [] };
  }

  buildProbeStrip() {
    const n = this.probeCount();
    this.probeItems = [];
    const items = [];
    for (let i = 0; i < n; i++) {
      const img = el("img", { class: "thumb", attrs: { src: this.api.probeUrl(this.run, i), alt: `probe ${i}` } });
      const labels = el("div", { class: "probe-labels" });
      const item = el("button", { class: "probe", data: { probe: i }, title: "click: show this probe · shift-click: show it side by side" }, [img, labels]);
      item.addEventListener("click", (ev) => {
        if (ev.shiftKey) this.probe2 = this.probe2 === i || i === this.probe ? null : i;
        else {
          this.probe = i;
          if (this.probe2 === i) this.probe2 = null;
        }
        this.probe2Select.value = this.probe2 === null ? "" : String(this.probe2);
        this.renderView();
      });
      this.probeItems.push({ item, labels });
      items.push(item);
    }
    this.probe2Select = select(
      [["", "none"]].concat(Array.from({ length: n }, (_, i) => [String(i), `probe ${i}`])),
      this.probe2 === null ? "" : this.probe2,
      (v) => {
        this.probe2 = v === "" ? null : Number(v);
        this.renderView();
      },
      { class: "probe2-select" },
    );
    this.probeStrip.replaceChildren(
      el("div", { class: "probe-list" }, items),
      el("div", { class: "probe-side" }, [field("Side by side with", this.probe2Select)]),
    );
    this.updateProbeStrip();
  }

  updateProbeStrip() {
    if (!this.probeItems) return;
    this.probeItems.forEach(({ item, labels }, i) => {
      const { pred, truth, conf } = this.prediction(i);
      const wrong = pred !== null && truth !== null && pred !== truth;
      item.classList.toggle("selected", i === this.probe);
      item.classList.toggle("second", i === this.probe2);
      item.classList.toggle("wrong", wrong);
      item.dataset.wrong = wrong ? "1" : "0";
      const kids = [el("span", { class: "probe-index", text: `#${i}${wrong ? " ✗" : ""}` })];
      if (truth !== null) kids.push(el("span", { class: "lbl-true", text: `true: ${className(this.info, truth)}`, title: className(this.info, truth) }));
      if (pred !== null)
        kids.push(el("span", { class: `lbl-pred ${wrong ? "bad" : "good"}`, text: `pred: ${className(this.info, pred)} ${conf !== null ? `${Math.round(conf * 100)}%` : ""}`, title: className(this.info, pred) }));
      labels.replaceChildren(...kids);
    });
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

  // ---------------------------------------------------------------- layers

  displayedLayers() {
    return this.info.layers.filter((l) => l.kind === "input" || l.logged || this.showAll);
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

  async renderView() {
    if (!this.info || !this.epochs || !this.epochs.steps.length) return;
    const token = ++this.token;
    const cause = this.stepStarted ? "step" : "view";
    const started = this.stepStarted || performance.now();
    this.stepStarted = null;
    this.updateEpochTexts();
    this.updateProbeStrip();
    this.updateNonfiniteBanner();
    try {
      if (this.mode === "flow") await this.renderFlow(token);
      else if (this.mode === "compare") await this.renderCompare(token);
      else await this.renderFilters(token);
    } catch (e) {
      if (token !== this.token) return;
      this.setState("error");
      this.showError(e);
      return;
    }
    if (token !== this.token) return;
    this.renderCount += 1;
    this.root.dataset.step = String(this.step());
    this.root.dataset.renderCount = String(this.renderCount);
    this.timings.push({ step: this.step(), ms: performance.now() - started, cause });
    if (this.timings.length > 500) this.timings.shift();
    this.setState("ready");
    this.prefetch();
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

  prefetch() {
    const steps = this.epochs.steps;
    let around = this.playing ? [1, 2, 3] : [1, -1, 2, -2];
    if (this.mode === "compare") around = around.slice(0, 2); // every probe: keep the queue short
    const probes = this.mode === "compare" ? [...Array(this.probeCount()).keys()] : [this.probe, this.probe2].filter((p) => p !== null);
    const run = this.run;
    setTimeout(() => {
      for (const d of around) {
        const s = steps[this.idx + d];
        if (s === undefined) continue;
        if (this.mode === "filters") {
          if (this.filterLayer) this.api.kernels(run, s, this.filterLayer).catch(() => {});
        } else {
          for (const p of probes) this.api.activations(run, p, s).catch(() => {});
          const sel = this.selected && this.info.layers.find((l) => l.name === this.selected);
          if (this.mode === "flow" && sel && sel.is_conv) this.api.kernels(run, s, sel.name).catch(() => {});
        }
      }
    }, 0);
  }

  async renderFlow(token) {
    const step = this.step();
    const probes = [this.probe, this.probe2].filter((p) => p !== null);
    const [packs, images] = await Promise.all([
      Promise.all(probes.map((p) => this.api.activations(this.run, p, step).catch((e) => e))),
      Promise.all(probes.map((p) => this.probeImage(p))),
    ]);
    if (token !== this.token) return;
    const scroller = this.main.querySelector(".pipeline-scroll");
    const scrollLeft = scroller ? scroller.scrollLeft : 0;
    const layers = this.displayedLayers();
    const pipeline = el("div", { class: `pipeline${layers.length > 12 ? " dense" : ""}`, data: { rows: probes.length } });
    const arcs = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    arcs.setAttribute("class", "arcs");
    pipeline.append(arcs);
    let prevShape = null;
    layers.forEach((layer, li) => {
      if (li > 0) pipeline.append(el("div", { class: "conn", text: "→", attrs: { "aria-hidden": "true" } }));
      const shapeChanged = prevShape !== null && shapeText(prevShape) !== shapeText(layer.output_shape);
      prevShape = layer.output_shape;
      const col = this.layerColumn(layer, probes, packs, images, shapeChanged);
      pipeline.append(col);
    });
    const scroll = el("div", { class: "pipeline-scroll" }, [pipeline]);
    const title = el("div", { class: "view-title" }, [
      el("span", { text: `${this.info.model_name}` }),
      el("span", { class: "muted", text: ` · ${probes.map((p) => `probe #${p}`).join(" vs ")} · ${stepLabel(step)} · click a layer for details` }),
    ]);
    const nav = layers.length > 8 ? this.layerNav(layers, pipeline) : null;
    this.main.replaceChildren(...[title, nav, scroll].filter(Boolean));
    scroll.scrollLeft = scrollLeft;
    this.drawArcs(pipeline, arcs, layers);
    if (this.selected) await this.renderDetail(token);
    else this.detail.hidden = true;
  }

  /** Chips naming every layer; a click scrolls its card into view. */
  layerNav(layers, pipeline) {
    const nav = el("div", { class: "layer-nav" }, [el("span", { class: "muted", text: `${layers.length} layers · scroll sideways or jump:` })]);
    for (const layer of layers) {
      const chip = el("button", { class: `chip${layer.name === this.selected ? " active" : ""}`, text: layer.name, title: `${layer.class} · ${shapeText(layer.output_shape)}` });
      chip.addEventListener("click", () => {
        const col = [...pipeline.querySelectorAll(".layer-col")].find((c) => c.dataset.layer === layer.name);
        if (col) col.scrollIntoView({ block: "nearest", inline: "center" });
      });
      nav.append(chip);
    }
    return nav;
  }

  layerColumn(layer, probes, packs, images, shapeChanged) {
    const inbound = layer.inbound || [];
    const merge = inbound.length > 1;
    const output = this.isOutput(layer);
    const col = el("div", {
      class: `layer-col kind-${layer.kind}${merge ? " merge" : ""}${output ? " output" : ""}${layer.name === this.selected ? " selected" : ""}${layer.logged || layer.kind === "input" ? "" : " unlogged"}`,
      data: { layer: layer.name, kind: layer.kind },
    });
    const head = el("div", { class: "col-head" }, [
      el("div", { class: "layer-name", text: layer.name, title: layer.name }),
      el("div", { class: "layer-class", text: `${layer.class}${layer.activation && layer.activation !== "linear" ? ` · ${layer.activation}` : ""}`, title: layer.class }),
      el("div", { class: "shape-row" }, [
        el("span", { class: `layer-shape${shapeChanged ? " changed" : ""}`, text: shapeText(layer.output_shape), title: shapeChanged ? "shape changes here" : "output shape" }),
      ]),
    ]);
    if (merge) {
      const verb = /concat/i.test(layer.class) ? "concat" : /add/i.test(layer.class) ? "add" : "merge";
      head.append(el("div", { class: "merge-note", text: `${verb}: ${inbound.join(" + ")}`, title: inbound.join(" + ") }));
    }
    const stats = this.layerStats(layer.name);
    if (stats && stats.nonfinite > 0)
      head.querySelector(".shape-row").append(el("span", { class: "badge nan", text: `NaN ×${stats.nonfinite}`, title: `${stats.nonfinite} NaN/Inf values at this epoch` }));
    col.append(head);
    probes.forEach((p, row) => {
      const cell = el("div", { class: "cell", data: { probe: p } });
      const pack = packs[row];
      if (layer.kind === "input") {
        const c = el("canvas", { class: "map input-map" });
        if (images[row]) draw.drawImage(c, images[row]);
        cell.append(c);
        if (probes.length > 1) {
          const { pred, truth } = this.prediction(p);
          const wrong = pred !== null && truth !== null && pred !== truth;
          cell.append(el("div", { class: `cell-stats ${wrong ? "bad" : ""}`.trim(), text: `probe #${p}${wrong ? " ✗" : ""}` }));
        }
      } else if (pack instanceof Error) {
        cell.append(el("div", { class: "cell-msg", text: pack.message }));
      } else if (output && layer.kind === "vector") {
        cell.append(this.outputBars(p, pack));
      } else if (!layer.logged) {
        cell.append(el("div", { class: "cell-msg", text: "not logged" }));
      } else {
        const arrays = pack.layers.get(layer.name) || {};
        if (layer.kind === "map" && (arrays[this.reduce] || arrays.mean || arrays.max)) {
          const c = el("canvas", { class: "map" });
          draw.drawMap(c, arrays[this.reduce] || arrays.mean || arrays.max, null, this.range(layer.name), this.cmap);
          cell.append(c);
        } else if (arrays.vector) {
          const c = el("canvas", { class: "map vector-map" });
          draw.drawVector(c, arrays.vector, this.norm === "map" ? null : this.range(layer.name), this.cmap);
          cell.append(c);
        } else cell.append(el("div", { class: "cell-msg", text: "no data at this epoch" }));
      }
      if (stats && layer.kind !== "input" && row === probes.length - 1) {
        cell.append(
          el("div", { class: "cell-stats", title: "over all probes at this epoch" }, [
            el("span", { text: `mean ${fmt(stats.mean, 2)}` }),
            el("span", { text: `dead ${pct(stats.dead_frac)}` }),
          ]),
        );
      }
      col.append(cell);
    });
    col.addEventListener("click", () => {
      if (layer.kind === "input") return; // the probe image itself: nothing more to show
      this.selected = this.selected === layer.name ? null : layer.name;
      this.renderView();
    });
    return col;
  }

  outputBars(probe, pack) {
    const { pred, truth, probs, top } = this.prediction(probe);
    let rows;
    if (probs && probs.length) rows = probs.map((p, i) => [i, p]);
    else if (top && top.length) rows = top.map(([c, p]) => [typeof c === "number" ? c : -1, p]);
    else {
      const arr = pack && pack.layers.get(this.info.output_layer);
      const v = arr && arr.vector ? draw.mapValues({ ...arr.vector, shape: [arr.vector.shape.at(-1)] }).values : [];
      rows = Array.from(v, (p, i) => [i, p]);
    }
    if (rows.length > 10) {
      const keep = new Set(rows.slice().sort((a, b) => (b[1] || 0) - (a[1] || 0)).slice(0, 8).map((r) => r[0]));
      if (truth !== null) keep.add(truth);
      rows = rows.filter((r) => keep.has(r[0]));
    }
    return probabilityBars(rows, pred, truth, (c) => className(this.info, c));
  }

  /** Arcs above the pipeline for inputs that do not come from the column on the left. */
  drawArcs(pipeline, svg, layers) {
    const shown = new Set(layers.map((l) => l.name));
    const byName = new Map(this.info.layers.map((l) => [l.name, l]));
    const visibleSource = (name) => {
      let cur = name;
      for (let guard = 0; guard < 1000 && cur && !shown.has(cur); guard++) {
        const l = byName.get(cur);
        cur = l && l.inbound && l.inbound.length ? l.inbound[0] : null;
      }
      return cur;
    };
    const cols = new Map();
    for (const c of pipeline.querySelectorAll(".layer-col")) cols.set(c.dataset.layer, c);
    const width = pipeline.scrollWidth;
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", "34");
    svg.setAttribute("viewBox", `0 0 ${width} 34`);
    const ns = "http://www.w3.org/2000/svg";
    const defs = document.createElementNS(ns, "defs");
    const marker = document.createElementNS(ns, "marker");
    marker.setAttribute("id", "arrow");
    marker.setAttribute("viewBox", "0 0 10 10");
    marker.setAttribute("refX", "8");
    marker.setAttribute("refY", "5");
    marker.setAttribute("markerWidth", "6");
    marker.setAttribute("markerHeight", "6");
    marker.setAttribute("orient", "auto-start-reverse");
    const tip = document.createElementNS(ns, "path");
    tip.setAttribute("d", "M 0 0 L 10 5 L 0 10 z");
    tip.setAttribute("fill", "#1976d2");
    marker.append(tip);
    defs.append(marker);
    svg.append(defs);
    let count = 0;
    layers.forEach((layer, i) => {
      const prev = i > 0 ? layers[i - 1].name : null;
      for (const src of layer.inbound || []) {
        const from = visibleSource(src);
        if (!from || from === prev || from === layer.name || !cols.has(from)) continue;
        const a = cols.get(from);
        const b = cols.get(layer.name);
        const x1 = a.offsetLeft + a.offsetWidth / 2;
        const x2 = b.offsetLeft + b.offsetWidth / 2;
        const h = 30 - (count % 3) * 7;
        const path = document.createElementNS(ns, "path");
        path.setAttribute("d", `M ${x1} 34 C ${x1} ${34 - h}, ${x2} ${34 - h}, ${x2} 34`);
        path.setAttribute("class", "skip-arc");
        path.setAttribute("marker-end", "url(#arrow)");
        path.dataset.from = from;
        path.dataset.to = layer.name;
        const title = document.createElementNS(ns, "title");
        title.textContent = `skip connection: ${from} → ${layer.name}`;
        path.append(title);
        svg.append(path);
        a.classList.add("skip-source");
        count++;
      }
    });
    pipeline.dataset.skips = String(count);
  }

  // ---------------------------------------------------------------- detail

  async renderDetail(token) {
    const layer = this.info.layers.find((l) => l.name === this.selected);
    if (!layer) {
      this.detail.hidden = true;
      return;
    }
    const step = this.step();
    const probe = this.probe;
    const wantsKernel = layer.is_conv;
    const [pack, image, kpack] = await Promise.all([
      this.api.activations(this.run, probe, step).catch((e) => e),
      this.probeImage(probe),
      wantsKernel ? this.api.kernels(this.run, step, layer.name).catch((e) => e) : Promise.resolve(null),
    ]);
    if (token !== this.token) return;
    const arrays = pack instanceof Error ? {} : pack.layers.get(layer.name) || {};
    const close = el("button", { class: "btn icon close", text: "×", title: "close" });
    close.addEventListener("click", (ev) => {
      ev.stopPropagation();
      this.selected = null;
      this.renderView();
    });
    const head = el("div", { class: "detail-head" }, [
      el("h3", { text: layer.name }),
      el("span", { class: "muted", text: `${layer.class} · output ${shapeText(layer.output_shape)} · ${layer.params.toLocaleString()} params${layer.activation ? ` · ${layer.activation}` : ""}` }),
      layer.inbound.length ? el("span", { class: "muted", text: ` · inputs: ${layer.inbound.join(", ")}` }) : null,
      el("span", { class: "muted", text: ` · probe #${probe} · ${stepLabel(step)}` }),
      close,
    ]);
    const sections = [];
    sections.push(this.mapsSection(layer, arrays));
    if (wantsKernel) sections.push(this.kernelSection(layer, kpack));
    sections.push(this.heatmapSection(layer, arrays, image));
    sections.push(this.statsSection(layer));
    this.detail.replaceChildren(head, el("div", { class: "detail-body" }, sections.filter(Boolean)));
    this.detail.dataset.layer = layer.name;
    this.detail.hidden = false;
  }

  mapsSection(layer, arrays) {
    const maps = arrays.maps;
    const box = el("section", { class: "maps-section" }, [el("h4", { text: "Feature maps" })]);
    if (!maps) {
      box.append(el("p", { class: "muted", text: layer.kind === "vector" ? "Vector layer: see the activation strip." : "No channel maps logged for this layer." }));
      if (arrays.vector) {
        const c = el("canvas", { class: "big-vector" });
        draw.drawVector(c, arrays.vector, null, this.cmap, 256, 80);
        const stored = arrays.vector.shape[arrays.vector.shape.length - 1];
        const full = arrays.vector.meta && arrays.vector.meta.full_shape ? arrays.vector.meta.full_shape[0] : stored;
        box.append(c, el("p", { class: "muted", text: `${stored} of ${full} units${stored > 128 ? " (bars merge neighbours by max)" : ""}` }));
      }
      return box;
    }
    const channels = (maps.meta && maps.meta.channels) || [...Array(maps.shape[2]).keys()];
    const full = (maps.meta && maps.meta.full_shape) || maps.shape;
    const cols = el("input", { attrs: { type: "range", min: 1, max: 16, value: this.detailCols }, class: "cols-range" });
    cols.addEventListener("input", () => {
      this.detailCols = Number(cols.value);
      grid.style.gridTemplateColumns = `repeat(${this.detailCols}, minmax(0, 128px))`;
    });
    const countSel = select(
      [
        ["8", "8"],
        ["16", "16"],
        ["32", "32"],
        ["64", "64"],
        ["100000", "all"],
      ],
      this.detailCount >= 100000 ? "100000" : String(this.detailCount),
      (v) => {
        this.detailCount = Number(v);
        this.renderView();
      },
      { class: "count-select" },
    );
    const shown = Math.min(channels.length, this.detailCount);
    const notes = [`showing ${shown} of ${channels.length} stored channels`];
    if (full[full.length - 1] > channels.length) notes.push(`layer has ${full[full.length - 1]} (writer kept ${channels.length})`);
    if (maps.meta && maps.meta.pool > 1) notes.push(`pooled ×${maps.meta.pool}`);
    box.append(
      el("div", { class: "controls" }, [field("Columns", cols), field("Maps", countSel), el("span", { class: "muted", text: notes.join(" · ") })]),
    );
    let range = null;
    if (this.norm === "layer") {
      const lo = Array.isArray(maps.lo) ? Math.min(...maps.lo) : maps.lo;
      const hi = Array.isArray(maps.hi) ? Math.max(...maps.hi) : maps.hi;
      range = [lo, hi];
    } else if (this.norm === "fixed") range = this.range(layer.name);
    const grid = el("div", { class: "map-grid", style: { gridTemplateColumns: `repeat(${this.detailCols}, minmax(0, 128px))` } });
    for (let k = 0; k < shown; k++) {
      const c = el("canvas", { class: "map" });
      draw.drawMap(c, maps, k, range, this.cmap);
      grid.append(el("figure", { class: "map-tile", data: { channel: channels[k] } }, [c, el("figcaption", { text: `ch ${channels[k]}` })]));
    }
    box.append(grid);
    return box;
  }

  kernelSection(layer, kpack) {
    const box = el("section", { class: "kernel-section" }, [el("h4", { text: "Kernels" })]);
    if (!kpack || kpack instanceof Error) {
      box.append(el("p", { class: "muted", text: kpack ? kpack.message : "no kernels logged" }));
      return box;
    }
    const entry = kpack.arrays.get(`${layer.name}/kernel`);
    if (!entry) {
      box.append(el("p", { class: "muted", text: "no kernels logged for this layer" }));
      return box;
    }
    const c = el("canvas", { class: "kernel-grid" });
    const cout = entry.shape[3];
    draw.drawKernelGrid(c, entry, Math.min(16, Math.ceil(Math.sqrt(cout * 2))));
    const change = (this.epoch().kernel_change || {})[layer.name];
    const full = (entry.meta && entry.meta.full_shape) || entry.shape;
    const kept = full[3] > entry.shape[3] || full[2] > entry.shape[2] ? ` (stored ${shapeText(entry.shape)})` : "";
    box.append(
      c,
      el("p", { class: "muted", text: `${shapeText(full)}${kept} · ${entry.shape[2] === 3 ? "RGB per filter" : "mean over input channels, blue < 0 < red"} · change since previous step: ${change === null || change === undefined ? "–" : pct(change)}` }),
    );
    return box;
  }

  heatmapSection(layer, arrays, image) {
    const box = el("section", { class: "heat-section" }, [el("h4", { text: "Heatmaps on the probe" })]);
    const { pred, truth } = this.prediction(this.probe);
    const items = [];
    if (arrays.max) items.push(["max activation", arrays.max, "magma"]);
    if (arrays.gradcam) items.push([`Grad-CAM (predicted: ${className(this.info, pred)})`, arrays.gradcam, "magma"]);
    if (arrays.gradcam_true) items.push([`Grad-CAM (true: ${className(this.info, truth)})`, arrays.gradcam_true, "magma"]);
    if (!items.length) {
      box.append(el("p", { class: "muted", text: "No spatial maps for this layer." }));
      return box;
    }
    const row = el("div", { class: "heat-row" });
    for (const [label, entry, cmap] of items) {
      const c = el("canvas", { class: "overlay" });
      const isCam = entry.name.endsWith("gradcam") || entry.name.endsWith("gradcam_true");
      draw.drawOverlay(c, image, draw.mapValues(entry), isCam ? [0, 1] : null, cmap === "magma" && this.cmap !== "gray" ? this.cmap : cmap);
      row.append(el("figure", { class: "heat-tile" }, [c, el("figcaption", { text: label, title: label })]));
    }
    box.append(row);
    return box;
  }

  statsSection(layer) {
    const box = el("section", { class: "stats-section" }, [el("h4", { text: "Statistics over all probes" })]);
    const table = el("table", { class: "stats" });
    table.append(el("tr", {}, [el("th", { text: "stat" }), el("th", { text: stepLabel(this.step()) }), el("th", { text: "over epochs" })]));
    const rows = STAT_ROWS.map((s) => [s, (e) => ((e.layers || {})[layer.name] || {})[s]]);
    if (layer.is_conv) rows.push(["kernel change", (e) => (e.kernel_change || {})[layer.name]]);
    for (const [name, get] of rows) {
      const series = this.epochs.epochs.map((e) => {
        const v = get(e);
        return v === undefined ? null : v;
      });
      const cur = series[this.idx];
      const c = el("canvas", { class: "spark" });
      draw.drawSparkline(c, series, this.idx);
      const frac = FRACTIONS.has(name) || name === "kernel change";
      table.append(el("tr", {}, [el("td", { text: name.replace("_frac", " fraction") }), el("td", { class: "num", text: frac ? pct(cur) : fmt(cur) }), el("td", {}, [c])]));
    }
    const s = this.layerStats(layer.name);
    if (s && s.nonfinite > 0) box.append(el("p", { class: "badge nan", text: `${s.nonfinite} non-finite values at this epoch` }));
    box.append(table);
    return box;
  }

  // ---------------------------------------------------------------- compare

  async renderCompare(token) {
    const step = this.step();
    const n = this.probeCount();
    const probes = [...Array(n).keys()];
    const [packs, images] = await Promise.all([
      Promise.all(probes.map((p) => this.api.activations(this.run, p, step).catch((e) => e))),
      Promise.all(probes.map((p) => this.probeImage(p))),
    ]);
    if (token !== this.token) return;
    const layers = this.displayedLayers().filter((l) => l.kind === "input" || l.logged);
    const table = el("table", { class: "compare" });
    table.append(
      el("tr", {}, [el("th", { class: "corner", text: "probe" })].concat(layers.map((l) => el("th", { class: "col-name", text: l.name, title: `${l.name} · ${l.class} · ${shapeText(l.output_shape)}` })))),
    );
    probes.forEach((p, row) => {
      const { pred, truth, conf } = this.prediction(p);
      const wrong = pred !== null && truth !== null && pred !== truth;
      const rowHead = el("th", { class: `row-head${wrong ? " wrong" : ""}` }, [
        el("div", { text: `#${p}${wrong ? " ✗" : ""}` }),
        truth !== null ? el("div", { class: "lbl-true", text: `true: ${className(this.info, truth)}` }) : null,
        pred !== null ? el("div", { class: `lbl-pred ${wrong ? "bad" : "good"}`, text: `pred: ${className(this.info, pred)}` }) : null,
      ]);
      const tr = el("tr", { data: { probe: p } }, [rowHead]);
      for (const layer of layers) {
        const td = el("td", { data: { layer: layer.name }, title: `probe #${p} · ${layer.name}: click to open in the flow view` });
        td.addEventListener("click", () => {
          this.probe = p;
          this.selected = layer.kind === "input" ? null : layer.name;
          this.setMode("flow");
        });
        const pack = packs[row];
        if (layer.kind === "input") {
          const c = el("canvas", { class: "map" });
          if (images[row]) draw.drawImage(c, images[row]);
          td.append(c);
        } else if (pack instanceof Error) td.append(el("span", { class: "cell-msg", text: "–" }));
        else if (this.isOutput(layer)) {
          td.append(el("div", { class: `out-text ${wrong ? "bad" : "good"}`, text: `${className(this.info, pred)} ${conf !== null ? `${Math.round(conf * 100)}%` : ""}` }));
        } else {
          const arrays = pack.layers.get(layer.name) || {};
          const entry = arrays[this.reduce] || arrays.mean || arrays.max;
          const c = el("canvas", { class: "map" });
          if (entry) draw.drawMap(c, entry, null, this.range(layer.name), this.cmap);
          else if (arrays.vector) draw.drawVector(c, arrays.vector, null, this.cmap, 64, 32);
          td.append(c);
        }
        tr.append(td);
      }
      table.append(tr);
    });
    this.detail.hidden = true;
    this.main.replaceChildren(
      el("div", { class: "view-title" }, [el("span", { text: "How different probes flow through the network" }), el("span", { class: "muted", text: ` · ${stepLabel(step)} · ${this.reduce} maps` })]),
      el("div", { class: "compare-scroll" }, [table]),
    );
  }

  // ---------------------------------------------------------------- filters

  async renderFilters(token) {
    const convs = this.info.layers.filter((l) => l.is_conv && l.logged !== false);
    this.detail.hidden = true;
    if (!convs.length) {
      this.main.replaceChildren(el("p", { class: "muted", text: "This model has no convolution layers with logged kernels." }));
      return;
    }
    if (!this.filterLayer || !convs.some((l) => l.name === this.filterLayer)) this.filterLayer = convs[0].name;
    const layer = convs.find((l) => l.name === this.filterLayer);
    const step = this.step();
    let kpack;
    try {
      kpack = await this.api.kernels(this.run, step, layer.name);
    } catch (e) {
      kpack = e;
    }
    if (token !== this.token) return;
    const pick = select(
      convs.map((l) => [l.name, l.name]),
      layer.name,
      (v) => {
        this.filterLayer = v;
        this.renderView();
      },
      { class: "filter-layer" },
    );
    const body = el("div", { class: "filters-body" });
    if (kpack instanceof Error) body.append(el("p", { class: "muted", text: kpack.message }));
    else {
      const entry = kpack.arrays.get(`${layer.name}/kernel`);
      if (!entry) body.append(el("p", { class: "muted", text: "no kernels logged for this layer at this epoch" }));
      else {
        const c = el("canvas", { class: "kernel-grid big" });
        const cout = entry.shape[3];
        const colsN = Math.min(16, Math.ceil(Math.sqrt(cout * 2)));
        draw.drawKernelGrid(c, entry, colsN);
        c.style.width = `${Math.min(900, Math.max(360, colsN * (entry.shape[1] + 1) * 26))}px`;
        body.append(c);
      }
    }
    const changes = this.epochs.epochs.map((e) => {
      const v = (e.kernel_change || {})[layer.name];
      return v === undefined ? null : v;
    });
    const spark = el("canvas", { class: "spark" });
    draw.drawSparkline(spark, changes, this.idx, 260, 40);
    const cur = changes[this.idx];
    const side = el("div", { class: "filters-side" }, [
      el("div", { class: "big-number", text: cur === null ? "–" : pct(cur) }),
      el("div", { class: "muted", text: `relative L2 change of the kernels at ${stepLabel(step)} vs the previous logged step` }),
      spark,
      el("div", { class: "muted", text: `${layer.class} · kernel ${shapeText(layer.kernel_shape)} · press Play to watch the filters evolve` }),
    ]);
    this.main.replaceChildren(
      el("div", { class: "view-title" }, [el("span", { text: "Filters of " }), pick, el("span", { class: "muted", text: ` · ${stepLabel(step)}` })]),
      el("div", { class: "filters" }, [body, side]),
    );
  }
}
