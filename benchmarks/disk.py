"""Item 3: bytes written per logged step, by kind, read back from the event files.

Every record of every event file of a run is parsed as an ``event_pb2.Event``
(records read with ``tf.data.TFRecordDataset``). Each summary value is charged
to a kind by its tag (``cnn_tb.contract.tags.TAGS`` prefixes and plugin tags) at its
serialized size; what is left of the record (TFRecord framing: 16 bytes, the
event's step and wall time, the value's field header) is charged to
``framing``. Record sizes add up exactly to the file sizes. The pack files of a
step (format 2) are charged to ``flow_records`` of that step.
"""

import os

_FRAMING = 16  # TFRecord: uint64 length + 2 x uint32 CRC


def kind_of(tag):
    from cnn_tb.contract import tags

    t = tags.TAGS
    if tag in (tags.ACTIVATIONS_TAG, tags.EPOCH_TAG, tags.PACKS_TAG):
        return "flow_records"
    if tag == tags.KERNELS_TAG:
        return "flow_kernels"
    if tag in (tags.RUN_TAG, tags.PROBES_TAG):
        return "flow_run_once"
    if tag.startswith(t["feature_maps"] + "/") or tag == t["channel_mean"]:
        return "feature_map_images"
    if tag.startswith(t["kernels"] + "/"):
        return "kernel_images"
    if tag.startswith("heatmaps/"):
        return "heatmap_images"
    if tag.startswith(t["activation_hist"] + "/"):
        return "histograms"
    if tag.startswith(t["activation_stats"] + "/") or tag.startswith(t["kernel_change"] + "/") \
            or tag == t["probe_accuracy"]:
        return "scalars"
    if tag == t["predictions"]:
        return "text"
    # keras.callbacks.TensorBoard's own tags
    if tag.endswith("_image") or "/image" in tag:
        return "images"
    if "histogram" in tag:
        return "histograms"
    return "other"


def analyse_run(run_dir):
    """Bytes per logged step of the run in ``run_dir``.

    Returns:
        ``{"files_bytes", "steps", "per_step": {kind: mean bytes over logged
        steps >= 0}, "per_step_total", "untrained_step_bytes", "once_bytes"}``.
    """
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2

    from cnn_tb.contract import tags

    files = sorted(
        os.path.join(run_dir, f) for f in os.listdir(run_dir) if f.startswith("events.out.tfevents")
    ) if os.path.isdir(run_dir) else []
    files_bytes = sum(os.path.getsize(f) for f in files)
    by_step = {}
    once = 0
    header = 0
    for f in files:
        for raw in tf.data.TFRecordDataset(f).as_numpy_iterator():
            ev = event_pb2.Event.FromString(raw)
            size = len(raw) + _FRAMING
            if not ev.HasField("summary"):
                header += size
                continue
            kinds = by_step.setdefault(ev.step, {})
            charged = 0
            for v in ev.summary.value:
                k = kind_of(v.tag)
                b = v.ByteSize()
                if k == "flow_run_once":
                    once += b
                else:
                    kinds[k] = kinds.get(k, 0) + b
                charged += b
            kinds["framing"] = kinds.get("framing", 0) + size - charged
    # pack files (format 2): <run>/packs/<session>/<step>.packs hold the packs of a step
    pack_root = os.path.join(run_dir, tags.PACK_DIR)
    for folder, _, names in os.walk(pack_root) if os.path.isdir(pack_root) else ():
        for name in names:
            if name.endswith(".packs"):
                size = os.path.getsize(os.path.join(folder, name))
                files_bytes += size
                kinds = by_step.setdefault(int(name[: -len(".packs")]), {})
                kinds["flow_records"] = kinds.get("flow_records", 0) + size
    steps = sorted(s for s in by_step if s >= 0)
    per_step = {}
    for s in steps:
        for k, b in by_step[s].items():
            per_step[k] = per_step.get(k, 0) + b / len(steps)
    return {
        "run_dir": os.path.basename(run_dir.rstrip("/")),
        "files_bytes": files_bytes,
        "steps": steps,
        "per_step": per_step,
        "per_step_total": sum(per_step.values()),
        "untrained_step_bytes": sum(by_step.get(-1, {}).values()) or None,
        "once_bytes": once,
        "file_header_bytes": header,
    }
