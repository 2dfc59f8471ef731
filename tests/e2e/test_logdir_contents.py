"""What a LayerFlow training run leaves in the log directory, read through
TensorBoard's own data provider (acceptance 1 and 5 of the core issue)."""

import glob
import os

import numpy as np
import pytest
from tensorboard.compat.proto import summary_pb2

from cnn_tb.contract import records, tags
from tests.support.tb_data import LogDir

RUN = tags.RUN_NAME
CONV = ["conv1", "conv2", "conv3", "conv4"]


@pytest.fixture(scope="module")
def logdir(demo_run):
    return LogDir(demo_run["log_dir"])


def test_runs_sit_beside_keras_runs(logdir):
    assert logdir.runs() == ["cnn_tb", "train", "validation"]


def test_image_tags_for_every_conv_layer(logdir):
    tags = set(logdir.tags("images", "blobs")[RUN])
    for layer in CONV:
        assert f"feature_maps/{layer}" in tags
        assert f"kernels/{layer}" in tags
        assert f"heatmaps/max_activation/{layer}" in tags
        assert f"heatmaps/gradcam/{layer}" in tags
    assert "transformation/channel_mean" in tags
    # BatchNormalization pictures repeat their input's (per-channel affine): left out
    assert "feature_maps/bn1" not in tags


def test_scalar_and_histogram_tags(logdir):
    scalars = set(logdir.tags("scalars", "scalars")[RUN])
    for layer in CONV + ["act1", "bn2", "dense", "predictions"]:
        for stat in tags.STAT_NAMES:
            assert f"activation_stats/{layer}/{stat}" in scalars
    for layer in CONV:
        assert f"kernel_change/{layer}" in scalars
    assert "predictions/probe_accuracy" in scalars
    hists = set(logdir.tags("histograms", "tensors")[RUN])
    assert {f"activation_histograms/{l}" for l in CONV} <= hists


def test_plugin_tags_have_data_class(logdir):
    tensors = logdir.tags(tags.PLUGIN_NAME, "tensors")[RUN]
    blobs = logdir.tags(tags.PLUGIN_NAME, "blobs")[RUN]
    assert set(tensors) == {tags.RUN_TAG, tags.PACKS_TAG, tags.EPOCH_TAG}
    assert set(blobs) == {tags.PROBES_TAG}
    raw = logdir.mux.SummaryMetadata(RUN, tags.PROBES_TAG)
    assert raw.data_class == summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    assert logdir.mux.SummaryMetadata(RUN, tags.EPOCH_TAG).data_class == summary_pb2.DATA_CLASS_TENSOR
    index = logdir.mux.SummaryMetadata(RUN, tags.PACKS_TAG)
    assert index.data_class == summary_pb2.DATA_CLASS_TENSOR
    assert tags.parse_plugin_content(index.plugin_data.content) == {"version": 2, "kind": "packs"}


def test_packs_live_in_one_file_per_step_beside_the_event_files(logdir, demo_run):
    """The big part of a step stays out of the event stream (and TensorBoard's memory)."""
    run_dir = os.path.join(demo_run["log_dir"], RUN)
    files = sorted(glob.glob(os.path.join(run_dir, "packs", "*", "*.packs")))
    assert [os.path.basename(f) for f in files] == ["-1.packs", "0.packs", "1.packs", "2.packs"]
    for step, path in zip((-1, 0, 1, 2), files):
        record = records.parse_pack_index(records.decode_json(logdir.tensors(RUN, tags.PACKS_TAG, tags.PLUGIN_NAME)[step]), step)
        assert os.path.join(run_dir, *record["file"].split("/")) == path
        spans = record["activations"] + [record["kernels"]]
        assert len(record["activations"]) == len(demo_run["probes"])
        assert sum(n for _, n in spans) == os.path.getsize(path)  # nothing else in the file
        assert [o for o, _ in spans] == list(np.cumsum([0] + [n for _, n in spans[:-1]]))



def test_steps_line_up_with_keras_tensorboard(logdir):
    keras_steps = sorted(logdir.scalars("train", "epoch_loss"))
    assert keras_steps == [0, 1, 2]
    epochs = logdir.epochs()
    assert sorted(epochs) == [-1, 0, 1, 2]
    # the loss stored with our step e is the loss keras logged at step e
    train_loss = logdir.scalars("train", "epoch_loss")
    for step in keras_steps:
        assert epochs[step]["logs"]["loss"] == pytest.approx(train_loss[step], rel=1e-5)
        assert epochs[step]["epochs_completed"] == step + 1
    assert epochs[-1]["logs"] == {}
    images = logdir.images(RUN, "feature_maps/conv1")
    assert sorted(images) == [-1, 0, 1, 2]


def test_run_record_describes_model_and_probes(logdir, demo_run):
    run = records.decode_json(next(iter(logdir.tensors(RUN, tags.RUN_TAG, tags.PLUGIN_NAME).values())))
    names = [l["name"] for l in run["layers"]]
    assert names[:4] == ["input", "conv1", "bn1", "act1"]
    by_name = {l["name"]: l for l in run["layers"]}
    assert by_name["conv2"]["output_shape"] == [16, 16, 64]
    assert by_name["conv2"]["inbound"] == ["act1"]
    assert by_name["conv1"]["kernel_shape"] == [3, 3, 3, 32]
    assert by_name["dropout"]["logged"] is False and by_name["flatten"]["logged"] is False
    assert by_name["predictions"]["params"] == 128 * 10 + 10
    assert run["output_kind"] == "softmax"
    probes = demo_run["probes"]
    assert run["probes"]["labels"] == probes.labels.tolist()
    assert run["probes"]["class_names"] == probes.class_names
    pngs = logdir.blobs(RUN, tags.PROBES_TAG, tags.PLUGIN_NAME)
    (seq,) = pngs.values()
    from tests.support.tb_data import _decode

    assert len(seq) == len(probes)
    np.testing.assert_array_equal(_decode(seq[0]), probes.uint8_images[0])


def test_predictions_and_probe_accuracy(logdir, demo_run):
    model, probes = demo_run["model"], demo_run["probes"]
    probs = model.predict(probes.images, verbose=0)
    last = logdir.epochs()[2]
    for i, p in enumerate(last["predictions"]):
        np.testing.assert_allclose(p["probs"], probs[i], atol=1e-5)
        assert p["pred"] == int(np.argmax(probs[i]))
        assert p["true"] == int(probes.labels[i])
    acc = logdir.scalars(RUN, "predictions/probe_accuracy")[2]
    assert acc == pytest.approx(np.mean(np.argmax(probs, 1) == probes.labels))


def test_bytes_per_epoch_within_budget(demo_run):
    """The flow records keep to the documented per-probe budget."""
    log = LogDir(demo_run["log_dir"])
    for packs in [log.packs(2)]:
        for pack in packs:
            raw = sum(arr.nbytes for arr, _ in pack.values())
            assert raw <= 64 * 1024


def test_activation_histogram_counts_every_value(logdir, demo_run):
    model, probes = demo_run["model"], demo_run["probes"]
    probs = model.predict(probes.images, verbose=0)
    hist = logdir.tensors(RUN, "activation_histograms/predictions", "histograms")[2]
    assert hist.shape == (30, 3)
    assert hist[:, 2].sum() == probs.size
    assert hist[0, 0] == pytest.approx(probs.min(), rel=1e-5) and hist[-1, 1] == pytest.approx(probs.max(), rel=1e-5)
    top = int(np.argmax(hist[:, 2]))
    inside = np.sum((probs >= hist[top, 0]) & (probs <= hist[top, 1]))
    assert abs(inside - hist[top, 2]) <= 1


def test_images_dashboard_gets_the_first_image_probes(logdir, tmp_path, demo_run):
    assert [len(v) for v in logdir.images(RUN, "feature_maps/conv1").values()] == [2, 2, 2, 2]
    import cnn_tb

    logger = cnn_tb.LayerLogger(str(tmp_path), demo_run["probes"], image_probes=None).attach(demo_run["model"])
    assert logger.log(0)
    logger.close()
    assert len(LogDir(str(tmp_path)).images(RUN, "heatmaps/gradcam/conv1")[0]) == len(demo_run["probes"])
