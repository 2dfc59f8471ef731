"""Feature visualization benchmark (project issue 11).

1. Cost of ``cnn_tb.feature_visualization`` against its floor: for each conv
   layer of the seed CNN (``notebook_cnn``, 32x32x3) and 16 channels, the time
   of one visualization of ``steps`` steps (compiled, after a first call that
   compiles) divided by ``steps`` x the time of one compiled forward+backward
   pass of a batch of 16 images up to the layer (the gradient of the summed
   channel means with respect to the input). The floor is measured two ways:
   one ``tf.function`` call per pass (what a Python loop of compiled steps
   costs), and ``steps`` passes inside ONE ``tf.function`` (a ``tf.while_loop``
   that adds the gradient to the input: no per-call overhead). Target: at
   most 1.5x the second, the stricter one.
2. The training-time schedule: the seed CNN trained on the built-in dataset
   (``load_dataset("shapes")``, 5000 images, batch 32) with
   ``cnn_tb.LayerFlow(log_dir, probes)`` and its default feature
   visualizations (every 5 epochs and at the end, 4 layers x 16 channels, 128
   steps); the share of the training time they took, from the run record's
   ``settings.feature_viz.cost``, and the steps visualized. Target: under 5%.

Usage::

    python benchmarks/feature_viz.py [--quick] [--epochs 20] [--out results/feature_viz.json]
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def median(xs):
    return float(np.median(np.asarray(xs, np.float64)))


def floor_fns(model, layer, n, steps):
    """Compiled floors: one forward+backward pass per call, and ``steps`` of them in one loop."""
    import keras
    import tensorflow as tf

    sub = keras.Model(model.inputs, model.get_layer(layer).output)
    x0 = tf.constant(np.random.default_rng(0).uniform(0, 1, (n,) + tuple(model.inputs[0].shape[1:])).astype(np.float32))

    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.reduce_mean(tf.cast(sub(x, training=False), tf.float32), axis=(1, 2))[:, :n])
        return tape.gradient(y, x)

    one = tf.function(grad)

    @tf.function
    def loop(x):
        return tf.while_loop(lambda i, x: i < steps, lambda i, x: (i + 1, x + 0.001 * grad(x)), (0, x))[1]

    one(x0).numpy()
    loop(x0).numpy()

    def per_call():
        t = time.perf_counter()
        for _ in range(steps):
            one(x0)
        one(x0).numpy()
        return (time.perf_counter() - t) / (steps + 1)

    def in_loop():
        t = time.perf_counter()
        loop(x0).numpy()
        return (time.perf_counter() - t) / steps

    return per_call, in_loop


def cost(quick):
    """Each repeat times the visualization and both floors back to back (the machine's load
    changes over minutes); the ratios are the medians of the per-repeat ratios."""
    from cnn_tb import feature_viz
    from cnn_tb.demo import models

    model = models.notebook_cnn()
    steps, repeats = (16, 2) if quick else (128, 7)
    rows = []
    for layer in ("conv1", "conv2", "conv3", "conv4"):
        viz = feature_viz.visualizer(model, layer, range(16))
        t = time.perf_counter()
        viz.run(steps, 0)
        first = time.perf_counter() - t
        per_call, in_loop = floor_fns(model, layer, 16, steps)
        runs, calls, loops = [], [], []
        for r in range(repeats):
            t = time.perf_counter()
            viz.run(steps, r)
            runs.append(time.perf_counter() - t)
            calls.append(per_call())
            loops.append(in_loop())
        rows.append({
            "layer": layer, "steps": steps, "channels": 16, "first_call_seconds": first, "run_seconds": median(runs),
            "floor_per_call_seconds": median(calls), "floor_in_loop_seconds": median(loops),
            "ratio_vs_per_call": median([a / (steps * b) for a, b in zip(runs, calls)]),
            "ratio_vs_in_loop": median([a / (steps * b) for a, b in zip(runs, loops)]),
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def schedule(quick, epochs):
    import keras

    import cnn_tb
    from cnn_tb.contract import tags
    from cnn_tb.demo import datasets, models

    n_train = 500 if quick else 5000
    (x, y), (xt, yt), names = datasets.load_dataset("shapes", n_train=n_train, n_test=200)
    model = models.compile_for_demo(models.notebook_cnn())
    probes = cnn_tb.Probes.select(xt, yt, n=8, class_names=names)
    log_dir = tempfile.mkdtemp(prefix="cnn_tb_fviz_bench_")
    epoch_times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_times.append(time.perf_counter() - self.t)

    flow = cnn_tb.LayerFlow(log_dir, probes)
    t = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[Timer(), flow])
    total = time.perf_counter() - t
    run = _latest_run_record(os.path.join(log_dir, tags.RUN_NAME))
    fv = run["settings"].get("feature_viz", {})
    steps_with_viz = _feature_viz_steps(os.path.join(log_dir, tags.RUN_NAME))
    out = {
        "epochs": epochs, "n_train": n_train, "fit_seconds": total, "epoch_seconds_median": median(epoch_times),
        "cost": fv.get("cost"), "layers": fv.get("layers"), "steps_visualized": steps_with_viz,
    }
    print(json.dumps(out), flush=True)
    return out


def _plugin_records(run_dir, tag):
    """``[(step, JSON record)]`` of a plugin tag in the run's event files (read with TensorBoard's loader)."""
    from tensorboard.backend.event_processing import event_file_loader

    from cnn_tb.contract import records

    out = []
    for name in sorted(os.listdir(run_dir)):
        if "tfevents" not in name:
            continue
        for event in event_file_loader.EventFileLoader(os.path.join(run_dir, name)).Load():
            for v in event.summary.value:
                if v.tag == tag:
                    out.append((event.step, records.decode_json(v.tensor.string_val[0])))
    return out


def _latest_run_record(run_dir):
    from cnn_tb.contract import tags

    return _plugin_records(run_dir, tags.RUN_TAG)[-1][1]


def _feature_viz_steps(run_dir):
    from cnn_tb.contract import tags

    return [s for s, _ in _plugin_records(run_dir, tags.FEATURE_VIZ_TAG)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "feature_viz.json"))
    p.add_argument("--skip-schedule", action="store_true")
    args = p.parse_args(argv)
    epochs = args.epochs or (3 if args.quick else 20)
    result = {"cost": cost(args.quick)}
    if not args.skip_schedule:
        result["schedule"] = schedule(args.quick, epochs)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
