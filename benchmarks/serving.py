"""Items 4, 6 and 7: the plugin behind a real TensorBoard, memory, start time.

``python benchmarks/serving.py write --log-dir D --steps 200 --probes 16``
(a fresh process) writes the serving log dir with the real writer
(``cnn_tb.LayerLogger(...).attach(model)`` then ``.log(step)``; no training:
every conv/dense kernel gets a small random perturbation between steps so the
data changes) and reports its own RSS after every step (item 6).

The other functions run in the orchestrator and talk HTTP to a TensorBoard
subprocess (``tests.support.tb_server.TensorBoard``).
"""

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

PREFIX = "/data/plugin/cnn_tb"


def write_main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--probes", type=int, default=16)
    args = ap.parse_args(argv)

    import gc

    import keras
    import numpy as np

    import cnn_tb
    from cnn_tb.demo.datasets import CLASS_NAMES, make_shapes
    from cnn_tb.demo.models import compile_for_demo, notebook_cnn

    keras.utils.set_random_seed(0)
    xp, yp = make_shapes(args.probes, seed=1)
    model = compile_for_demo(notebook_cnn(xp.shape[1:], len(CLASS_NAMES)))
    probes = cnn_tb.Probes(xp, labels=yp, class_names=list(CLASS_NAMES))
    logger = cnn_tb.LayerLogger(args.log_dir, probes).attach(model)
    rng = np.random.default_rng(0)
    kernels = [v for v in model.trainable_variables if len(v.shape) > 1]
    rss, totals = [], []
    t0 = time.perf_counter()
    for step in range(-1, args.steps - 1):
        if step >= 0:
            for v in kernels:
                w = v.numpy()
                v.assign(w + rng.normal(0.0, 0.02 * (float(w.std()) + 1e-6), w.shape).astype(w.dtype))
        ok = logger.log(step, {"loss": 2.0 / (step + 2.5), "accuracy": min(1.0, 0.1 + 0.004 * (step + 1))})
        if not ok:
            raise SystemExit(f"logging step {step} failed")
        totals.append(logger.last_timings["total"])
        rss.append(common.proc_status()["VmRSS"])
    logger.close()
    elapsed = time.perf_counter() - t0
    gc.collect()
    after_gc = common.proc_status()["VmRSS"]
    print(json.dumps({
        "steps": args.steps,
        "probes": args.probes,
        "write_seconds": elapsed,
        "log_total_seconds": common.summary(totals),
        "rss_bytes": rss,
        "rss_after_first": rss[0],
        "rss_last": rss[-1],
        "rss_after_gc": after_gc,
        "growth_bytes": rss[-1] - rss[0],
        "growth_bytes_max": max(rss) - rss[0],
        "growth_second_half_bytes": rss[-1] - rss[len(rss) // 2],
        "files_bytes": sum(
            os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.log_dir) for f in fs
        ),
    }))


def _routes_latency(tb, run, steps, probes, conv_layer, n_warm):
    """p50/p95 of every route the frontend calls, through a fresh connection each."""
    from urllib.parse import urlencode

    def q(**kw):
        return urlencode(kw)

    out = {}

    def measure(name, paths):
        times, statuses = [], {}
        for p in paths:
            status, body, dt = tb.timed_get(PREFIX + p)
            statuses[status] = statuses.get(status, 0) + 1
            times.append(dt)
        s = common.summary(times)
        s["statuses"] = {str(k): v for k, v in statuses.items()}
        s["bytes_last"] = len(body)
        out[name] = s

    rnd = random.Random(0)
    probe, step = probes // 2, steps[len(steps) // 2]
    # The flow route: activations of one (probe, step). Cold = first request of
    # a (probe, step) since server start (every step once, in random order);
    # warm = the same (probe, step) asked again (the plugin's pack cache).
    cold_steps = [s for s in steps if s != step]
    rnd.shuffle(cold_steps)
    measure("activations_cold", [f"/activations?{q(run=run, probe=probe, step=s)}" for s in cold_steps])
    measure("activations_warm", [f"/activations?{q(run=run, probe=probe, step=step)}"] * n_warm)
    measure("activations_layer_filter",
            [f"/activations?{q(run=run, probe=rnd.randrange(probes), step=rnd.choice(steps), layer=conv_layer)}"
             for _ in range(n_warm)])
    measure("kernels", [f"/kernels?{q(run=run, step=s, layer=conv_layer)}" for s in rnd.sample(steps, min(len(steps), n_warm))])
    measure("runs", ["/runs"] * n_warm)
    measure("run", [f"/run?{q(run=run)}"] * max(5, n_warm // 4))
    measure("epochs", [f"/epochs?{q(run=run)}"] * max(5, n_warm // 4))
    # one epoch record in full: what the tab asks for when it shows an epoch whose
    # record /epochs sent in part (a long run)
    measure("epoch", [f"/epoch?{q(run=run, step=s)}" for s in rnd.sample(steps, min(len(steps), n_warm))])
    measure("probe", [f"/probe?{q(run=run, probe=rnd.randrange(probes))}" for _ in range(n_warm)])
    # Reference, not a cnn_tb route: TensorBoard's own scalars plugin listing
    # its tags (one list call to the data provider), to show what one data
    # provider round trip costs with this loader.
    ref, statuses = [], {}
    for _ in range(max(5, n_warm // 4)):
        status, body, dt = tb.timed_get("/data/plugin/scalars/tags")
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        ref.append(dt)
    out["reference_builtin_scalars_tags"] = dict(common.summary(ref), statuses=statuses, bytes_last=len(body))
    return out


def serve_and_measure(logdir, load_fast, steps, probes, n_warm, browser_fn=None):
    """Start TensorBoard on ``logdir`` with one loader and measure item 4 (+ 5, 6)."""
    run = "cnn_tb"
    last = steps[-1]
    res = {"load_fast": load_fast}
    tb = common.TensorBoard(logdir, load_fast=load_fast, launcher=True, reload_interval=None)
    try:
        tb.wait_ready(poll=0.05)
        res["ready_seconds"] = tb.ready_after
        res["plugin_listed"] = bool(tb.listing.get("cnn_tb", {}).get("enabled"))
        first = f"{PREFIX}/activations?run={run}&probe=0&step={steps[0]}"
        tb.wait_for(first, lambda s, b: s == 200, interval=0.05)
        res["first_flow_response_seconds"] = tb.satisfied_after
        tb.wait_for(f"{PREFIX}/runs", lambda s, b: s == 200 and f'"last_step": {last}'.encode() in b, interval=0.1)
        res["all_epochs_listed_seconds"] = tb.satisfied_after
        # TensorBoard's main imports TensorFlow at start when it is installed (some
        # 300 MB, a few seconds): let that settle before calling this "loaded"
        res["rss_settled_seconds"] = _settle(tb)
        res["rss_listed_bytes"] = tb.rss()  # every epoch loaded
        res["rss_listed_by_process"] = tb.rss_by_process()
        epochs = json.loads(tb.get(f"{PREFIX}/epochs?run={run}")[2])
        res["epochs_served"] = len(epochs.get("steps", []))
        info = json.loads(tb.get(f"{PREFIX}/run?run={run}")[2])
        conv = next(l["name"] for l in info["layers"] if l.get("is_conv"))
        res["routes"] = _routes_latency(tb, run, epochs["steps"], probes, conv, n_warm)
        if browser_fn is not None:
            res["browser"] = browser_fn(tb)
        res["peak_rss_bytes"] = tb.peak_rss()
        res["rss_end_bytes"] = tb.rss()  # after every route (and the browser) was served
        res["rss_end_by_process"] = tb.rss_by_process()
        res["rss_pids"] = len(common.tree_pids(tb.proc.pid))
    finally:
        tb.stop()
    return res


def _settle(tb, timeout=20.0, interval=0.5, tolerance=0.01):
    """Wait until the server's resident memory changes by less than ``tolerance``
    between two readings ``interval`` apart (at most ``timeout`` s); the seconds waited."""
    t0 = time.perf_counter()
    last = tb.rss()
    while time.perf_counter() - t0 < timeout:
        time.sleep(interval)
        now = tb.rss()
        if abs(now - last) <= tolerance * max(last, 1):
            break
        last = now
    return time.perf_counter() - t0


def startup_times(logdir, rounds, keep_all_variant=False):
    """Item 7: seconds until /data/plugins_listing answers 200, with / without cnn_tb.

    Both variants start the same launcher (``tests.support.tb_server.LAUNCHER``: the
    plugin list of ``tensorboard``'s own ``main``, i.e. the static plugins plus
    the ``tensorboard_plugins`` entry points) with TensorBoard's default loader;
    "without" drops only cnn_tb's entry point. With ``keep_all_variant``, a
    third variant runs without cnn_tb but with ``--samples_per_plugin=cnn_tb=0``
    (what cnn_tb's loader makes the default), separating the cost of loading
    every cnn_tb step from the cost of cnn_tb's code. The order rotates every
    round so drift cancels.
    """
    modes = ["with", "without"] + (["without_keep_all"] if keep_all_variant else [])
    times = {m: [] for m in modes}
    for r in range(rounds):
        order = modes[r % len(modes):] + modes[: r % len(modes)]
        if r % 2:
            order = order[::-1]
        for mode in order:
            extra = ["--samples_per_plugin=cnn_tb=0"] if mode == "without_keep_all" else []
            tb = common.TensorBoard(
                logdir, load_fast=None, with_cnn_tb=(mode == "with"), extra=extra, launcher=True, reload_interval=None
            )
            try:
                tb.wait_ready(poll=0.01)
                times[mode].append(tb.ready_after)
                if mode == "with" and not tb.listing.get("cnn_tb"):
                    raise RuntimeError("cnn_tb missing from plugins_listing")
                if mode != "with" and "cnn_tb" in tb.listing:
                    raise RuntimeError("cnn_tb listed although it was left out")
            finally:
                tb.stop()
    return times


# In a fresh interpreter, after everything `tensorboard` itself imports at
# start-up: what loading cnn_tb's entry point and its plugin costs.
_IMPORT_COST = r"""
import json, sys, time
from importlib.metadata import entry_points
from tensorboard import default, program
from tensorboard.plugins import base_plugin
static = default.get_static_plugins()
t0 = time.perf_counter()
ep = [e for e in entry_points(group="tensorboard_plugins") if e.name == "cnn_tb"]
loader_cls = ep[0].load() if ep else __import__("cnn_tb.plugin.loader", fromlist=["CnnTbLoader"]).CnnTbLoader
t1 = time.perf_counter()
ctx = base_plugin.TBContext(data_provider=None, flags=None, logdir="/nonexistent", sampling_hints={})
plugin = loader_cls().load(ctx)
t2 = time.perf_counter()
print(json.dumps({"entry_point_seconds": t1 - t0, "plugin_load_seconds": t2 - t1, "total_seconds": t2 - t0,
                  "modules": sorted(m for m in sys.modules if m.startswith("cnn_tb"))}))
"""


def plugin_import_cost(rounds):
    """cnn_tb's share of TensorBoard start-up, measured in-process (fresh interpreter each)."""
    import subprocess

    rows = []
    for _ in range(rounds):
        proc = subprocess.run([sys.executable, "-c", _IMPORT_COST], capture_output=True, text=True,
                              env=common.env(), cwd="/", timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "entry_point_seconds": common.summary([r["entry_point_seconds"] for r in rows]),
        "plugin_load_seconds": common.summary([r["plugin_load_seconds"] for r in rows]),
        "total_seconds": common.summary([r["total_seconds"] for r in rows]),
        "modules": rows[-1]["modules"],
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "write":
        write_main(sys.argv[2:])
    else:
        raise SystemExit("usage: serving.py write --log-dir D [--steps N] [--probes P]")
