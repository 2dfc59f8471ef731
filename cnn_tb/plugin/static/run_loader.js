// Loading runs and epochs from the server, and the auto-reload poll.

import { buildEpochBar, stopPlay } from "./views/epoch_player.js";
import { ApiError } from "./api.js";
import { buildProbeStrip } from "./views/probe_strip.js";
import { el } from "./dom.js";

/**
 * Fetch the run list and show the remembered run, a run with data, or the empty state.
 * @param {import("./app.js").FlowApp} app
 */
export async function loadRuns(app) {
  try {
    app.runs = await app.api.runs();
  } catch (e) {
    app.setState("error");
    app.showError(e);
    return;
  }
  fillRunSelect(app);
  if (!app.runs.length) {
    app.run = null;
    app.detail.hidden = true;
    app.showEmpty(
      "No CNN flow data in this log directory yet",
      "The CNN Flow tab shows what every layer of your Keras CNN does to a few probe images, epoch by epoch. Add the cnn_tb.LayerFlow callback to model.fit:",
    );
    return;
  }
  const names = app.runs.map((r) => r.run);
  if (!names.includes(app.run)) {
    const good = app.runs.find((r) => r.has_model && r.last_step !== null) || app.runs[0];
    app.run = good.run;
  }
  app.runSelect.value = app.run;
  await loadRun(app);
}

/**
 * Fill the run picker from `app.runs`.
 * @param {import("./app.js").FlowApp} app
 */
export function fillRunSelect(app) {
  app.runSelect.replaceChildren(...app.runs.map((r) => el("option", { text: r.run, attrs: { value: r.run } })));
  if (app.run) app.runSelect.value = app.run;
}

/**
 * Switch to `run`, resetting the probe and layer choices.
 * @param {import("./app.js").FlowApp} app
 * @param {string} run
 */
export async function selectRun(app, run) {
  app.run = run;
  app.selected = null;
  app.expanded = [];
  app.filterLayer = null;
  app.probe = 0;
  app.probe2 = null;
  await loadRun(app);
}

/**
 * Load the info and epochs of `app.run` and render its last epoch.
 *
 * A long run's `/epochs` decodes every epoch record on the server (some 0.3 s
 * at 1,000 epochs on a TensorBoard just started), and beside it every other
 * request waits for Python's interpreter lock. So the flow view does not wait
 * for it: it is drawn from the last epoch's own record (`/epoch` of the step
 * `/runs` lists) and its maps, asked for beside `/run` (`app.epochs.provisional`:
 * one epoch, the epoch bar disabled, the state "drawn"); `/epochs` is asked for
 * then, and the view drawn again, in place, with every epoch (the state
 * "ready"). Measured in Chromium (`benchmarks/long_run.py`): the first draw of a
 * 1,000-epoch run as soon as a 10-epoch run's; asking for `/epochs` beside the
 * rest made it 1.5x later.
 * @param {import("./app.js").FlowApp} app
 */
export async function loadRun(app) {
  const run = app.run;
  stopPlay(app);
  app.setState("loading");
  app.clearError();
  const listed = app.runs.find((r) => r.run === run);
  const last = listed ? listed.last_step : null;
  const infoLoad = app.api.run(run);
  let early = null;
  if (last !== null && app.mode === "flow") {
    early = app.api.epoch(run, last).catch(() => null);
    app.api.activations(run, app.probe, last).catch(() => {}); // the maps it draws first, beside /run
  }
  let info;
  let rec = null;
  let epochs = null;
  try {
    info = await infoLoad;
    rec = early && (await early);
    if (!rec) epochs = await app.api.epochs(run);
  } catch (e) {
    if (run !== app.run) return;
    app.info = null;
    app.network = null;
    app.epochs = null;
    app.detail.hidden = true;
    app.showEmpty(`Run "${run}" has no readable flow records`, e instanceof ApiError ? e.message : String(e));
    return;
  }
  if (run !== app.run) return;
  app.setInfo(info, app.info !== null && app.info.run === run);
  app.knownRun = listed || null;
  if (rec) {
    const provisional = { run, steps: [last], epochs: [rec], provisional: true };
    showEpochs(app, provisional, last);
    await app.renderView();
    if (run !== app.run || app.epochs !== provisional) return;
    try {
      epochs = await app.api.epochs(run);
    } catch (e) {
      if (run === app.run && app.epochs === provisional) {
        app.setState("error");
        app.showError(e);
      }
      return;
    }
    if (run !== app.run || app.epochs !== provisional) return; // another run, or the poll was first
    showEpochs(app, epochs, app.step(), false);
  } else showEpochs(app, epochs, null);
  if (app.epochs && app.epochs.steps.length) await app.renderView();
}

/**
 * Show `epochs` of the loaded run at `step` (null or not among them: the last);
 * `probes`: build the probe strip too (not when it shows the run already).
 * @param {import("./app.js").FlowApp} app
 */
function showEpochs(app, epochs, step, probes = true) {
  app.epochs = epochs;
  app.fixedRanges = null;
  if (!epochs.steps.length) {
    app.showEmpty(`Run "${app.run}" has no complete epoch yet`, "A step appears once its epoch record is written. Waiting for the first epoch (auto-reload).");
    return;
  }
  const i = step === null ? -1 : epochs.steps.indexOf(step);
  app.idx = i >= 0 ? i : epochs.steps.length - 1;
  const count = app.probeCount();
  if (app.probe >= count) app.probe = 0;
  if (app.probe2 !== null && app.probe2 >= count) app.probe2 = null;
  buildEpochBar(app);
  if (probes) buildProbeStrip(app);
}

/**
 * Drop every cache and load the runs again.
 * @param {import("./app.js").FlowApp} app
 */
export async function reloadRuns(app) {
  app.api.clear();
  app.images.clear();
  await loadRuns(app);
}

/**
 * Auto-reload tick: follow new runs and new epochs of the shown run.
 * @param {import("./app.js").FlowApp} app
 */
export async function poll(app) {
  if (!app.autoReload || app.busyPolling) return;
  app.busyPolling = true;
  try {
    const runs = await app.api.runs();
    const before = JSON.stringify(app.runs.map((r) => r.run));
    const after = JSON.stringify(runs.map((r) => r.run));
    const now = runs.find((r) => r.run === app.run);
    const old = app.knownRun;
    app.runs = runs;
    if (before !== after) fillRunSelect(app);
    if (!app.run || !now) {
      if (runs.length) await loadRuns(app);
      return;
    }
    if (!app.epochs || !app.epochs.steps.length || !app.info) {
      if (now.last_step !== null) await loadRun(app);
      return;
    }
    if (!old || old.last_step !== now.last_step || old.last_wall_time !== now.last_wall_time) {
      app.knownRun = now;
      const atEnd = app.idx === app.epochs.steps.length - 1;
      const step = app.step();
      const epochs = await app.api.epochs(app.run);
      app.epochs = epochs;
      app.api.hists.clear(); // new epochs bring new histograms
      app.fixedRanges = null;
      const i = epochs.steps.indexOf(step);
      app.idx = atEnd || i < 0 ? epochs.steps.length - 1 : i;
      buildEpochBar(app);
      await app.renderView();
    }
  } catch (e) {
    /* a failed poll is retried at the next tick */
  } finally {
    app.busyPolling = false;
  }
}
