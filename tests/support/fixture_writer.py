"""Hand-made flow records for plugin edge cases (future versions, corrupt data,
hostile names), written with ``tf.summary.write`` through :mod:`cnn_tb.contract`
(records are built with the contract's ``build_*`` functions, then altered
where a test needs a newer version).

The main fixtures use the real writer (:class:`cnn_tb.LayerFlow`); this module
writes only what the real writer cannot be made to produce.
"""

import io
import json
import os
import time
import zlib

import numpy as np

from cnn_tb.contract import packs, records, tags

HOSTILE = "<img src=x onerror=alert(1)>"


def file_writer(run_dir):
    """``tf.summary.create_file_writer(run_dir)``, its file sorting after the run's others.

    TensorFlow names a writer's file ``...tfevents.<second>.<host>.<pid>.<counter>.v2``,
    so within one second the 10th writer's file sorts before the 9th's, and
    TensorBoard's Python loader, which reads a run's files in name order, never
    reads a file that sorts before the one it has read: a test that adds to a run
    waits for the next second instead.
    """
    import tensorflow as tf

    newest = [int(n.split(".")[3]) for n in (os.listdir(run_dir) if os.path.isdir(run_dir) else ())
              if n.startswith("events.out.tfevents.") and n.split(".")[3].isdigit()]
    while newest and int(time.time()) <= max(newest):
        time.sleep(0.05)
    return tf.summary.create_file_writer(run_dir)


def png_bytes(image_uint8):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image_uint8).save(buf, format="PNG")
    return buf.getvalue()


def default_layers(hostile=False):
    """A small conv net description: input, 2 convs, pool, add-branch, dense, output."""
    conv2 = HOSTILE if hostile else "conv2"
    return [
        dict(name="input", **{"class": "InputLayer"}, output_shape=[16, 16, 3], kind="input", inbound=[]),
        dict(name="conv1", **{"class": "Conv2D"}, output_shape=[16, 16, 8], kind="map", inbound=["input"],
             is_conv=True, kernel_shape=[3, 3, 3, 8], activation="relu"),
        dict(name=conv2, **{"class": "Conv2D"}, output_shape=[16, 16, 8], kind="map", inbound=["conv1"],
             is_conv=True, kernel_shape=[3, 3, 8, 8], activation="relu"),
        dict(name="add", **{"class": "Add"}, output_shape=[16, 16, 8], kind="map", inbound=[conv2, "conv1"]),
        dict(name="pool", **{"class": "MaxPooling2D"}, output_shape=[8, 8, 8], kind="map", inbound=["add"]),
        dict(name="flatten", **{"class": "Flatten"}, output_shape=[512], kind="vector", inbound=["pool"]),
        dict(name="dense", **{"class": "Dense"}, output_shape=[3], kind="vector", inbound=["flatten"],
             activation="softmax"),
    ]


def chain_layers(n_convs, side=8, channels=4):
    """A deep plain network description: input, ``n_convs`` convolutions in a chain
    (``stage{k}_conv{j}``, 10 a stage), a flatten and a 3-class dense output."""
    layers = [dict(name="input", **{"class": "InputLayer"}, output_shape=[side, side, 3], kind="input", inbound=[])]
    prev, c_in = "input", 3
    for i in range(n_convs):
        name = f"stage{i // 10 + 1}_conv{i % 10 + 1}"
        layers.append(dict(name=name, **{"class": "Conv2D"}, output_shape=[side, side, channels], kind="map",
                           inbound=[prev], is_conv=True, kernel_shape=[3, 3, c_in, channels], activation="relu"))
        prev, c_in = name, channels
    layers.append(dict(name="flatten", **{"class": "Flatten"}, output_shape=[side * side * channels], kind="vector",
                       inbound=[prev]))
    layers.append(dict(name="dense", **{"class": "Dense"}, output_shape=[3], kind="vector", inbound=["flatten"],
                       activation="softmax"))
    return layers


def _complete_layer(layer):
    out = {"params": 0, "logged": layer["kind"] != "input", "activation": None, "is_conv": False,
           "kernel_shape": None, "parent": None}
    out.update(layer)
    return records.layer_entry(**out)


def run_record(layers, n_probes, class_names, labels, version=tags.FORMAT_VERSION, output_layer=None):
    rec = records.build_run_record(
        model_name="fixture_net",
        input_shape=layers[0]["output_shape"],
        layers=[_complete_layer(l) for l in layers],
        output_layer=output_layer or layers[-1]["name"],
        output_kind="softmax",
        gradcam_layers=[l["name"] for l in layers if l.get("is_conv")],
        probes=records.probes_entry(count=n_probes, labels=labels, class_names=class_names,
                                    image_shape=layers[0]["output_shape"]),
        settings={"budget_bytes": 1 << 20},
        cnn_tb_version="fixture",
    )
    rec["version"] = version
    return rec


def activation_pack(layers, probe, step, rng):
    arrays = []
    for layer in layers:
        if not layer.get("logged", layer["kind"] != "input"):
            continue
        name, shape = layer["name"], layer["output_shape"]
        if layer["kind"] == "map":
            h, w, c = shape
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            base = np.stack([np.sin((xx + probe) / (2 + k) + step * 0.7) * np.cos(yy / (3 + k))
                             for k in range(c)], axis=-1)
            x = np.maximum(base + rng.normal(0, 0.05, base.shape), 0).astype(np.float32) * (1 + step)
            q, lo, hi, nf = packs.quantize(x, axis=-1)
            arrays.append((f"{name}/maps", q, lo, hi,
                           {"channels": list(range(c)), "full_shape": shape, "nonfinite": nf, "pool": 1}))
            for red, fn in (("mean", np.mean), ("max", np.max)):
                q, lo, hi, nf = packs.quantize(fn(x, axis=-1))
                arrays.append((f"{name}/{red}", q, lo, hi, {"nonfinite": nf}))
            if layer.get("is_conv"):
                g = np.clip(np.mean(x, axis=-1) / (np.max(x) + 1e-6), 0, 1)
                q, lo, hi, _ = packs.quantize(g)
                arrays.append((f"{name}/gradcam", (g * 255).astype(np.uint8), 0.0, 1.0, {}))
        elif layer["kind"] == "vector":
            d = shape[-1]
            v = rng.random(d).astype(np.float32)
            if layer is layers[-1]:
                v = v / v.sum()
            q, lo, hi, nf = packs.quantize(v)
            arrays.append((f"{name}/vector", q, lo, hi, {"nonfinite": nf}))
    return packs.encode_pack(arrays)


def kernel_pack(layers, step, rng):
    arrays = []
    for layer in layers:
        if layer.get("is_conv"):
            k = rng.normal(0, 1, layer["kernel_shape"]).astype(np.float32) * (1 + 0.1 * step)
            q, m, _ = packs.quantize_symmetric(k)
            arrays.append((f"{layer['name']}/kernel", q, -m, m,
                           {"full_shape": layer["kernel_shape"], "layer_class": layer["class"]}))
    return packs.encode_pack(arrays)


def epoch_record(layers, step, n_probes, n_classes, labels, rng, version=tags.FORMAT_VERSION,
                 nonfinite=False, histograms=True):
    probs = rng.random((n_probes, n_classes))
    probs = probs / probs.sum(axis=1, keepdims=True)
    preds = records.predictions(probs, np.argmax(probs, axis=1), labels, top_k=3)
    stats = {}
    for layer in layers[1:]:
        stats[layer["name"]] = {"mean": 0.1 * step + 0.2, "std": 0.3, "min": 0.0, "max": 1.0 + step,
                                "zero_frac": 0.4, "neg_frac": 0.0, "dead_frac": 0.1,
                                "nonfinite": 5 if nonfinite else 0}
    rec = records.build_epoch_record(
        step=step, epochs_completed=step + 1, wall_time=1.0e9 + step,
        logs={"loss": 1.0 / (step + 2), "accuracy": 0.5 + 0.01 * step},
        layers=stats,
        kernel_change={l["name"]: (None if step < 0 else 0.1 / (step + 1)) for l in layers if l.get("is_conv")},
        predictions=preds, nonfinite=nonfinite, nonfinite_weights=[],
        histograms={l["name"]: [-1.0, 1.0 + step] + rng.integers(0, 50, 30).tolist()
                    for l in layers if histograms and l["logged"] and l["kind"] in ("map", "vector")},
    )
    rec["version"] = version
    return rec


def write_run(run_dir, steps=(-1, 0, 1, 2), n_probes=3, hostile=False, class_names=None,
              layers=None, seed=0, epoch_version=tags.FORMAT_VERSION,
              run_version=tags.FORMAT_VERSION, content_version=None,
              skip_epoch_for=(), nonfinite_steps=(), corrupt_activation_steps=(), truncated=(),
              probe_images=None, pack_files=False, index_override=None, histograms=True, output_layer=None):
    """Write a synthetic cnn_tb run into ``run_dir`` (a TensorBoard run directory).

    ``skip_epoch_for``: steps whose activations are written but not their
    epoch record (an interrupted step). ``corrupt_activation_steps``: steps
    whose activation blobs are truncated. ``truncated``: ``(tag, step)`` pairs
    of the run, epoch or kernels records whose bytes are cut in half.
    ``probe_images``: bytes to store instead of the probes' PNGs.
    ``pack_files``: write the packs into pack files with ``cnn_tb/packs``
    index records (format 2) instead of blob sequences (format 1);
    ``index_override``: ``{step: fields}`` replacing fields of that step's
    index record (hostile paths, wrong spans). ``histograms=False``: epoch
    records without histograms (as runs written before they held them).
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    layers = [_complete_layer(l) for l in (layers or default_layers(hostile))]
    n_classes = layers[-1]["output_shape"][-1]
    if class_names is None:
        class_names = [HOSTILE, "square", "triangle"] if hostile else ["circle", "square", "triangle"]
        class_names = (class_names + [f"class {i}" for i in range(n_classes)])[:n_classes]
    labels = [i % n_classes for i in range(n_probes)]

    def cut(tag, step, data):
        return data[: len(data) // 2] if (tag, step) in truncated else data

    def md(tag):
        m = tags.create_summary_metadata(tag)
        if content_version is not None:
            m.plugin_data.content = json.dumps({"version": content_version, "kind": tags.TAG_KINDS[tag]}).encode()
        return m

    h, w, c = layers[0]["output_shape"]
    writer = file_writer(run_dir)
    with writer.as_default():
        first = steps[0]
        tf.summary.write(tags.RUN_TAG, tf.constant(cut(tags.RUN_TAG, first, records.encode_json(
            run_record(layers, n_probes, class_names, labels, version=run_version,
                       output_layer=output_layer)))), step=first,
            metadata=md(tags.RUN_TAG))
        images = []
        for i in range(n_probes):
            img = (rng.random((h, w, c)) * 255).astype(np.uint8)
            img[: h // 2, : w // 2] = [255, 128, 0][:c] if c == 3 else 200
            images.append(png_bytes(img if c != 1 else img[..., 0]))
        if probe_images is not None:
            images = list(probe_images)
        tf.summary.write(tags.PROBES_TAG, tf.constant(images), step=first, metadata=md(tags.PROBES_TAG))
        for step in steps:
            blobs = [activation_pack(layers, i, max(step, 0) + (step < 0) * 0.5, rng) for i in range(n_probes)]
            if step in corrupt_activation_steps:
                blobs = [p[: len(p) // 2] for p in blobs]
            kernels = cut(tags.KERNELS_TAG, step, kernel_pack(layers, step, rng))
            if pack_files:
                path = f"{tags.PACK_DIR}/fixture/{step}.packs"
                os.makedirs(os.path.join(run_dir, tags.PACK_DIR, "fixture"), exist_ok=True)
                spans, at = [], 0
                with open(os.path.join(run_dir, *path.split("/")), "wb") as f:
                    for b in blobs + [kernels]:
                        f.write(b)
                        spans.append([at, len(b)])
                        at += len(b)
                index = records.build_pack_index(file=path, activations=spans[:-1], kernels=spans[-1])
                index.update((index_override or {}).get(step, {}))
                tf.summary.write(tags.PACKS_TAG, tf.constant(records.encode_json(index)), step=step,
                                 metadata=md(tags.PACKS_TAG))
            else:
                tf.summary.write(tags.ACTIVATIONS_TAG, tf.constant(blobs), step=step,
                                 metadata=md(tags.ACTIVATIONS_TAG))
                tf.summary.write(tags.KERNELS_TAG, tf.constant([kernels]), step=step,
                                 metadata=md(tags.KERNELS_TAG))
            if step in skip_epoch_for:
                continue
            rec = epoch_record(layers, step, n_probes, n_classes, labels, rng, version=epoch_version,
                               nonfinite=step in nonfinite_steps, histograms=histograms)
            tf.summary.write(tags.EPOCH_TAG, tf.constant(cut(tags.EPOCH_TAG, step, records.encode_json(rec))),
                             step=step, metadata=md(tags.EPOCH_TAG))
        writer.flush()
    writer.close()
    return {"layers": layers, "class_names": class_names, "labels": labels, "steps": list(steps),
            "n_probes": n_probes, "epoch_steps": [s for s in steps if s not in skip_epoch_for],
            "corrupt_activation_steps": list(corrupt_activation_steps), "epoch_version": epoch_version,
            "run_version": run_version, "content_version": content_version}


def write_foreign(run_dir, plugin_name="other"):
    """Another plugin's data under cnn_tb's tag names, plus random bytes files.

    ``plugin_name=tags.PLUGIN_NAME`` writes content that is not cnn_tb's under
    cnn_tb's plugin name. Returns a description: ``{"plugin_name", "tags"}``.
    """
    import tensorflow as tf
    from tensorboard.compat.proto import summary_pb2

    writer = file_writer(run_dir)
    with writer.as_default():
        for tag in (tags.RUN_TAG, tags.EPOCH_TAG):
            m = summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name, content=b"xyz"),
                data_class=summary_pb2.DATA_CLASS_TENSOR)
            tf.summary.write(tag, tf.constant(b"not json"), step=0, metadata=m)
    writer.close()
    with open(os.path.join(run_dir, "events.out.tfevents.0.garbage"), "wb") as f:
        f.write(np.random.default_rng(1).bytes(3000))
    return {"plugin_name": plugin_name, "tags": [tags.RUN_TAG, tags.EPOCH_TAG]}


def truncate_last_event_file(run_dir, drop_bytes=200):
    """Cut the end off the newest event file of ``run_dir`` (a killed writer)."""
    files = sorted(
        (os.path.join(run_dir, f) for f in os.listdir(run_dir) if "tfevents" in f),
        key=os.path.getmtime,
    )
    path = files[-1]
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(max(0, size - drop_bytes))
    return path


def bad_zlib_pack():
    return zlib.compress(b"XXXX" + b"\0" * 20)
