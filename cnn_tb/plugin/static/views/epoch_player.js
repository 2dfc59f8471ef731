// The epoch bar: play/pause, previous/next, slider, jump-to-epoch, the
// metrics of the shown epoch, and the keyboard shortcuts (← → epochs,
// ↑ ↓ layers, space play/pause). Its controls sit in fixed grid columns, so
// nothing moves while the texts change during playback.

import { el, fmt, stepLabel } from "../dom.js";

const PLAY_MS = 600;

/**
 * ← → step through epochs, ↑ ↓ select the previous / next layer, space
 * plays/pauses (not while typing; on the epoch slider ← → are its own).
 * @param {import("../app.js").FlowApp} app
 */
export function bindEpochKeys(app) {
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    const tag = t && t.tagName;
    if (!app.epochs || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const onSlider = t === app.slider;
    if ((tag === "INPUT" && !onSlider) || tag === "SELECT" || tag === "TEXTAREA") return;
    if (ev.key === "ArrowUp" || ev.key === "ArrowDown") app.moveSelection(ev.key === "ArrowUp" ? -1 : 1);
    else if (onSlider) return;
    else if (ev.key === "ArrowLeft") app.setIdx(app.idx - 1);
    else if (ev.key === "ArrowRight") app.setIdx(app.idx + 1);
    else if (ev.key === " ") app.togglePlay();
    else return;
    ev.preventDefault();
  });
}

/**
 * Rebuild the epoch bar for the loaded epochs.
 * @param {import("../app.js").FlowApp} app
 */
export function buildEpochBar(app) {
  const n = app.epochs.steps.length;
  app.playBtn = el("button", { class: "btn play", text: app.playing ? "Pause" : "Play", title: "Animate over epochs (space); ← → step, ↑ ↓ layer" });
  app.playBtn.addEventListener("click", () => app.togglePlay());
  // (while a long run's last epoch is drawn before /epochs is in, the one epoch known
  // is shown at the slider's end, where it will be)
  const max = app.epochs.provisional ? 1 : Math.max(0, n - 1);
  app.slider = el("input", { class: "epoch-slider", attrs: { type: "range", min: 0, max, step: 1, "aria-label": "Epoch" } });
  app.slider.value = String(app.idx);
  app.slider.addEventListener("input", () => app.setIdx(Number(app.slider.value)));
  app.stepText = el("span", { class: "step-label" });
  app.jumpInput = el("input", { class: "jump", attrs: { type: "number", min: 0, step: 1, title: "epoch number (0 = untrained)" } });
  const go = el("button", { class: "btn", text: "Go" });
  const jump = () => {
    const e = Number(app.jumpInput.value);
    if (!Number.isFinite(e)) return;
    const i = app.epochs.steps.indexOf(Math.round(e) - 1);
    if (i >= 0) {
      app.jumpInput.classList.remove("bad");
      app.jumpInput.value = "";
      app.setIdx(i);
    } else app.jumpInput.classList.add("bad");
  };
  go.addEventListener("click", jump);
  app.jumpInput.addEventListener("keydown", (ev) => ev.key === "Enter" && jump());
  const prev = el("button", { class: "btn icon", text: "‹", title: "previous epoch" });
  prev.addEventListener("click", () => app.setIdx(app.idx - 1));
  const next = el("button", { class: "btn icon", text: "›", title: "next epoch" });
  next.addEventListener("click", () => app.setIdx(app.idx + 1));
  app.metricsText = el("span", { class: "metrics" });
  app.stepText.title = "";
  // a long run's last epoch drawn before /epochs is in: the controls wait for it
  const pending = Boolean(app.epochs.provisional);
  app.epochBar.classList.toggle("pending", pending);
  for (const c of [app.playBtn, prev, app.slider, next, app.jumpInput, go]) {
    c.disabled = pending;
    if (pending) c.title = "loading the run's epochs…";
  }
  app.epochBar.replaceChildren(
    app.playBtn,
    prev,
    app.slider,
    next,
    app.stepText,
    el("span", { class: "jump-box" }, [el("span", { class: "field-label", text: "go to epoch" }), app.jumpInput, go]),
    app.metricsText,
  );
  updateEpochTexts(app);
}

/**
 * Sync the slider, step label, metrics and jump box with `app.idx`.
 * @param {import("../app.js").FlowApp} app
 */
export function updateEpochTexts(app) {
  const step = app.step();
  const n = app.epochs.steps.length;
  app.slider.value = String(app.epochs.provisional ? 1 : app.idx);
  const last = Math.max(...app.epochs.steps) + 1;
  app.stepText.textContent = step < 0 ? `untrained · ${last} epoch${last === 1 ? "" : "s"}` : `${stepLabel(step)} of ${last}`;
  app.stepText.title = `step ${step} (Keras epoch index) · ${app.idx + 1} of ${n} logged steps`;
  const logs = app.epoch().logs || {};
  const text = Object.keys(logs).map((k) => `${k} ${fmt(logs[k])}`).join("   ");
  app.metricsText.textContent = text;
  app.metricsText.title = text;
  app.jumpInput.max = String(Math.max(...app.epochs.steps) + 1);
  app.jumpInput.placeholder = String(step + 1);
}

/**
 * Start or pause playback; playing from the last epoch restarts at the first.
 * @param {import("../app.js").FlowApp} app
 */
export function togglePlay(app) {
  app.playing = !app.playing;
  app.playBtn.textContent = app.playing ? "Pause" : "Play";
  if (app.playing) {
    if (app.idx >= app.epochs.steps.length - 1) app.setIdx(0);
    scheduleTick(app);
  } else clearTimeout(app.playTimer);
}

/**
 * Stop playback without touching the (about to be rebuilt) epoch bar.
 * @param {import("../app.js").FlowApp} app
 */
export function stopPlay(app) {
  app.playing = false;
  clearTimeout(app.playTimer);
}

function scheduleTick(app) {
  clearTimeout(app.playTimer);
  app.playTimer = setTimeout(() => {
    if (!app.playing) return;
    if (app.idx >= app.epochs.steps.length - 1) {
      app.togglePlay();
      return;
    }
    app.setIdx(app.idx + 1);
    scheduleTick(app);
  }, PLAY_MS);
}
