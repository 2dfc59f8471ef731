"""The held-out pool's cost per logged epoch (project issue 10).

    python benchmarks/pool.py                 # 2 rounds, about 6 minutes on 2 cores
    python benchmarks/pool.py --quick         # tiny sizes: proves the code path
    python benchmarks/pool.py --out DIR       # default: benchmarks/results/ (git-ignored)

The seed CNN (``cnn_tb.demo.models.notebook_cnn()``, ``compile_for_demo()``)
trained on ``make_shapes(--images)``, batch 32, ``--epochs`` epochs (epoch 0 is
warm-up: graph tracing, the untrained log, compilation; left out of every
median), one fresh process per configuration and round, the order reversed
every other round:

- ``keras_tb``: ``keras.callbacks.TensorBoard(histogram_freq=1, write_images=True)``;
- ``cnn_tb8``: ``cnn_tb.LayerFlow(log_dir, probes)``, 8 probes, defaults;
- ``cnn_tb8_pool``: the same with ``pool=`` 512 labelled held-out images.

*Own time* of a callback: the time inside the hooks its class overrides,
summed per epoch (``training._timed_subclass``, as in item 1 of run.py).

*Floor* (in the ``cnn_tb8_pool`` process, right after training): one
``tf.function`` that runs the probes and the pool through a multi-output
``keras.Model`` of exactly the layers cnn_tb logs (the pool in one batch), and
the Grad-CAM pass on the probes (gradient of the predicted and of the true
class's output with respect to every Grad-CAM layer's output under one
``GradientTape``, then ``relu(sum_c mean(grad_c) * act_c)``); the probes'
outputs and maps are fetched to numpy, the pool's outputs are only computed.
Median of ``--floor-repeats`` calls after 3 warm-up calls.

*Bytes per epoch*: the growth of the run directory (event file, pack files,
pool packs, Projector files) across each logged epoch, stat'ed from the
callback list's last hook; and, for the pool, the pool's own files
(``PoolLogger.last_bytes``).

Writes ``pool.json`` (every sample) and ``pool.md`` (the table) to ``--out``.
"""

import argparse
import json
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

import common  # noqa: E402

CONFIGS = ["keras_tb", "cnn_tb8", "cnn_tb8_pool"]
N_PROBES = 8



def floor_pool(model, layer_names, gradcam_layers, probes, labels, pool, repeats):
    """Median seconds of the floor described in the module docstring."""
    import keras
    import numpy as np
    import tensorflow as tf

    names = list(dict.fromkeys(list(layer_names) + list(gradcam_layers)))
    multi = keras.Model(model.inputs, [model.get_layer(n).output for n in names] + [model.outputs[0]])
    cam_at = [names.index(n) for n in gradcam_layers]
    y_true = tf.constant(np.asarray(labels, np.int32))

    @tf.function
    def step(xp, xq):
        with tf.GradientTape(persistent=True) as tape:
            outs = multi(xp, training=False)
            acts = [outs[i] for i in cam_at]
            final = outs[-1]
            pred = tf.argmax(final, axis=-1, output_type=tf.int32)
            s_pred = tf.reduce_sum(tf.gather(final, pred, batch_dims=1))
            s_true = tf.reduce_sum(tf.gather(final, y_true, batch_dims=1))
        cams = []
        for score in (s_pred, s_true):
            for a, g in zip(acts, tape.gradient(score, acts)):
                w = tf.reduce_mean(g, axis=(1, 2), keepdims=True)
                cams.append(tf.nn.relu(tf.reduce_sum(w * a, axis=-1)))
        del tape
        pool_outs = multi(xq, training=False)
        return outs, cams, [tf.reduce_sum(o) for o in pool_outs]

    xp = tf.convert_to_tensor(np.asarray(probes, np.float32))
    xq = tf.convert_to_tensor(np.asarray(pool, np.float32))

    def call():
        outs, cams, done = step(xp, xq)
        [o.numpy() for o in outs]
        [c.numpy() for c in cams]
        [d.numpy() for d in done]

    times = common.time_calls(call, repeats)
    return common.median(times), times


def worker(args):
    """One configuration in this process; prints one JSON line."""
    import keras

    import cnn_tb
    import training
    from cnn_tb.demo.datasets import CLASS_NAMES, make_shapes
    from cnn_tb.demo.models import compile_for_demo, notebook_cnn

    keras.utils.set_random_seed(args.seed)
    x, y = make_shapes(args.images, seed=args.seed)
    xp, yp = make_shapes(N_PROBES, seed=args.seed + 1)
    xq, yq = make_shapes(args.pool, seed=args.seed + 2)
    names = list(CLASS_NAMES)
    model = compile_for_demo(notebook_cnn(x.shape[1:], len(names)))
    log_dir = args.log_dir
    logger = None
    if args.config == "keras_tb":
        own = training._timed_subclass(keras.callbacks.TensorBoard)(log_dir=log_dir, histogram_freq=1, write_images=True)
        run_dir = log_dir
    else:
        probes = cnn_tb.Probes(xp, labels=yp, class_names=names)
        pool = cnn_tb.Probes(xq, labels=yq, class_names=names) if args.config == "cnn_tb8_pool" else None
        own = training._timed_subclass(cnn_tb.LayerFlow)(log_dir, probes, pool=pool)
        logger = own.logger
        run_dir = os.path.join(log_dir, "cnn_tb")
    own.bench_own, own.bench_hooks, own.bench_epoch = {}, {}, None
    clock = training._Clock([own])
    first, last = training._timers(clock, logger)
    sizes, pool_bytes = {}, {}

    class Disk(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logger is not None:
                logger.wait()  # the step is written on a background thread: count it in its own epoch
            sizes[epoch] = common.dir_bytes(log_dir)
            pl = logger.pool_logger if logger is not None else None
            if pl is not None:
                pool_bytes[epoch] = dict(pl.last_bytes)

    before = None

    class Start(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            nonlocal before
            before = common.dir_bytes(log_dir) if os.path.isdir(log_dir) else 0

    model.fit(x, y, epochs=args.epochs, batch_size=32, callbacks=[Start(), first, own, last, Disk()], verbose=0)
    epochs = sorted(clock.end)
    growth = {e: sizes[e] - (sizes[e - 1] if e - 1 in sizes else before) for e in epochs}
    result = {
        "config": args.config,
        "epochs": args.epochs,
        "images": args.images,
        "pool": args.pool if args.config == "cnn_tb8_pool" else 0,
        "cnn_tb_source": os.path.dirname(cnn_tb.__file__),
        "epoch_seconds": {e: clock.end[e] - clock.begin[e] for e in epochs},
        "own_seconds": {e: own.bench_own.get(e, 0.0) for e in epochs},
        "bytes_growth": growth,
        "pool_bytes": pool_bytes,
        "run_dir_bytes": common.dir_bytes(run_dir),
    }
    if logger is not None:
        result["phases"] = {str(e): t for e, t in clock.after_log}
    if args.config == "cnn_tb8_pool":
        layer_names = [i.name for i in logger.ctx.selected]
        med, times = floor_pool(model, layer_names, logger.ctx.gradcam_layers, logger.probes.model_inputs(),
                                logger.probes.labels, logger.pool_logger.x, args.floor_repeats)
        result.update(floor_seconds=med, floor_samples=times, floor_layers=layer_names,
                      floor_gradcam_layers=list(logger.ctx.gradcam_layers))
    print(json.dumps(result))


def fmt_ms(s):
    return "-" if s is None else f"{s * 1000:.1f} ms"


def analyse(runs):
    """Medians over rounds and epochs >= 1 per configuration, and the targets."""
    by = {}
    for r in runs:
        by.setdefault(r["config"], []).append(r)
    out = {}
    for config, rs in by.items():
        own = [v for r in rs for e, v in r["own_seconds"].items() if int(e) >= 1]
        growth = [v for r in rs for e, v in r["bytes_growth"].items() if int(e) >= 1]
        epoch = [v for r in rs for e, v in r["epoch_seconds"].items() if int(e) >= 1]
        pool = [r["pool_bytes"].get(e, r["pool_bytes"].get(str(e))) for r in rs for e in r["pool_bytes"] if int(e) >= 1]
        phases = {}
        for r in rs:
            for e, t in r.get("phases", {}).items():
                if int(e) >= 1:
                    for k, v in t.items():
                        phases.setdefault(k, []).append(v)
        out[config] = {
            "own": common.summary(own),
            "epoch": common.summary(epoch),
            "bytes_per_epoch": common.median(growth),
            "pool_files_per_epoch": {k: common.median([p.get(k) for p in pool if p and k in p])
                                     for k in sorted({k for p in pool if p for k in p})},
            "phases": {k: common.median(v) for k, v in phases.items()},
        }
        floors = [r["floor_seconds"] for r in rs if "floor_seconds" in r]
        if floors:
            out[config]["floor"] = common.median(floors)
    p, k, c = (out.get(n, {}) for n in ("cnn_tb8_pool", "keras_tb", "cnn_tb8"))
    own_p = p.get("own", {}).get("median")
    targets = [
        ("own time with pool / floor (probes + pool forward, Grad-CAM on probes)", common.ratio(own_p, p.get("floor")), 3.0,
         f"{fmt_ms(own_p)} vs {fmt_ms(p.get('floor'))} floor"),
        ("own time with pool / keras TensorBoard own time", common.ratio(own_p, k.get("own", {}).get("median")), 0.5,
         f"{fmt_ms(own_p)} vs {fmt_ms(k.get('own', {}).get('median'))}"),
    ]
    return out, [{"target": t, "measured": m, "limit": lim, "met": m is not None and m <= lim, "detail": d}
                 for t, m, lim, d in targets], c


def table(summary, targets, meta):
    lines = [
        f"- Date: {meta['date_utc']}; machine: {meta['cpu']}, {meta['cores']} cores; load average at start "
        f"{', '.join(f'{v:.2f}' for v in meta['load_average_at_start'] or [])}",
        f"- {meta['images']} training images/epoch, batch 32, {meta['epochs']} epochs per process (epoch 0 warm-up), "
        f"{meta['rounds']} round(s); 8 probes; pool of {meta['pool']} images",
        "",
        "| Target | Measured | Limit | Met | Detail |",
        "|---|---|---|---|---|",
    ]
    for t in targets:
        m = "-" if t["measured"] is None else f"{t['measured']:.2f}x"
        lines.append(f"| {t['target']} | {m} | <= {t['limit']:.2f}x | {'met' if t['met'] else '**not met**'} | {t['detail']} |")
    lines += ["", "| Config | Own time per logged epoch (median, p05-p95) | Epoch (median) | Bytes per logged epoch |", "|---|---|---|---|"]
    for config in CONFIGS:
        s = summary.get(config)
        if not s:
            continue
        o = s["own"]
        lines.append(f"| {config} | {fmt_ms(o['median'])} ({fmt_ms(o['p05'])}-{fmt_ms(o['p95'])}) | {fmt_ms(s['epoch']['median'])} | "
                     f"{s['bytes_per_epoch']:,.0f} B |")
    p = summary.get("cnn_tb8_pool", {})
    if p.get("phases"):
        lines += ["", "cnn_tb with pool, phases per logged epoch (median of `LayerLogger.last_timings`): "
                  + ", ".join(f"{k} {fmt_ms(v)}" for k, v in p["phases"].items())]
    if p.get("pool_files_per_epoch"):
        lines.append("Pool files per pool epoch (median bytes): "
                     + ", ".join(f"{k} {v:,.0f}" for k, v in p["pool_files_per_epoch"].items() if v is not None))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=CONFIGS, help="worker mode: run one configuration")
    ap.add_argument("--log-dir")
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--pool", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--floor-repeats", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    args = ap.parse_args(argv)
    if args.config:
        return worker(args)
    if args.quick:
        args.images, args.pool, args.epochs, args.rounds, args.floor_repeats = 256, 64, 2, 1, 3
    import tempfile

    meta = common.machine()
    meta.update(images=args.images, pool=args.pool, epochs=args.epochs, rounds=args.rounds)
    runs = []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = CONFIGS if r % 2 == 0 else CONFIGS[::-1]
            for config in order:
                log_dir = os.path.join(tmp, f"{config}_{r}")
                res = common.run_worker(
                    [os.path.join(BENCH, "pool.py"), "--config", config, "--log-dir", log_dir, "--images", str(args.images),
                     "--pool", str(args.pool), "--epochs", str(args.epochs), "--floor-repeats", str(args.floor_repeats),
                     "--seed", str(args.seed + r)],
                    timeout=1800, log_prefix=config)
                res["round"] = r
                runs.append(res)
                print(f"{config} round {r}: own {[round(v * 1000, 1) for v in res['own_seconds'].values()]} ms", flush=True)
    summary, targets, _ = analyse(runs)
    meta["run_minutes"] = (time.time() - t0) / 60
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "pool.json"), "w") as f:
        json.dump({"meta": meta, "runs": runs, "summary": summary, "targets": targets}, f, indent=1)
    text = table(summary, targets, meta)
    with open(os.path.join(args.out, "pool.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
