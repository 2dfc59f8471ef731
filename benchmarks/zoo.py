"""Every keras.applications model through cnn_tb: what it logs, costs and shows.

    python benchmarks/zoo.py                 # the CI families (5 models)
    python benchmarks/zoo.py --all           # all 40 constructors (long)
    python benchmarks/zoo.py ResNet50 VGG16  # some

Each model runs in a fresh process: built offline (``weights=None``, 10
classes) at the size in ``tests/support/zoo.py``, 8 probes, a
``LayerLogger`` logging steps -1, 0, 1, 2 (kernels perturbed between steps).
Reported per model: layers, logged layers, layers on the built-in dashboards,
image and scalar tags, the blocks the CNN Flow tab groups it into (from the
plugin's ``/run`` route), the first step (build and the first, eager or
compiling, pass) and a steady step (compiled), bytes per logged step, and the
floor (``models.floor_seconds``: forward through the logged layers plus the
input gradient, compiled).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CI = ("ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121", "ConvNeXtTiny")


def one(name):
    import keras
    import numpy as np

    import cnn_tb
    import common
    from models import floor_seconds
    from tests.support.plugin_client import make_client
    from tests.support.tb_data import LogDir
    from tests.support.zoo import RESCALING, ZOO

    import tempfile

    size = ZOO[name]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
    rng = np.random.default_rng(0)
    x = rng.random((8, size, size, 3), dtype=np.float32)
    preprocess = (lambda imgs: imgs * 255.0) if name.startswith(RESCALING) else None
    probes = cnn_tb.Probes(x, labels=np.arange(8) % 10, preprocess=preprocess)
    log_dir = tempfile.mkdtemp(prefix=f"cnn_tb_zoo_{name}_")
    t0 = time.perf_counter()
    logger = cnn_tb.LayerLogger(log_dir, probes).attach(model)
    attach_s = time.perf_counter() - t0
    times = []
    for step in (-1, 0, 1, 2):
        if step == 1 and logger.capture is not None:
            logger.capture.wait_compiled()
        if step >= 0:
            for w in model.trainable_weights[:40]:
                w.assign(w + rng.normal(0, 0.001, w.shape).astype("float32"))
        t0 = time.perf_counter()
        logger.log(step)
        times.append(time.perf_counter() - t0)
    logger.close()
    names = [i.name for i in logger.ctx.selected]
    log = LogDir(log_dir)
    info = make_client(log_dir).get("/data/plugin/cnn_tb/run?run=cnn_tb").get_json()
    r = {
        "model": name, "size": size, "layers": len(model.layers), "logged": len(names),
        "dashboard": len(logger.ctx.dashboard_names),
        "image_tags": len(log.tags("images", "blobs").get("cnn_tb", {})),
        "scalar_tags": len(log.tags("scalars", "scalars").get("cnn_tb", {})),
        "blocks": len(info["blocks"]["blocks"]), "top": len(info["blocks"]["top"]),
        "attach_s": attach_s, "first_step_s": times[0], "steady_step_s": sorted(times[2:])[0],
        "bytes_per_step": common.dir_bytes(os.path.join(log_dir, "cnn_tb")) / 4,
        "floor_s": floor_seconds(model, names, probes.model_inputs(), 5),
    }
    print("RESULT " + json.dumps(r), flush=True)


def table(rows):
    out = ["| model | input | layers | logged | image / scalar tags | blocks (top level) | first step | steady step | floor | steady / floor | MB / step |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(
            f"| {r['model']} | {r['size']} | {r['layers']} | {r['logged']} | {r['image_tags']} / {r['scalar_tags']} | "
            f"{r['blocks']} ({r['top']}) | {r['first_step_s'] + r['attach_s']:.1f} s | {r['steady_step_s'] * 1e3:.0f} ms | "
            f"{r['floor_s'] * 1e3:.0f} ms | {r['steady_step_s'] / r['floor_s']:.1f}x | {r['bytes_per_step'] / 1e6:.2f} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "zoo.json"))
    args = ap.parse_args(argv)
    sys.path[:0] = [HERE, REPO]
    if args.one:
        return one(args.one)
    from tests.support.zoo import ZOO

    names = sorted(ZOO) if args.all else (args.models or list(CI))
    rows = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join([REPO, HERE]))
    for name in names:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name], env=env,
                              capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"{name} failed:\n{proc.stderr[-1500:]}", file=sys.stderr, flush=True)
            continue
        rows.append(json.loads(line[7:]))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)
    print(table(rows))


if __name__ == "__main__":
    main()
