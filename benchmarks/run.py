"""cnn_tb benchmark suite (project issue 4): one command, one JSON, one table.

    python benchmarks/run.py            # full run (< 15 min on 2 cores)
    python benchmarks/run.py --quick    # tiny sizes: proves every code path (CI)
    python benchmarks/run.py --out DIR  # default: benchmarks/results/

Writes ``results.json`` and ``results.md`` (and cProfile text files) to the
output directory. Items (see README.md for how each is measured):

1. training overhead: no callbacks / keras TensorBoard / cnn_tb 8 / 32 probes,
   each in a fresh process per round, rounds alternating the order;
2. the floor: bare forward pass of the probes through the logged layers;
3. disk bytes per logged epoch, by kind;
4. plugin serving behind a real TensorBoard, both loaders;
5. browser: epoch slider to all canvases redrawn, headless Chromium;
6. memory: RSS growth over 200 logged epochs; TensorBoard peak RSS;
7. TensorBoard start time with / without cnn_tb's entry point.

No timing is asserted anywhere: targets are reported as met / not met.
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from common import median, ratio, summary  # noqa: E402

MB = 1_000_000

FULL = dict(images=5000, epochs=5, rounds=4, floor_repeats=100, serve_steps=200, serve_probes=16,
            route_samples=100, browser_steps=50, startup_rounds=10, import_rounds=5, profile_steps=20,
            profile_images=2000)
QUICK = dict(images=256, epochs=2, rounds=1, floor_repeats=5, serve_steps=6, serve_probes=4,
             route_samples=10, browser_steps=5, startup_rounds=1, import_rounds=1, profile_steps=2,
             profile_images=128)
CONFIGS = ["none", "keras_tb", "cnn_tb8", "cnn_tb32"]
PHASES = ["forward_backward", "kernels", "statistics", "rendering", "encoding", "writing", "total"]
DISK_KINDS = ["feature_map_images", "kernel_images", "heatmap_images", "flow_records", "flow_kernels",
              "scalars", "histograms", "text", "images", "other", "framing"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ items 1-3

def training(cfg, work):
    runs = {c: [] for c in CONFIGS}
    for r in range(cfg["rounds"]):
        order = CONFIGS if r % 2 == 0 else CONFIGS[::-1]
        for c in order:
            log_dir = os.path.join(work, f"train_{c}_r{r}")
            log(f"item 1: round {r + 1}/{cfg['rounds']}, config {c}")
            res = common.run_worker(
                ["benchmarks/training.py", "--config", c, "--epochs", str(cfg["epochs"]),
                 "--images", str(cfg["images"]), "--log-dir", log_dir,
                 "--floor-repeats", str(cfg["floor_repeats"])],
                timeout=900, log_prefix="training")
            res["round"] = r
            runs[c].append(res)
            shutil.rmtree(log_dir, ignore_errors=True)
    out = {"configs": {}}
    for c in CONFIGS:
        epochs = [t for res in runs[c] for e, t in res["epoch_seconds"].items() if int(e) >= 1]
        d = {"epoch_seconds": summary(epochs), "processes": len(runs[c]),
             "warmup_epoch_seconds": summary([res["epoch_seconds"]["0"] for res in runs[c]])}
        if c != "none":
            own = [t for res in runs[c] for e, t in res["own_seconds"].items() if int(e) >= 1]
            d["own_seconds"] = summary(own)
            d["wrapped_hooks"] = runs[c][0]["wrapped_hooks"]
        if c.startswith("cnn_tb"):
            ph = {p: [] for p in PHASES}
            for res in runs[c]:
                for e, t in res["phases"].items():
                    if int(e) >= 1:
                        for p in set(PHASES) | set(t):
                            ph.setdefault(p, []).append(t.get(p))
            d["phases"] = {p: summary(v) for p, v in ph.items()}
            d["floor_seconds"] = summary([res["floor_seconds"] for res in runs[c]])
            d["floor_layers"] = runs[c][0]["floor_layers"]
        if "disk" in runs[c][0]:
            d["disk"] = runs[c][0]["disk"]
        out["configs"][c] = d
    out["raw"] = runs
    return out


# ----------------------------------------------------------------- items 4-6

def serving_items(cfg, work, with_browser=True):
    import browser
    import serving

    logdir = os.path.join(work, "serve_logdir")
    log(f"item 4/6: writing {cfg['serve_steps']} steps x {cfg['serve_probes']} probes with LayerLogger")
    writer = common.run_worker(
        ["benchmarks/serving.py", "write", "--log-dir", logdir, "--steps", str(cfg["serve_steps"]),
         "--probes", str(cfg["serve_probes"])], timeout=900, log_prefix="writer")
    steps = list(range(-1, cfg["serve_steps"] - 1))
    loaders = {}
    for lf in ("false", "true"):
        log(f"item 4: TensorBoard --load_fast={lf}" + (" (+ item 5 browser)" if lf == "true" and with_browser else ""))
        fn = None
        if lf == "true" and with_browser:
            fn = lambda tb: browser.measure(tb, cfg["browser_steps"])  # noqa: E731
        loaders[lf] = serving.serve_and_measure(logdir, lf, steps, cfg["serve_probes"], cfg["route_samples"], browser_fn=fn)
    log(f"item 7: TensorBoard start, {cfg['startup_rounds']} rounds with / without cnn_tb")
    startup = serving.startup_times(logdir, cfg["startup_rounds"], keep_all_variant=True)
    empty = os.path.join(work, "empty_logdir")
    os.makedirs(empty, exist_ok=True)
    log(f"item 7: TensorBoard start on an empty log dir, {cfg['startup_rounds']} rounds with / without cnn_tb")
    startup["empty_logdir"] = serving.startup_times(empty, cfg["startup_rounds"])
    startup["plugin_import"] = serving.plugin_import_cost(cfg["import_rounds"])
    writer_small = dict(writer)
    writer_small.pop("rss_bytes", None)
    writer_small["rss_curve_mb"] = [round(b / MB, 2) for b in writer["rss_bytes"][:: max(1, len(writer["rss_bytes"]) // 20)]]
    return {"writer": writer_small, "loaders": loaders, "startup": startup}


def profiling(cfg, out_dir):
    res = {}
    for n in (8, 32):
        log(f"profile: cProfile of LayerLogger.log, {n} probes")
        res[str(n)] = common.run_worker(
            ["benchmarks/profile_log.py", "--probes", str(n), "--steps", str(cfg["profile_steps"]),
             "--images", str(cfg["profile_images"]), "--out", out_dir], timeout=600, log_prefix="profile")
        shutil.rmtree(os.path.join(out_dir, f"profile_logdir_{n}"), ignore_errors=True)
    return res


# ------------------------------------------------------------------- targets

def targets(results):
    tr = results["training"]["configs"]
    sv = results["serving"]
    rows = []

    def add(key, label, measured, limit, unit, detail):
        met = None if measured is None or (isinstance(measured, float) and math.isnan(measured)) else measured <= limit
        rows.append({"key": key, "target": label, "measured": measured, "limit": limit, "unit": unit,
                     "met": met, "detail": detail})

    own8 = tr["cnn_tb8"]["own_seconds"]["median"]
    own32 = tr["cnn_tb32"]["own_seconds"]["median"]
    own_k = tr["keras_tb"]["own_seconds"]["median"]
    ep = tr["none"]["epoch_seconds"]["median"]
    fl8 = tr["cnn_tb8"]["floor_seconds"]["median"]
    add("vs_keras_tb", "cnn_tb own time / keras TensorBoard own time (8 probes)", ratio(own8, own_k), 0.5, "x",
        f"{_ms(own8)} vs {_ms(own_k)} per logged epoch")
    add("vs_epoch", f"cnn_tb own time / {results['settings']['images']:,}-image epoch (8 probes)", ratio(own8, ep), 0.02, "x",
        f"{_ms(own8)} vs {_s(ep)} epoch without callbacks")
    add("probes_32_vs_8", "cnn_tb own time, 32 probes / 8 probes", ratio(own32, own8), 4.0, "x",
        f"{_ms(own32)} vs {_ms(own8)}")
    add("vs_floor", "cnn_tb own time / bare probe forward pass (8 probes)", ratio(own8, fl8), 5.0, "x",
        f"{_ms(own8)} vs {_ms(fl8)} floor")
    disk8 = tr["cnn_tb8"]["disk"]["per_step_total"]
    add("disk_8", "bytes written per logged epoch, 8 probes", disk8 / MB, 1.0, "MB",
        f"{disk8 / MB:.2f} MB (1 MB = 10^6 bytes); 32 probes: {tr['cnn_tb32']['disk']['per_step_total'] / MB:.2f} MB")
    flows = {lf: d["routes"]["activations_cold"]["p95"] for lf, d in sv["loaders"].items()}
    warm = {lf: d["routes"]["activations_warm"]["p95"] for lf, d in sv["loaders"].items()}
    worst = max(flows.values())
    add("flow_route_p95", "flow route (activations) p95, cold, worst loader", worst * 1000, 50.0, "ms",
        "cold " + ", ".join(f"load_fast={k}: {_ms(v)}" for k, v in flows.items())
        + "; warm " + ", ".join(f"load_fast={k}: {_ms(v)}" for k, v in warm.items()))
    br = sv["loaders"].get("true", {}).get("browser") or {}
    if "sequential" in br:
        p95s = {k: br[k]["redrawn_ms"]["p95"] for k in ("sequential", "random_jumps")}
        add("browser_step_p95", "browser epoch step p95 (slider -> all canvases redrawn), worst sequence",
            max(p95s.values()), 100.0, "ms", ", ".join(f"{k}: {v:.1f} ms" for k, v in p95s.items()))
    else:
        add("browser_step_p95", "browser epoch step p95", None, 100.0, "ms", br.get("skipped", "not measured"))
    g = sv["writer"]["growth_bytes"]
    add("memory_growth", f"RSS growth over {sv['writer']['steps']} logged epochs (after the first)", g / MB, 50.0, "MB",
        f"{sv['writer']['rss_after_first'] / MB:.0f} -> {sv['writer']['rss_last'] / MB:.0f} MB")
    st = sv["startup"]
    add("tb_start", "TensorBoard start time with cnn_tb / without", ratio(median(st["with"]), median(st["without"])),
        1.1, "x", f"{_s(median(st['with']))} vs {_s(median(st['without']))} (medians of {len(st['with'])})")
    return rows


def _ms(s):
    return "n/a" if s is None else f"{s * 1000:.1f} ms"


def _s(s):
    return "n/a" if s is None else f"{s:.2f} s"


def _fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "x":
        return f"{v:.3f}x" if v < 1 else f"{v:.2f}x"
    return f"{v:.2f} {unit}" if v < 100 else f"{v:.0f} {unit}"


# ------------------------------------------------------------------ markdown

def markdown(results):
    m = results["machine"]
    v = m["versions"]
    L = []
    L.append(f"# cnn_tb benchmarks ({'quick' if results['quick'] else 'full'} run)\n")
    L.append(f"- Date: {m['date_utc']}; run time {results['duration_seconds'] / 60:.1f} min")
    L.append(f"- Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); load average at start "
             f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'] or [])}")
    L.append(f"- Versions: python {v.get('python')}, tensorflow {v.get('tensorflow-cpu') or v.get('tensorflow')}, "
             f"keras {v.get('keras')}, tensorboard {v.get('tensorboard')}, numpy {v.get('numpy')}, "
             f"tensorboard-data-server {v.get('tensorboard-data-server')}, playwright {v.get('playwright')}, "
             f"{v.get('chromium') or 'chromium n/a'}")
    if results["quick"]:
        L.append("- QUICK MODE: tiny sizes, numbers are NOT comparable to the targets.")
    L.append("")
    L.append("## Targets (issue 4)\n")
    L.append("| Target | Measured | Limit | Met | Detail |")
    L.append("|---|---|---|---|---|")
    for t in results["targets"]:
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "**not met**")
        L.append(f"| {t['target']} | {_fmt(t['measured'], t['unit'])} | <= {_fmt(t['limit'], t['unit'])} | {met} | {t['detail']} |")
    tr = results["training"]["configs"]
    cfg = results["settings"]
    L.append("")
    L.append(f"## 1-2. Training overhead ({cfg['images']:,} images/epoch, batch 32, "
             f"{cfg['rounds']} rounds x {cfg['epochs'] - 1} measured epochs per config, fresh process each)\n")
    L.append("| Config | Median epoch | Ratio vs none | Own time per logged epoch (median) | Own / epoch(none) |")
    L.append("|---|---|---|---|---|")
    base = tr["none"]["epoch_seconds"]["median"]
    names = {"none": "(a) no callbacks", "keras_tb": "(b) keras TensorBoard(histogram_freq=1, write_images=True)",
             "cnn_tb8": "(c) cnn_tb.LayerFlow, 8 probes", "cnn_tb32": "(d) cnn_tb.LayerFlow, 32 probes"}
    for c in CONFIGS:
        d = tr[c]
        e = d["epoch_seconds"]["median"]
        own = d.get("own_seconds", {}).get("median")
        L.append(f"| {names[c]} | {_s(e)} | {_fmt(ratio(e, base), 'x')} | {_ms(own) if own is not None else '-'} | "
                 f"{_fmt(ratio(own, base), 'x') if own is not None else '-'} |")
    L.append("")
    L.append("cnn_tb phases per logged epoch (median of `LayerLogger.last_timings`), and the floor:\n")
    if "waiting_for_rendering" in tr["cnn_tb8"]["phases"]:
        L.append("(`rendering` runs on a second thread while the main thread does statistics and encoding; "
                 "`waiting_for_rendering` is what the main thread then waits, so phases add up to more than `total`.)\n")
    L.append("| Phase | 8 probes | 32 probes |")
    L.append("|---|---|---|")
    phases = PHASES[:-1] + [p for p in tr["cnn_tb8"]["phases"] if p not in PHASES] + ["total"]
    for p in phases:
        cells = [_ms(tr[c]["phases"].get(p, {}).get("median")) for c in ("cnn_tb8", "cnn_tb32")]
        L.append(f"| {p} | {cells[0]} | {cells[1]} |")
    L.append(f"| floor: bare forward of the probes through the {len(tr['cnn_tb8']['floor_layers'])} logged layers | "
             f"{_ms(tr['cnn_tb8']['floor_seconds']['median'])} | {_ms(tr['cnn_tb32']['floor_seconds']['median'])} |")
    L.append(f"| own time / floor | {_fmt(ratio(tr['cnn_tb8']['own_seconds']['median'], tr['cnn_tb8']['floor_seconds']['median']), 'x')} | "
             f"{_fmt(ratio(tr['cnn_tb32']['own_seconds']['median'], tr['cnn_tb32']['floor_seconds']['median']), 'x')} |")
    L.append("")
    L.append("## 3. Disk per logged epoch (bytes, mean over logged epochs >= 0)\n")
    L.append("| Kind | cnn_tb 8 probes | cnn_tb 32 probes | keras TensorBoard (train run) |")
    L.append("|---|---|---|---|")
    dk = {c: tr[c].get("disk", {}) for c in ("cnn_tb8", "cnn_tb32", "keras_tb")}
    for k in DISK_KINDS:
        vals = [dk[c].get("per_step", {}).get(k) for c in dk]
        if any(vals):
            L.append(f"| {k} | " + " | ".join(f"{x:,.0f}" if x else "-" for x in vals) + " |")
    L.append("| **total** | " + " | ".join(f"{dk[c].get('per_step_total', 0):,.0f}" for c in dk) + " |")
    L.append("| once per run (model graph + probe PNGs) | " + " | ".join(
        f"{dk[c].get('once_bytes', 0):,.0f}" for c in dk) + " |")
    sv = results["serving"]
    w = sv["writer"]
    L.append("")
    L.append(f"## 4. Plugin serving ({w['steps']} epochs x {w['probes']} probes, written by LayerLogger)\n")
    L.append("| Loader | Ready (plugins_listing 200) | First flow response | All epochs listed | Epochs served | Peak RSS |")
    L.append("|---|---|---|---|---|---|")
    for lf, d in sv["loaders"].items():
        L.append(f"| --load_fast={lf} | {_s(d['ready_seconds'])} | {_s(d['first_flow_response_seconds'])} | "
                 f"{_s(d['all_epochs_listed_seconds'])} | {d['epochs_served']} | {d['peak_rss_bytes'] / MB:.0f} MB |")
    L.append("")
    L.append("| Route | " + " | ".join(f"load_fast={lf} p50 / p95" for lf in sv["loaders"]) + " |")
    L.append("|---|" + "---|" * len(sv["loaders"]))
    for route in next(iter(sv["loaders"].values()))["routes"]:
        cells = []
        for d in sv["loaders"].values():
            r = d["routes"][route]
            cells.append(f"{_ms(r['median'])} / {_ms(r['p95'])} (n={r['n']}, {r['bytes_last']:,} B)")
        L.append(f"| {route} | " + " | ".join(cells) + " |")
    br = sv["loaders"].get("true", {}).get("browser")
    L.append("")
    L.append("## 5. Browser (headless Chromium, --load_fast=true)\n")
    if br and "sequential" in br:
        L.append(f"{br['layer_canvases']} canvases in the flow view, {br['epochs_in_slider']} epochs on the slider.\n")
        L.append("| Sequence | redrawn p50 / p95 | + next frame p50 / p95 | page's own timing p50 / p95 |")
        L.append("|---|---|---|---|")
        for k in ("sequential", "random_jumps"):
            b = br[k]
            L.append(f"| {k} (n={b['redrawn_ms']['n']}) | {b['redrawn_ms']['median']:.1f} / {b['redrawn_ms']['p95']:.1f} ms | "
                     f"{b['painted_ms']['median']:.1f} / {b['painted_ms']['p95']:.1f} ms | "
                     f"{b['page_hook_ms']['median']:.1f} / {b['page_hook_ms']['p95']:.1f} ms |")
    else:
        L.append(f"Not measured: {(br or {}).get('skipped', 'browser item skipped')}")
    L.append("")
    L.append("## 6. Memory\n")
    L.append(f"- Logging process: RSS after the first logged epoch {w['rss_after_first'] / MB:.0f} MB, after the "
             f"last {w['rss_last'] / MB:.0f} MB: growth {w['growth_bytes'] / MB:.1f} MB (max {w['growth_bytes_max'] / MB:.1f} MB; "
             f"second half {w['growth_second_half_bytes'] / MB:.1f} MB). Log call median {_ms(w['log_total_seconds']['median'])}.")
    for lf, d in sv["loaders"].items():
        L.append(f"- TensorBoard --load_fast={lf}: peak RSS (VmHWM summed over {d['rss_pids']} process(es)) "
                 f"{d['peak_rss_bytes'] / MB:.0f} MB")
    st = sv["startup"]
    L.append("")
    L.append("## 7. TensorBoard start time (until /data/plugins_listing answers 200, item 4's log dir)\n")
    L.append(f"- with cnn_tb: median {_s(median(st['with']))} ({', '.join(f'{x:.2f}' for x in st['with'])})")
    L.append(f"- without: median {_s(median(st['without']))} ({', '.join(f'{x:.2f}' for x in st['without'])})")
    L.append(f"- without cnn_tb but with `--samples_per_plugin=cnn_tb=0` (cnn_tb's default: keep every step): "
             f"median {_s(median(st['without_keep_all']))} ({', '.join(f'{x:.2f}' for x in st['without_keep_all'])})")
    se = st["empty_logdir"]
    L.append(f"- on an empty log dir: with {_s(median(se['with']))}, without {_s(median(se['without']))}, "
             f"ratio {_fmt(ratio(median(se['with']), median(se['without'])), 'x')}")
    pi = st["plugin_import"]
    L.append(f"- cnn_tb's share measured in-process (fresh interpreter, after TensorBoard's own imports; median of "
             f"{pi['total_seconds']['n']}): entry point import {_ms(pi['entry_point_seconds']['median'])}, "
             f"`loader.load()` (imports the plugin) {_ms(pi['plugin_load_seconds']['median'])}; "
             f"modules: {', '.join(pi['modules'])}")
    prof = results.get("profile")
    if prof:
        L.append("")
        L.append("## Profile: top functions by own time inside `LayerLogger.log` (cProfile, per logged epoch)\n")
        L.append("CPU time of the logging thread and of the picture thread added together, under the profiler "
                 "(slower than without), outside training.\n")
        for n, p in prof.items():
            L.append(f"{n} probes ({_ms(p['log_seconds_per_step'])} per log under the profiler; full listing in "
                     f"`{p['profile_file']}`):\n")
            L.append("| Own ms | Calls | Function |")
            L.append("|---|---|---|")
            for r in p["top_by_own_time"][:10]:
                L.append(f"| {r['tottime_per_step'] * 1000:.1f} | {r['calls']} | `{r['function']}` |")
            L.append("")
    return "\n".join(L) + "\n"


README_START = "<!-- results:start (written by run.py --update-readme) -->"
README_END = "<!-- results:end -->"


def update_readme(md, path=os.path.join(common.BENCH_DIR, "README.md")):
    """Replace the text between the README's result markers with ``md``."""
    with open(path) as f:
        text = f.read()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{path}: result markers not found")
    body = md.split("\n", 1)[1].replace("\n## ", "\n### ")  # drop the title, nest the sections
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    with open(path, "w") as f:
        f.write(head + README_START + "\n" + body + README_END + tail)
    log(f"updated {path}")


# ---------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes for CI (no timing meaning)")
    ap.add_argument("--out", default=os.path.join(common.BENCH_DIR, "results"), help="output directory")
    ap.add_argument("--no-browser", action="store_true", help="skip item 5")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile listing")
    ap.add_argument("--update-readme", action="store_true",
                    help="also copy the tables into benchmarks/README.md (full runs only)")
    ap.add_argument("--from-json", metavar="RESULTS_JSON",
                    help="measure nothing: rewrite results.md (and with --update-readme the README) from a results.json")
    args = ap.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        md = markdown(results)
        with open(os.path.join(os.path.dirname(os.path.abspath(args.from_json)), "results.md"), "w") as f:
            f.write(md)
        if args.update_readme and not results["quick"]:
            update_readme(md)
        return 0
    cfg = dict(QUICK if args.quick else FULL)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()
    results = {"quick": args.quick, "settings": cfg, "machine": common.machine(),
               "entry_point_installed": common.entry_point_installed()}
    work = tempfile.mkdtemp(prefix="cnn_tb_bench_")
    try:
        results["training"] = training(cfg, work)
        results["serving"] = serving_items(cfg, work, with_browser=not args.no_browser)
        if not args.no_profile:
            results["profile"] = profiling(cfg, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["targets"] = targets(results)
    results["duration_seconds"] = time.monotonic() - t0
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=False)
    md = markdown(results)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    if args.update_readme:
        if args.quick:
            log("--update-readme ignored: quick-mode numbers do not belong in the README")
        else:
            update_readme(md)
    log(f"done in {results['duration_seconds'] / 60:.1f} min: {args.out}/results.json, results.md")
    print(md.split("## 1-2.")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
