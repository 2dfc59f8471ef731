"""Long runs: a 1,000-epoch run behind a real TensorBoard and in Chromium.

    python benchmarks/long_run.py [--steps 1000] [--short 10] [--out DIR]

Writes two runs of the notebook CNN with the real writer (``serving.py
write``: ``LayerLogger.log(step)`` for every step, kernels perturbed between
steps, 8 probes): ``--short`` steps and ``--steps`` steps. For each, with both
TensorBoard loaders: time until TensorBoard lists every epoch, the routes the
frontend calls (``/runs``, ``/epochs`` with its size, ``/epoch`` of random
steps, a cold ``/activations`` of a random step), TensorBoard's memory
(resident once every epoch is listed, at the end, and its peak, over its
process tree); and, with each loader, the CNN Flow tab in Chromium: page load
to the page ready, slider steps and jumps (to epochs never shown where the run
has enough of them). The long run's numbers over the short run's say whether
the page stays as fast at 1,000 epochs as at 10. Memory is flat when the long
run's TensorBoard is close to the short run's: the plugin keeps no per-step
state beyond its byte caps.

The page load above comes after the routes were asked (the plugin's caches
warm). "First load" (``--cold-rounds`` times per run and loader, the runs and
loaders interleaved) is what a user sees: a TensorBoard started a moment
before (every epoch listed, nothing asked of the plugin yet), the tab opened
once in a new Chromium: to the flow drawn and to the page ready (the epoch bar
with every epoch), from the page's start and from the plugin frame's start.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import browser  # noqa: E402
import common  # noqa: E402
import serving  # noqa: E402


def write(log_dir, steps, probes):
    env = common.env()
    proc = subprocess.run([sys.executable, os.path.join(HERE, "serving.py"), "write", "--log-dir", log_dir,
                           "--steps", str(steps), "--probes", str(probes)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--short", type=int, default=10)
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--cold-rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="cnn_tb_long_")
    results = {}
    for n in (args.short, args.steps):
        log_dir = os.path.join(work, f"steps_{n}")
        write(log_dir, n, args.probes)
        steps = list(range(-1, n - 1))
        for load_fast in ("false", "true"):
            res = serving.serve_and_measure(log_dir, load_fast, steps, args.probes, n_warm=20, browser_fn=browser.measure)
            results[f"{n}/{load_fast}"] = res
            print(n, load_fast, json.dumps({k: v for k, v in res.items() if k != "routes"})[:600], flush=True)
    cold = {f"{n}/{lf}": [] for n in (args.short, args.steps) for lf in ("false", "true")}
    order = [(n, lf) for n in (args.short, args.steps) for lf in ("false", "true")]
    for r in range(args.cold_rounds):
        for n, lf in order if r % 2 == 0 else order[::-1]:
            got = first_load(os.path.join(work, f"steps_{n}"), lf, n - 2)
            cold[f"{n}/{lf}"].append(got)
            print("first load", n, lf, json.dumps(got), flush=True)
    for k, v in cold.items():
        results[k]["first_load"] = v
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "long_run.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table(results, args.short, args.steps))


def first_load(log_dir, load_fast, last):
    """:func:`browser.first_load` on a TensorBoard started for it, once every epoch is listed."""
    tb = common.TensorBoard(log_dir, load_fast=load_fast, launcher=True, reload_interval=None)
    try:
        tb.wait_ready(poll=0.05)
        tb.wait_for(f"{serving.PREFIX}/runs", lambda s, b: s == 200 and f'"last_step": {last}'.encode() in b, interval=0.1)
        serving._settle(tb)
        return browser.first_load(tb)
    finally:
        tb.stop()


def _by_process(r):
    """``python 400 -> 500 MB, data server 20 -> 300 MB`` (TensorBoard's Python
    process and, with load_fast, the Rust data server)."""
    a, b = r.get("rss_listed_by_process") or {}, r.get("rss_end_by_process") or {}
    names = {"data_server": "data server"}
    parts = [f"{names.get(k, k)} {a.get(k, 0) / 1e6:.0f} -> {b.get(k, 0) / 1e6:.0f} MB" for k in sorted(set(a) | set(b))]
    return ", ".join(parts) or "-"


def table(results, short, long):
    rows = ["| epochs | loader | all epochs listed | `/runs` p50 | `/epochs` p50 (size) | `/epoch` p95 | cold `/activations` p95 | TensorBoard RSS: loaded / at the end / peak | by process, loaded -> at the end |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for n in (short, long):
        for lf in ("false", "true"):
            r = results[f"{n}/{lf}"]
            rt = r["routes"]
            rows.append(
                f"| {n} | load_fast={lf} | {r['all_epochs_listed_seconds']:.1f} s | {rt['runs']['median'] * 1e3:.1f} ms | "
                f"{rt['epochs']['median'] * 1e3:.1f} ms ({rt['epochs']['bytes_last'] / 1e3:.0f} KB) | "
                f"{rt['epoch']['p95'] * 1e3:.1f} ms | {rt['activations_cold']['p95'] * 1e3:.1f} ms | {r.get('rss_listed_bytes', 0) / 1e6:.0f} / "
                f"{r.get('rss_end_bytes', 0) / 1e6:.0f} / {r['peak_rss_bytes'] / 1e6:.0f} MB | "
                f"{_by_process(r)} |")
    rows.append("")
    rows += ["| loader | epochs | first load: page to the flow drawn | to the page ready | plugin frame to drawn / ready |",
             "|---|---:|---:|---:|---:|"]
    for lf in ("false", "true"):
        med = {}
        for n in (short, long):
            loads = [x for x in results[f"{n}/{lf}"].get("first_load", []) if "drawn_ms" in x]
            if not loads:
                continue
            med[n] = {k: common.median([x[k] for x in loads]) for k in loads[0]}
            m = med[n]
            rows.append(f"| load_fast={lf} | {n} | {m['drawn_ms']:.0f} ms | {m['ready_ms']:.0f} ms | "
                        f"{m['frame_drawn_ms']:.0f} / {m['frame_ready_ms']:.0f} ms |")
        if len(med) == 2:
            a, b = med[short], med[long]
            q = lambda k: b[k] / max(a[k], 1e-9)  # noqa: E731
            rows.append(f"| load_fast={lf} | {long} / {short} | {q('drawn_ms'):.2f}x | {q('ready_ms'):.2f}x | "
                        f"{q('frame_drawn_ms'):.2f}x / {q('frame_ready_ms'):.2f}x |")
    rows.append("")
    rows += ["| loader | epochs | page load to the page ready (caches warm) | epoch step p50 / p95 | jump p50 / p95 | cold jump p50 / p95 |",
             "|---|---:|---:|---:|---:|---:|"]
    for lf in ("false", "true"):
        got = {}
        for n in (short, long):
            b = results[f"{n}/{lf}"].get("browser", {})
            if "first_draw_ms" not in b:
                continue
            got[n] = b
            seq, jump = b["sequential"]["redrawn_ms"], b["random_jumps"]["redrawn_ms"]
            cold = b["cold_jumps"]["redrawn_ms"]
            rows.append(f"| load_fast={lf} | {n} | {b['first_draw_ms']:.0f} ms | {seq['median']:.0f} / {seq['p95']:.0f} ms | "
                        f"{jump['median']:.0f} / {jump['p95']:.0f} ms | {cold['median']:.0f} / {cold['p95']:.0f} ms |")
        if len(got) == 2:
            a, b = got[short], got[long]
            r = lambda k, q: b[k]["redrawn_ms"][q] / max(a[k]["redrawn_ms"][q], 1e-9)  # noqa: E731
            rows.append(f"| load_fast={lf} | {long} / {short} | {b['first_draw_ms'] / a['first_draw_ms']:.2f}x | "
                        f"{r('sequential', 'median'):.2f}x / {r('sequential', 'p95'):.2f}x | "
                        f"{r('random_jumps', 'median'):.2f}x / {r('random_jumps', 'p95'):.2f}x | "
                        f"{r('cold_jumps', 'median'):.2f}x / {r('cold_jumps', 'p95'):.2f}x |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
