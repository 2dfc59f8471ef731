"""Where cnn_tb's per-epoch time goes: cProfile over ``LayerLogger.log`` calls.

``python benchmarks/profile_log.py --probes 8 --steps 20 --out DIR`` attaches a
default ``LayerLogger`` to the notebook CNN (trained for one short epoch so
activations look like a real run's), logs a warm-up step, then profiles
``--steps`` more ``log`` calls (kernels perturbed between steps, outside the
profile). Writes ``profile_<probes>.txt`` and prints one JSON line with the top
functions by own time and by cumulative time inside cnn_tb.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import threading


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)

    import keras
    import numpy as np

    import cnn_tb
    from cnn_tb.demo.datasets import CLASS_NAMES, make_shapes
    from cnn_tb.demo.models import compile_for_demo, notebook_cnn

    keras.utils.set_random_seed(0)
    x, y = make_shapes(args.images, seed=0)
    xp, yp = make_shapes(64, seed=1)
    model = compile_for_demo(notebook_cnn(x.shape[1:], len(CLASS_NAMES)))
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    probes = cnn_tb.Probes(xp[: args.probes], labels=yp[: args.probes], class_names=list(CLASS_NAMES))
    log_dir = os.path.join(args.out, f"profile_logdir_{args.probes}")
    logger = cnn_tb.LayerLogger(log_dir, probes).attach(model)
    logger.log(-1)
    logger.log(0)
    if logger.capture is not None:
        logger.capture.wait_compiled()  # profile the steady, compiled steps
    logger.log(0)
    rng = np.random.default_rng(0)
    kernels = [v for v in model.trainable_variables if len(v.shape) > 1]
    prof = cProfile.Profile()
    # cProfile sees one thread only. Work the logger hands to a worker thread
    # (every kind's ``pictures``: the Images-dashboard pictures) is profiled
    # there by a second profiler and merged: the listing then shows CPU time of
    # both threads, which can exceed the wall time of a log call.
    side = cProfile.Profile()

    def on_worker(inner):
        def pictures(*a, **kw):
            if threading.current_thread() is threading.main_thread():
                return inner(*a, **kw)  # already under the main profiler
            side.enable()
            try:
                return inner(*a, **kw)
            finally:
                side.disable()

        return pictures

    for kind in logger._kinds:
        kind.pictures = on_worker(kind.pictures)
    phases = []
    for step in range(1, args.steps + 1):
        for v in kernels:
            w = v.numpy()
            v.assign(w + rng.normal(0.0, 0.01 * (float(w.std()) + 1e-6), w.shape).astype(w.dtype))
        prof.enable()
        logger.log(step)
        prof.disable()
        phases.append(dict(logger.last_timings))
    logger.close()

    side_stats = getattr(side, "getstats", lambda: [])()
    st = pstats.Stats(prof)
    if side_stats:
        st.add(side)
    total = sum(p["total"] for p in phases)
    rows = []
    for (file, line, fn), (cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append({"function": f"{os.path.relpath(file) if file.startswith(os.getcwd()) else os.path.basename(file)}:{line}({fn})",
                     "calls": nc, "tottime_per_step": tt / args.steps, "cumtime_per_step": ct / args.steps,
                     "in_cnn_tb": "cnn_tb" in file})
    by_tottime = sorted(rows, key=lambda r: -r["tottime_per_step"])[: args.top]
    by_cum_cnn_tb = sorted((r for r in rows if r["in_cnn_tb"]), key=lambda r: -r["cumtime_per_step"])[: args.top]
    buf = io.StringIO()
    st.stream = buf
    st.sort_stats("tottime").print_stats(40)
    buf.write("\n\n")
    st.sort_stats("cumulative").print_stats("cnn_tb", 40)
    path = os.path.join(args.out, f"profile_{args.probes}probes.txt")
    with open(path, "w") as f:
        f.write(buf.getvalue())
    print(json.dumps({
        "probes": args.probes,
        "steps": args.steps,
        "log_seconds_per_step": total / args.steps,
        "profile_file": os.path.basename(path),
        "top_by_own_time": by_tottime,
        "top_cnn_tb_by_cumulative": by_cum_cnn_tb,
        "phases_median": {k: sorted(p.get(k, 0.0) for p in phases)[len(phases) // 2] for k in phases[-1]},
    }))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
