"""Items 1-3: one training configuration in a fresh process.

Run by ``run.py`` as ``python benchmarks/training.py --config NAME ...``; prints
one JSON line. Configurations:

- ``none``: no callbacks (the baseline);
- ``keras_tb``: ``keras.callbacks.TensorBoard(histogram_freq=1, write_images=True)``;
- ``cnn_tb8`` / ``cnn_tb32``: ``cnn_tb.LayerFlow(log_dir, probes)`` with 8 / 32
  probes and default options.

How time is attributed:

- Epoch time: a timer callback placed FIRST in the list stamps
  ``on_epoch_begin``, one placed LAST stamps ``on_epoch_end``, so an epoch
  includes every other callback's epoch hooks.
- A callback's own time: the callback is replaced by a subclass whose every
  hook that the original class overrides (``on_epoch_end``,
  ``on_train_batch_begin/end``, ``on_test_*``, ...) calls the original
  between two ``perf_counter`` stamps; times are summed per epoch. Hooks the
  class does not override are not wrapped, so Keras' async batch dispatch is
  decided exactly as for the unwrapped callback.
- Epoch 0 is warm-up (graph tracing, first writer, cnn_tb's untrained log at
  step -1 and its tf.function tracing) and is left out of every median.

For cnn_tb configurations the worker also measures the floor (item 2): the
probes through a multi-output ``keras.Model`` of exactly the layers cnn_tb
logs, called through one ``tf.function`` (outputs fetched to numpy), median
of many calls, in the same process right after training. And the disk use
(item 3) of the run it wrote.
"""

import argparse
import json
import os
import sys
import time


def _timed_subclass(base):
    """A subclass of ``base`` that sums the time spent in its overridden hooks."""
    import keras

    hooks = [
        name for name in dir(keras.callbacks.Callback)
        if name.startswith("on_") and getattr(base, name) is not getattr(keras.callbacks.Callback, name)
    ]

    def make(name):
        original = getattr(base, name)

        def hook(self, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                bucket = self.bench_epoch if name not in ("on_train_begin", "on_train_end") else name
                self.bench_own[bucket] = self.bench_own.get(bucket, 0.0) + dt
                self.bench_hooks[name] = self.bench_hooks.get(name, 0.0) + dt

        hook.__name__ = name
        return hook

    attrs = {name: make(name) for name in hooks}
    attrs["bench_wrapped_hooks"] = hooks
    cls = type("Timed" + base.__name__, (base,), attrs)
    return cls


class _Clock:
    """Shared state of the two timer callbacks."""

    def __init__(self, timed):
        self.timed = timed  # callbacks whose bench_epoch must follow the epoch
        self.begin = {}
        self.end = {}
        self.after_log = []  # cnn_tb: (step, its last_timings)


def _timers(clock, logger=None):
    import keras

    class First(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            for cb in clock.timed:
                cb.bench_epoch = epoch
            clock.begin[epoch] = time.perf_counter()

    class Last(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            clock.end[epoch] = time.perf_counter()
            if logger is not None and logger.last_timings:
                # in the background, log(epoch) waited for the step before and holds its timings
                step = epoch - 1 if getattr(logger, "background", False) else epoch
                clock.after_log.append((step, dict(logger.last_timings)))
                logger.last_timings = {}

        def on_train_end(self, logs=None):
            # the callback's on_train_end (before this one) waited for the last step
            if logger is not None and logger.last_timings and getattr(logger, "background", False) and clock.end:
                clock.after_log.append((max(clock.end), dict(logger.last_timings)))
                logger.last_timings = {}

    return First(), Last()


def floor_forward(model, layer_names, images, repeats):
    """Median seconds of the probes through a multi-output model of ``layer_names``."""
    import keras
    import numpy as np
    import tensorflow as tf

    outs = [model.get_layer(n).output for n in layer_names]
    multi = keras.Model(model.inputs, outs)
    fn = tf.function(lambda x: multi(x, training=False))
    x = tf.convert_to_tensor(np.asarray(images, np.float32))
    for _ in range(3):
        [o.numpy() for o in fn(x)]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        [o.numpy() for o in fn(x)]
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], times


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, choices=["none", "keras_tb", "cnn_tb8", "cnn_tb32"])
    ap.add_argument("--epochs", type=int, default=4, help="including the warm-up epoch 0")
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--floor-repeats", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    import cnn_tb
    from cnn_tb.demo.datasets import CLASS_NAMES, make_shapes
    from cnn_tb.demo.models import compile_for_demo, notebook_cnn

    import disk

    keras.utils.set_random_seed(args.seed)
    x, y = make_shapes(args.images, seed=args.seed)
    xp, yp = make_shapes(64, seed=args.seed + 1)
    model = compile_for_demo(notebook_cnn(x.shape[1:], len(CLASS_NAMES)))

    timed = []
    logger = None
    own_cb = None
    if args.config == "keras_tb":
        cls = _timed_subclass(keras.callbacks.TensorBoard)
        own_cb = cls(log_dir=args.log_dir, histogram_freq=1, write_images=True)
    elif args.config.startswith("cnn_tb"):
        n = 8 if args.config == "cnn_tb8" else 32
        probes = cnn_tb.Probes(xp[:n], labels=yp[:n], class_names=list(CLASS_NAMES))
        cls = _timed_subclass(cnn_tb.LayerFlow)
        own_cb = cls(args.log_dir, probes)
        logger = own_cb.logger
    callbacks = []
    if own_cb is not None:
        own_cb.bench_own, own_cb.bench_hooks, own_cb.bench_epoch = {}, {}, None
        timed.append(own_cb)
    clock = _Clock(timed)
    first, last = _timers(clock, logger)
    callbacks = [first] + ([own_cb] if own_cb else []) + [last]

    t_fit = time.perf_counter()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch, callbacks=callbacks, verbose=0, shuffle=True)
    fit_s = time.perf_counter() - t_fit

    epochs = sorted(clock.end)
    result = {
        "config": args.config,
        "epochs": args.epochs,
        "images": args.images,
        "batch": args.batch,
        "fit_seconds": fit_s,
        "cnn_tb_source": os.path.dirname(cnn_tb.__file__),
        "epoch_seconds": {e: clock.end[e] - clock.begin[e] for e in epochs},
    }
    if own_cb is not None:
        result["own_seconds"] = {e: own_cb.bench_own.get(e, 0.0) for e in epochs}
        result["own_train_begin_end"] = {k: own_cb.bench_own.get(k, 0.0) for k in ("on_train_begin", "on_train_end")}
        result["wrapped_hooks"] = list(own_cb.bench_wrapped_hooks)
        result["hook_totals"] = own_cb.bench_hooks
    if logger is not None:
        result["phases"] = {str(e): t for e, t in clock.after_log}
        names = [i.name for i in logger.ctx.selected]
        med, times = floor_forward(model, names, logger.probes.model_inputs(), args.floor_repeats)
        result["floor_seconds"] = med
        result["floor_samples"] = times
        result["floor_layers"] = names
        result["disk"] = disk.analyse_run(os.path.join(args.log_dir, "cnn_tb"))
    if args.config == "keras_tb":
        result["disk"] = disk.analyse_run(os.path.join(args.log_dir, "train"))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
