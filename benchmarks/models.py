"""Own time, floor, bytes and tags for one model on one Keras backend.

    python benchmarks/models.py --backend jax --model resnet50 --size 64
    python benchmarks/models.py --all            # the table in benchmarks/README.md

One configuration runs in a fresh process (``KERAS_BACKEND`` must be set before
Keras starts). In it, the same model and data are trained twice, each time with
one callback timed by the hook wrapper of ``training.py`` (the callback's own
time per epoch, epoch 0 left out as warm-up): ``cnn_tb.LayerFlow(log_dir, 8
probes)`` and ``keras.callbacks.TensorBoard(histogram_freq=1,
write_images=True)`` (the latter only where TensorFlow is installed: it writes
through ``tf.summary`` on every backend).

The floor is measured in the same process after training: one compiled call
(``tf.function`` / ``jax.jit``; PyTorch eager) that runs the probes through a
multi-output model of exactly the layers cnn_tb logs AND takes the gradient of
each probe's top class score with respect to the input (a full backward pass:
at least what Grad-CAM's gradient to the last conv layers costs), outputs
fetched to numpy; median of many calls back to back. Beside it, as a diagnostic
(the targets use the floor above): the same call once at each epoch's end of a
third training of the same model (``floor_in_hook_s``), i.e. where cnn_tb's hook
runs, after training's steps (cold caches, idle thread pools).

Also reported: the first ``log`` call (step -1, at the first epoch's start)
against a steady one, and the first step's whole time (``LayerFlow`` logs in the
background: the first step runs wholly on the background thread, on a
snapshot of the weights, while the first epoch trains; its time is its
``last_timings["total"]`` when the next call waits for it), bytes per logged
epoch (event files and pack files), and the number of image and scalar tags of
the built-in dashboards.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
MODELS = {"seed": 32, "resnet50": 64}


def _model(name, size, classes):
    import keras

    from cnn_tb.demo.models import compile_for_demo, notebook_cnn

    if name == "seed":
        return compile_for_demo(notebook_cnn((size, size, 3), classes))
    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classes=classes)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def floor_seconds(model, layer_names, images, repeats):
    """Median seconds of one forward pass through the logged layers plus the
    gradient of the top class scores with respect to the input, called back to
    back (warm caches)."""
    return common.median(common.time_calls(floor_call(model, layer_names, images), repeats))


def floor_in_hook_seconds(model, layer_names, images, x, y, epochs, batch):
    """The same call once per epoch where a callback's hook runs (at each epoch's
    end, after training's steps: cold caches, idle thread pools): median seconds
    over the epochs after the first, the model trained without any other callback."""
    import keras

    call = floor_call(model, layer_names, images)
    call()
    seconds = {}

    class Floor(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            t0 = time.perf_counter()
            call()
            seconds[epoch] = time.perf_counter() - t0

    model.fit(x, y, epochs=epochs, batch_size=batch, callbacks=[Floor()], verbose=0)
    return _middle(v for e, v in seconds.items() if e > 0)


def floor_call(model, layer_names, images):
    """The floor's call (see :func:`floor_seconds`), ready to time."""
    import keras
    import numpy as np

    # a nested model's inner layers ("outer/inner") are not outputs of the outer graph:
    # the floor takes the nested model's output instead
    outer = list(dict.fromkeys(n.split("/")[0] for n in layer_names))
    multi = keras.Model(model.inputs, [model.get_layer(n).output for n in outer] + [model.outputs[0]])
    x = np.asarray(images, np.float32)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def fn(t):
            with tf.GradientTape() as tape:
                tape.watch(t)
                outs = multi(t, training=False)
                score = tf.reduce_sum(tf.reduce_max(outs[-1], axis=-1))
            return outs, tape.gradient(score, t)

        xt = tf.convert_to_tensor(x)
        call = lambda: [np.asarray(o) for o in tf.nest.flatten(fn(xt))]  # noqa: E731
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        tv = [v.value for v in multi.trainable_variables]
        ntv = [v.value for v in multi.non_trainable_variables]

        def f(t):
            outs, _ = multi.stateless_call(tv, ntv, t, training=False)
            return jnp.sum(jnp.max(outs[-1], axis=-1)), outs

        fn = jax.jit(jax.value_and_grad(f, has_aux=True))
        xt = jnp.asarray(x)
        call = lambda: [np.asarray(o) for o in jax.tree_util.tree_leaves(fn(xt))]  # noqa: E731
    else:
        import torch

        def call():
            t = torch.tensor(x, requires_grad=True)
            outs = multi(t, training=False)
            outs[-1].max(dim=-1).values.sum().backward()
            return [o.detach().cpu().numpy() for o in outs] + [t.grad.cpu().numpy()]

    return call


def _middle(xs):
    """The middle value of ``xs`` (the upper one of an even count)."""
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _fit(model, x, y, epochs, batch, cb):
    """``(own seconds, epoch seconds)``: medians over the epochs after the first."""
    from training import _Clock, _timers

    cb.bench_own, cb.bench_hooks, cb.bench_epoch = {}, {}, None
    clock = _Clock([cb])
    first, last = _timers(clock)
    model.fit(x, y, epochs=epochs, batch_size=batch, callbacks=[first, cb, last], verbose=0)
    later = [e for e in clock.end if e > 0]
    return _middle(cb.bench_own.get(e, 0.0) for e in later), _middle(clock.end[e] - clock.begin[e] for e in later)


def one(args):
    import importlib.util

    import keras

    import cnn_tb
    from cnn_tb.demo.datasets import CLASS_NAMES, make_shapes
    from training import _timed_subclass

    keras.utils.set_random_seed(0)
    size = args.size or MODELS[args.model]
    x, y = make_shapes(args.images, image_size=size, seed=0)
    xp, yp = make_shapes(args.probes, image_size=size, seed=1)
    probes = cnn_tb.Probes(xp, labels=yp, class_names=list(CLASS_NAMES))
    work = tempfile.mkdtemp(prefix="cnn_tb_bench_")
    model = _model(args.model, size, len(CLASS_NAMES))
    initial = model.get_weights()

    flow = _timed_subclass(cnn_tb.LayerFlow)(os.path.join(work, "cnn_tb_run"), probes)
    logger = flow.logger
    steps = []  # (step, seconds, compiled) of every log call
    log = logger.log

    def timed_log(step, logs=None, **kwargs):
        compiled = bool(logger.capture and logger.capture.compiled)
        t0 = time.perf_counter()
        out = log(step, logs, **kwargs)
        steps.append((step, time.perf_counter() - t0, compiled))
        return out

    logger.log = timed_log
    finished = []  # last_timings of every step finished (in the background: waited for by the next call)
    wait = logger.wait

    def timed_wait():
        pending = logger._pending is not None
        ok = wait()
        if pending:
            finished.append(dict(logger.last_timings))
        return ok

    logger.wait = timed_wait
    own, epoch_s = _fit(model, x, y, args.epochs, args.batch, flow)
    run_dir = os.path.join(work, "cnn_tb_run", "cnn_tb")
    names = [i.name for i in logger.ctx.selected]
    result = {
        "backend": keras.backend.backend(), "model": args.model, "size": size, "layers": len(model.layers),
        "logged_layers": len(names), "probes": args.probes, "images": args.images,
        "epoch_s": epoch_s, "own_s": own, "steps": steps, "first_step_s": steps[0][1],
        "steady_step_s": _middle(t for st, t, _ in steps if st >= 1),
        "finished": finished, "first_step_total_s": finished[0]["total"] if finished else steps[0][1],
        "first_step_deferred": bool(finished and finished[0].get("deferred")),
        "floor_s": floor_seconds(model, names, probes.model_inputs(), args.floor_repeats),
        "bytes_per_epoch": common.dir_bytes(run_dir) / (args.epochs + 1),
    }
    from tests.support.tb_data import LogDir

    log = LogDir(os.path.join(work, "cnn_tb_run"))
    result["image_tags"] = len(log.tags("images", "blobs").get("cnn_tb", {}))
    result["scalar_tags"] = len(log.tags("scalars", "scalars").get("cnn_tb", {}))
    if importlib.util.find_spec("tensorflow") is not None:
        model.set_weights(initial)
        tb = _timed_subclass(keras.callbacks.TensorBoard)(log_dir=os.path.join(work, "keras_tb"), histogram_freq=1,
                                                          write_images=True)
        result["keras_tb_own_s"], _ = _fit(model, x, y, args.epochs, args.batch, tb)
    model.set_weights(initial)
    result["floor_in_hook_s"] = floor_in_hook_seconds(model, names, probes.model_inputs(), x, y, args.epochs, args.batch)
    print("RESULT " + json.dumps(result), flush=True)


CONFIGS = [("tensorflow", "seed"), ("jax", "seed"), ("torch", "seed"), ("tensorflow", "resnet50"),
           ("jax", "resnet50"), ("torch", "resnet50")]


def _in_hook(r):
    """`` (2.1x of the floor in the hook's place)`` where measured."""
    f = r.get("floor_in_hook_s")
    return f" ({r['own_s'] / f:.2f}x of {f * 1e3:.1f} ms in the hook's place)" if f else ""


def table(results):
    rows = ["| backend | model | logged layers | epoch (no-callback time not subtracted) | own / epoch | floor | own / floor | first / steady | first step: log call / all of it | own / keras TB | MB / epoch | image / scalar tags |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        ktb = f"{r['own_s'] / r['keras_tb_own_s']:.2f}x" if r.get("keras_tb_own_s") else "–"
        rows.append(
            f"| {r['backend']} | {r['model']} {r['size']}x{r['size']} | {r['logged_layers']} / {r['layers']} | "
            f"{r['epoch_s']:.2f} s | {r['own_s'] * 1e3:.0f} ms | {r['floor_s'] * 1e3:.1f} ms | "
            f"{r['own_s'] / r['floor_s']:.2f}x{_in_hook(r)} | {r['first_step_s'] / r['steady_step_s']:.2f}x | "
            f"{r['first_step_s']:.2f} s / {r.get('first_step_total_s', r['first_step_s']):.2f} s"
            f"{' (background)' if r.get('first_step_deferred') else ''} | {ktb} | "
            f"{r['bytes_per_epoch'] / 1e6:.2f} | {r['image_tags']} / {r['scalar_tags']} |")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    ap.add_argument("--model", choices=sorted(MODELS), default="seed")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--probes", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6, help="including the warm-up epoch 0")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--floor-repeats", type=int, default=20)
    ap.add_argument("--all", action="store_true", help="every backend and model, each in its own process")
    ap.add_argument("--only", default="", help="with --all: comma-separated backend:model pairs")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "models.json"))
    args = ap.parse_args(argv)
    if not args.all:
        if os.environ.get("KERAS_BACKEND") != args.backend:
            os.environ["KERAS_BACKEND"] = args.backend
        sys.path[:0] = [HERE, os.path.dirname(HERE)]
        return one(args)
    results = []
    wanted = {tuple(p.split(":")) for p in args.only.split(",") if p}
    for backend, model in CONFIGS:
        if wanted and (backend, model) not in wanted:
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]))
        small = model == "resnet50"  # 2 CPU cores: fewer images and epochs for ResNet50
        cmd = [sys.executable, os.path.abspath(__file__), "--backend", backend, "--model", model,
               "--images", str(256 if small else args.images), "--epochs", str(4 if small else args.epochs)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"{backend} {model} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(line[7:]))
        print(table(results[-1:]).splitlines()[-1], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    old = []
    if wanted and os.path.exists(args.out):  # --only: replace those rows, keep the others
        with open(args.out) as f:
            old = [r for r in json.load(f) if (r["backend"], r["model"]) not in wanted]
    order = {c: k for k, c in enumerate(CONFIGS)}
    results = sorted(old + results, key=lambda r: order.get((r["backend"], r["model"]), 99))
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(table(results))


if __name__ == "__main__":
    main()
