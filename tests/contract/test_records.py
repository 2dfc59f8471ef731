"""Unit tests of cnn_tb.contract.records: the run and epoch JSON records."""

import json
import math

import numpy as np
import pytest

from cnn_tb.contract import records, tags
from cnn_tb.contract.tags import FormatError, NewerVersionError

LAYER_KEYS = [k for k, _ in records.LAYER_FIELDS]
RUN_KEYS = [k for k, _ in records.RUN_FIELDS]


def layer(name, **over):
    fields = {
        "name": name,
        "class": "Conv2D",
        "output_shape": [8, 8, 4],
        "params": 112,
        "inbound": [],
        "kind": "map",
        "logged": True,
        "activation": "relu",
        "is_conv": True,
        "kernel_shape": [3, 3, 3, 4],
        "parent": None,
    }
    fields.update(over)
    return records.layer_entry(**fields)


def sample_layers():
    return [
        layer("input", **{"class": "InputLayer"}, output_shape=[8, 8, 3], params=0, kind="input", logged=False,
              activation=None, is_conv=False, kernel_shape=None),
        layer("conv1", inbound=["input"]),
        layer("block/conv2", inbound=["conv1"], parent="block"),
        layer("flatten", **{"class": "Flatten"}, output_shape=[256], params=0, inbound=["block/conv2"],
              kind="vector", activation=None, is_conv=False, kernel_shape=None),
        layer("dense", **{"class": "Dense"}, output_shape=[3], params=771, inbound=["flatten"], kind="vector",
              activation="softmax", is_conv=False, kernel_shape=None),
    ]


def sample_run_record(**over):
    fields = dict(
        model_name="net",
        input_shape=[8, 8, 3],
        layers=sample_layers(),
        output_layer="dense",
        output_kind="softmax",
        gradcam_layers=["conv1", "block/conv2"],
        probes=records.probes_entry(count=3, labels=[0, 2, None], class_names=["a", "b", "c"],
                                    image_shape=[8, 8, 3]),
        settings={"budget_bytes": 1048576, "nested": {"ratio": 0.5, "names": ["x", "y"]}, "flag": True,
                  "none": None},
        cnn_tb_version="0.1.0",
    )
    fields.update(over)
    return records.build_run_record(**fields)


def round_trip_json(obj):
    return records.decode_json(records.encode_json(obj))


# ------------------------------------------------------------------ run record


def test_build_run_record_has_exactly_the_fields_and_version():
    rec = sample_run_record()
    assert list(rec) == RUN_KEYS
    assert rec["version"] == tags.FORMAT_VERSION
    assert list(rec["layers"][0]) == LAYER_KEYS
    assert list(rec["probes"]) == ["count", "labels", "class_names", "image_shape"]


def test_run_record_round_trip_equals_built_record():
    rec = sample_run_record()
    data = records.encode_json(rec)
    assert isinstance(data, bytes)
    back = records.parse_run_record(records.decode_json(data, what="run"))
    assert back == rec
    assert list(back) == RUN_KEYS
    assert [list(l) for l in back["layers"]] == [LAYER_KEYS] * len(rec["layers"])


def test_layer_entry_rejects_unknown_and_missing_fields():
    with pytest.raises(TypeError) as info:
        records.layer_entry(name="x", colour="red", weight=1)
    msg = str(info.value)
    assert msg.startswith("layer entry: unknown fields ['colour', 'weight'], missing fields ")
    assert msg.endswith(str([k for k in LAYER_KEYS if k != "name"]))


def test_probes_entry_rejects_unknown_and_missing_fields():
    with pytest.raises(TypeError) as info:
        records.probes_entry(count=1, labels=None, class_names=None, extra=2)
    assert str(info.value) == "probes entry: unknown fields ['extra'], missing fields ['image_shape']"


def test_build_run_record_rejects_unknown_and_missing_fields():
    fields = dict(sample_run_record())
    del fields["version"], fields["settings"], fields["gradcam_layers"]
    with pytest.raises(TypeError) as info:
        records.build_run_record(**fields, colour="red")
    assert str(info.value) == "run record: unknown fields ['colour'], missing fields ['gradcam_layers', 'settings']"


def test_build_epoch_record_rejects_unknown_and_missing_fields():
    with pytest.raises(TypeError) as info:
        records.build_epoch_record(step=0, bogus=1)
    msg = str(info.value)
    assert msg.startswith("epoch record: unknown fields ['bogus'], missing fields ['epochs_completed', ")
    assert "'version'" not in msg  # added by build_epoch_record


def test_parse_run_record_rejects_unusable_records():
    with pytest.raises(FormatError, match="no layer list"):
        records.parse_run_record({"layers": "nope"})
    with pytest.raises(FormatError, match="no layer list"):
        records.parse_run_record({"layers": []})
    with pytest.raises(FormatError, match="no layer list"):
        records.parse_run_record({})
    with pytest.raises(FormatError, match="not a JSON object"):
        records.parse_run_record(["layers"])
    with pytest.raises(FormatError, match="layer without a name"):
        records.parse_run_record({"layers": [{"name": "a"}, {"name": 3}]})
    with pytest.raises(FormatError, match="layer without a name"):
        records.parse_run_record({"layers": ["a"]})


def test_parse_run_record_type_checks_garbage():
    raw = {
        "version": "x",
        "model_name": None,
        "input_shape": "big",
        "layers": [
            {"name": "a", "kind": "weird", "inbound": [1, "b"], "params": "many", "output_shape": [4, "x", 2.0],
             "logged": 1, "is_conv": 0, "activation": 7, "kernel_shape": 5, "parent": 3},
            {"name": "b", "class": 5, "kind": ["map"], "inbound": "a"},
        ],
        "output_layer": 12,
        "output_kind": "probabilities",
        "gradcam_layers": "a",
        "probes": {"count": float("nan"), "labels": [1, None, 2.0, "x", True], "class_names": [1, None],
                   "image_shape": None},
        "settings": {"nan": float("nan"), "obj": object, "deep": [[[1.5]]], 3: "int key"},
        "cnn_tb_version": 2,
        "extra": "dropped",
    }
    rec = records.parse_run_record(raw)
    assert list(rec) == RUN_KEYS
    assert rec["version"] == 1
    assert rec["model_name"] == "model"
    assert rec["input_shape"] is None
    a, b = rec["layers"]
    assert a == {
        "name": "a", "class": "Layer", "output_shape": [4, None, 2], "params": 0, "inbound": ["b"],
        "kind": "other", "logged": True, "activation": "7", "is_conv": False, "kernel_shape": None, "parent": "3",
    }
    assert b["class"] == "5" and b["kind"] == "other" and b["inbound"] == []
    assert b["logged"] is False and b["activation"] is None and b["output_shape"] is None
    assert rec["output_layer"] == "b"  # "12" is not a layer: the last layer
    assert rec["output_kind"] == "logits"
    assert rec["gradcam_layers"] == []
    assert rec["probes"] == {"count": 0, "labels": [1, None, 2, None, None], "class_names": ["1", ""],
                             "image_shape": None}
    assert rec["settings"] == {"nan": None, "obj": str(object), "deep": [[[1.5]]], "3": "int key"}
    assert rec["cnn_tb_version"] == "2"
    json.dumps(rec, allow_nan=False)  # strict JSON


@pytest.mark.parametrize("count,expected", [(float("nan"), 0), (-4, 0), (5.9, 5), ("3", 0), (None, 0), (7, 7),
                                            (float("inf"), 0)])
def test_probe_count_is_a_non_negative_int(count, expected):
    rec = records.parse_run_record({"layers": [{"name": "a"}], "probes": {"count": count}})
    assert rec["probes"]["count"] == expected
    assert type(rec["probes"]["count"]) is int


def test_probes_that_are_not_an_object_get_defaults():
    rec = records.parse_run_record({"layers": [{"name": "a"}], "probes": [1, 2]})
    assert rec["probes"] == {"count": 0, "labels": None, "class_names": None, "image_shape": None}
    assert rec["settings"] == {}


def test_duplicate_layer_names_are_dropped_first_wins():
    rec = sample_run_record()
    rec["layers"].insert(2, dict(rec["layers"][1], **{"class": "Dense", "params": 1}))
    back = records.parse_run_record(round_trip_json(rec))
    assert [l["name"] for l in back["layers"]] == ["input", "conv1", "block/conv2", "flatten", "dense"]
    assert back["layers"][1]["class"] == "Conv2D" and back["layers"][1]["params"] == 112


def test_output_layer_not_among_layers_falls_back_to_last_layer():
    rec = records.parse_run_record(round_trip_json(sample_run_record(output_layer="gone")))
    assert rec["output_layer"] == "dense"
    rec = records.parse_run_record(round_trip_json(sample_run_record(output_layer="conv1")))
    assert rec["output_layer"] == "conv1"


def test_gradcam_layers_are_filtered_to_known_layers():
    rec = sample_run_record(gradcam_layers=["ghost", "block/conv2", "conv1", "conv9"])
    assert records.parse_run_record(round_trip_json(rec))["gradcam_layers"] == ["block/conv2", "conv1"]


def test_long_names_are_truncated():
    rec = records.parse_run_record({"layers": [{"name": "n" * 5000}], "model_name": "m" * 9000})
    assert rec["layers"][0]["name"] == "n" * 4096
    assert rec["model_name"] == "m" * 4096
    assert rec["output_layer"] == "n" * 4096


# ---------------------------------------------------------------- epoch record


def sample_epoch_record(**over):
    fields = dict(
        step=3,
        epochs_completed=4,
        wall_time=1234.5,
        logs={"loss": 0.25, "accuracy": 0.875, "val_loss": float("nan")},
        layers={
            "conv1": {"mean": 0.5, "std": 0.25, "min": 0.0, "max": 2.0, "zero_frac": 0.125, "neg_frac": 0.0,
                      "dead_frac": 0.0625, "nonfinite": 0},
            "dense": {"mean": float("nan"), "std": float("inf"), "min": -1.5, "max": 1.5, "zero_frac": 0.0,
                      "neg_frac": 0.5, "dead_frac": 0.0, "nonfinite": 2},
        },
        kernel_change={"conv1": 0.01, "conv2": float("nan")},
        predictions=[{"pred": 1, "true": 0, "confidence": 0.75, "probs": [0.125, 0.75, 0.125],
                      "top": [[1, 0.75], [0, 0.125], [2, 0.125]]}],
        nonfinite=False,
        nonfinite_weights=["conv2"],
        histograms={"conv1": [0.0, 2.0, 3, 0, 5], "dense": [-1.5, 1.5, 1, 1]},
    )
    fields.update(over)
    return records.build_epoch_record(**fields)


def test_build_epoch_record_has_exactly_the_fields_and_version():
    rec = sample_epoch_record()
    assert list(rec) == [k for k, _ in records.EPOCH_FIELDS]
    assert rec["version"] == tags.FORMAT_VERSION


def test_epoch_histograms_round_trip_and_bad_entries_are_dropped():
    rec = round_trip_json(sample_epoch_record())
    assert records.parse_epoch_histograms(rec) == {"conv1": [0.0, 2.0, 3.0, 0.0, 5.0], "dense": [-1.5, 1.5, 1.0, 1.0]}
    rec["histograms"] = {"a": [1.0, 0.0, 3], "b": [0, 1, -1], "c": [0, 1], "d": "x", "e": [0, 1, None], "f": [0, 1, 2],
                         "g": [0, 1, True], "h": [0.1234567891, 1, 12345678, 2.5], "i": [float("nan"), 1, 2]}
    # whole counts under 10**7 (what the writer writes) and the rest give the same as opt_float on every value
    assert records.parse_epoch_histograms(rec) == {"f": [0.0, 1.0, 2.0], "h": [0.1234568, 1.0, 12345680.0, 2.5]}
    del rec["histograms"]
    assert records.parse_epoch_histograms(rec) == {}  # records written before the field
    with pytest.raises(records.FormatError):
        records.parse_epoch_histograms([1, 2])


def test_epoch_record_round_trip_serves_only_the_served_fields():
    rec = sample_epoch_record()
    back = records.parse_epoch_record(round_trip_json(rec), 3)
    assert list(back) == list(records.EPOCH_SERVED)
    assert "version" not in back and "nonfinite_weights" not in back
    assert back == {
        "step": 3,
        "epochs_completed": 4,
        "wall_time": 1234.5,
        "logs": {"loss": 0.25, "accuracy": 0.875, "val_loss": None},
        "layers": {
            "conv1": {"mean": 0.5, "std": 0.25, "min": 0.0, "max": 2.0, "zero_frac": 0.125, "neg_frac": 0.0,
                      "dead_frac": 0.0625, "nonfinite": 0},
            "dense": {"mean": None, "std": None, "min": -1.5, "max": 1.5, "zero_frac": 0.0, "neg_frac": 0.5,
                      "dead_frac": 0.0, "nonfinite": 2},
        },
        "kernel_change": {"conv1": 0.01, "conv2": None},
        "predictions": [{"pred": 1, "true": 0, "confidence": 0.75, "probs": [0.125, 0.75, 0.125],
                         "top": [[1, 0.75], [0, 0.125], [2, 0.125]]}],
        "nonfinite": True,  # a layer has nonfinite > 0 although the flag is False
    }


def test_nan_is_written_as_null():
    data = records.encode_json(sample_epoch_record())
    obj = json.loads(data)
    assert obj["logs"]["val_loss"] is None
    assert obj["layers"]["dense"]["mean"] is None and obj["layers"]["dense"]["std"] is None
    assert obj["kernel_change"]["conv2"] is None
    assert b"NaN" not in data and b"Infinity" not in data


def test_nonfinite_flag():
    clean = {"conv1": {"nonfinite": 0}}
    assert records.parse_epoch_record(round_trip_json(sample_epoch_record(layers=clean)), 3)["nonfinite"] is False
    flagged = sample_epoch_record(layers=clean, nonfinite=True)
    assert records.parse_epoch_record(round_trip_json(flagged), 3)["nonfinite"] is True
    dirty = {"conv1": {"nonfinite": 0}, "conv2": {"nonfinite": 1}}
    assert records.parse_epoch_record(round_trip_json(sample_epoch_record(layers=dirty)), 3)["nonfinite"] is True


def test_the_event_step_wins_and_epochs_completed_defaults():
    obj = round_trip_json(sample_epoch_record(step=3, epochs_completed=4))
    back = records.parse_epoch_record(obj, 7)
    assert back["step"] == 7 and back["epochs_completed"] == 4
    del obj["epochs_completed"]
    assert records.parse_epoch_record(obj, 7)["epochs_completed"] == 8
    assert records.parse_epoch_record(obj, -1)["epochs_completed"] == 0


def test_parse_epoch_record_type_checks_garbage():
    with pytest.raises(FormatError, match="not a JSON object"):
        records.parse_epoch_record([1, 2], 0)
    back = records.parse_epoch_record(
        {
            "wall_time": "noon",
            "logs": {"loss": "low", "acc": True, 5: 0.5},
            "layers": {"a": "garbage", "b": {"mean": 1, "nonfinite": -3, "std": "x"}},
            "kernel_change": [1, 2],
            "predictions": [
                {"pred": 1.0, "true": "x", "confidence": None, "probs": "no",
                 "top": [[1, 0.5], [2], "x", [True, 0.25], ["cat", 0.125], [1.5, 0.1]]},
                "not a prediction",
            ],
            "nonfinite": 0,
        },
        2,
    )
    nothing = {s: None for s in tags.STAT_NAMES}
    assert back == {
        "step": 2,
        "epochs_completed": 3,
        "wall_time": None,
        "logs": {"loss": None, "acc": None, "5": 0.5},
        "layers": {"a": dict(nothing, nonfinite=0), "b": dict(nothing, mean=1.0, nonfinite=0)},
        "kernel_change": {},
        "predictions": [
            {"pred": 1, "true": None, "confidence": None, "probs": None,
             "top": [[1, 0.5], ["True", 0.25], ["cat", 0.125], ["1.5", 0.1]]},
            {"pred": None, "true": None, "confidence": None, "probs": None, "top": []},
        ],
        "nonfinite": False,
    }


def test_opt_float_keeps_float32_precision():
    assert records.opt_float(0.1234567891) == 0.1234568
    assert records.opt_float(3) == 3.0 and type(records.opt_float(3)) is float
    assert records.opt_float(np.float64(0.5)) == 0.5
    for bad in (float("nan"), float("inf"), -float("inf"), None, "1", True, [1.0]):
        assert records.opt_float(bad) is None


# ------------------------------------------------------------------ predictions


def expected_predictions(probs, pred, labels, top_k):
    """The predictions list, recomputed with numpy."""
    n, k = probs.shape
    out = []
    for i in range(n):
        p = probs[i]
        order = np.argsort(-p, kind="stable")[:top_k]
        out.append({
            "pred": int(pred[i]),
            "true": None if labels is None else int(labels[i]),
            "confidence": float(p[pred[i]]),
            "probs": np.round(p, 6).tolist() if k <= 100 else None,
            "top": [[int(c), float(np.round(p[c], 6))] for c in order],
        })
    return out


def assert_predictions_equal(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert list(g) == ["pred", "true", "confidence", "probs", "top"]
        assert g["pred"] == w["pred"] and type(g["pred"]) is int
        assert g["true"] == w["true"]
        assert g["confidence"] == pytest.approx(w["confidence"], abs=5e-7)
        if w["probs"] is None:
            assert g["probs"] is None
        else:
            np.testing.assert_allclose(g["probs"], w["probs"], rtol=0, atol=1e-12)
            for v in g["probs"]:
                assert abs(v * 1e6 - round(v * 1e6)) < 1e-6  # rounded to 6 decimals
        assert [c for c, _ in g["top"]] == [c for c, _ in w["top"]]
        np.testing.assert_allclose([v for _, v in g["top"]], [v for _, v in w["top"]], rtol=0, atol=1e-12)


def test_predictions_match_numpy():
    rng = np.random.default_rng(3)
    probs = rng.random((6, 5))
    probs /= probs.sum(axis=1, keepdims=True)
    pred = np.argmax(probs, axis=1)
    labels = np.array([0, 1, 2, 3, 4, 0])
    got = records.predictions(probs, pred, labels, top_k=3)
    assert_predictions_equal(got, expected_predictions(probs, pred, labels, 3))
    for g, p in zip(got, probs):
        assert g["top"][0][0] == g["pred"] == int(np.argmax(p))
        assert len(g["top"]) == 3
        assert g["confidence"] == pytest.approx(float(p.max()), abs=5e-7)


def test_predictions_known_values():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    got = records.predictions(probs, np.array([1, 2]), [1, 0], top_k=5)
    assert got == [
        {"pred": 1, "true": 1, "confidence": 0.6, "probs": [0.1, 0.6, 0.3], "top": [[1, 0.6], [2, 0.3], [0, 0.1]]},
        {"pred": 2, "true": 0, "confidence": 0.3, "probs": [0.5, 0.2, 0.3], "top": [[0, 0.5], [2, 0.3], [1, 0.2]]},
    ]


def test_predictions_without_labels_and_with_a_given_pred():
    probs = np.array([[0.1234567891, 0.8765432109]])
    got = records.predictions(probs, np.array([0]), None)
    assert got[0]["true"] is None
    assert got[0]["pred"] == 0  # the given prediction, not the argmax
    assert got[0]["confidence"] == pytest.approx(0.1234567891, abs=5e-7)
    assert got[0]["probs"] == [0.123457, 0.876543]
    assert got[0]["top"] == [[1, 0.876543], [0, 0.123457]]


def test_predictions_pred_out_of_range_has_nan_confidence():
    got = records.predictions(np.array([[0.5, 0.5]]), np.array([7]), None)
    assert got[0]["pred"] == 7 and math.isnan(got[0]["confidence"])
    assert json.loads(records.encode_json(got))[0]["confidence"] is None


@pytest.mark.parametrize("k", [100, 101])
def test_predictions_drop_probs_above_100_classes(k):
    rng = np.random.default_rng(k)
    probs = rng.random((2, k))
    probs /= probs.sum(axis=1, keepdims=True)
    pred = np.argmax(probs, axis=1)
    got = records.predictions(probs, pred, [0, 1], top_k=5)
    assert_predictions_equal(got, expected_predictions(probs, pred, [0, 1], 5))
    if k > 100:
        assert all(g["probs"] is None for g in got)
    else:
        assert all(len(g["probs"]) == k for g in got)
    assert all(len(g["top"]) == 5 for g in got)


def test_predictions_round_trip_through_the_epoch_record():
    rng = np.random.default_rng(0)
    probs = rng.random((3, 4)).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    pred = np.argmax(probs, axis=1)
    preds = records.predictions(probs, pred, [0, 1, 2], top_k=2)
    back = records.parse_epoch_record(round_trip_json(sample_epoch_record(predictions=preds)), 0)["predictions"]
    for b, p in zip(back, preds):
        assert b["pred"] == p["pred"] and b["true"] == p["true"]
        assert b["probs"] == [records.opt_float(v) for v in p["probs"]]
        assert b["top"] == [[c, records.opt_float(v)] for c, v in p["top"]]
        assert b["confidence"] == records.opt_float(p["confidence"])


# ------------------------------------------------------------------------ JSON


def test_encode_json_is_compact_strict_json():
    data = records.encode_json({"a": [1.5, float("inf"), -float("inf")], "b": (np.float32(0.5), np.int64(3)),
                                "c": np.bool_(True), "d": {"e": np.float64("nan")}})
    assert data == b'{"a":[1.5,null,null],"b":[0.5,3],"c":true,"d":{"e":null}}'


def test_decode_json_accepts_bytes_and_numpy_scalars():
    assert records.decode_json(b'{"version":1,"x":2}') == {"version": 1, "x": 2}
    assert records.decode_json(np.array(b'{"version":1}', dtype=object)) == {"version": 1}
    assert records.decode_json(bytearray(b'{"version":0}')) == {"version": 0}


@pytest.mark.parametrize("data", [b"", b"{", b"not json", b"\xff\xfe", "a str", 12, None])
def test_decode_json_not_json(data):
    with pytest.raises(FormatError, match="epoch is not valid JSON"):
        records.decode_json(data, what="epoch")


@pytest.mark.parametrize("data", [b"{}", b"[1]", b'"version"', b"1", b'{"Version": 1}'])
def test_decode_json_no_version(data):
    with pytest.raises(FormatError, match="run has no version"):
        records.decode_json(data, what="run")


@pytest.mark.parametrize("data", [b'{"version":3}', b'{"version":99}', b'{"version":"5"}', b'{"version":3.5}'])
def test_decode_json_newer_version(data):
    with pytest.raises(NewerVersionError, match="newer than 2"):
        records.decode_json(data, what="run")


@pytest.mark.parametrize("data", [b'{"version":"one"}', b'{"version":null}', b'{"version":[1]}',
                                  b'{"version":{}}', b'{"version":NaN}'])
def test_decode_json_bad_version_type(data):
    with pytest.raises(FormatError, match="bad version") as info:
        records.decode_json(data, what="run")
    assert not isinstance(info.value, NewerVersionError)


@pytest.mark.parametrize("data", [b'{"version":Infinity}', b'{"version":1e999}'])
def test_decode_json_infinite_version_is_a_format_error(data):
    with pytest.raises(FormatError):
        records.decode_json(data, what="run")


def test_wall_time_keeps_sub_second_precision():
    rec = sample_epoch_record(wall_time=1795679123.25)
    assert records.parse_epoch_record(round_trip_json(rec), 3)["wall_time"] == 1795679123.25


# ------------------------------------------- details pinned by mutation testing


def test_build_rejects_only_unknown_or_only_missing_fields():
    with pytest.raises(TypeError, match=r"^probes entry: unknown fields \['extra'\], missing fields \[\]$"):
        records.probes_entry(count=1, labels=None, class_names=None, image_shape=[2, 2, 3], extra=2)
    with pytest.raises(TypeError, match=r"^probes entry: unknown fields \[\], missing fields \['image_shape'\]$"):
        records.probes_entry(count=1, labels=None, class_names=None)


def test_parse_messages_are_exact():
    cases = [
        (lambda: records.parse_run_record(["layers"]), "run record is not a JSON object"),
        (lambda: records.parse_run_record({"layers": []}), "run record has no layer list"),
        (lambda: records.parse_run_record({"layers": [{"name": 3}]}), "run record has a layer without a name"),
        (lambda: records.parse_epoch_record([], 0), "epoch record is not a JSON object"),
        (lambda: records.decode_json(b"{"), "record is not valid JSON"),
        (lambda: records.decode_json(b"[]"), "record has no version"),
        (lambda: records.decode_json(b'{"version": 99}'), f"record has format version 99, newer than {tags.FORMAT_VERSION}"),
        (lambda: records.decode_json(b'{"version": 99}', what="cnn_tb/epoch step 3"),
         f"cnn_tb/epoch step 3 has format version 99, newer than {tags.FORMAT_VERSION}"),
    ]
    for call, message in cases:
        with pytest.raises(FormatError) as info:
            call()
        assert str(info.value) == message


def test_overflowing_wall_time_is_null():
    obj = records.decode_json(b'{"version": 1, "wall_time": 1e400, "nonfinite": "yes"}')
    rec = records.parse_epoch_record(obj, 0)
    assert rec["wall_time"] is None
    assert rec["nonfinite"] is False  # a string is not a flag


def test_shapes_keep_at_most_16_dimensions():
    rec = json.loads(records.encode_json(sample_run_record()))
    rec["layers"][0]["output_shape"] = list(range(1, 21))
    assert records.parse_run_record(rec)["layers"][0]["output_shape"] == list(range(1, 17))


def _nested(depth, leaf, kind):
    x = leaf
    for _ in range(depth):
        x = [x] if kind == "list" else {"k": x}
    return x


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_settings_are_cut_below_8_levels(kind):
    """Values nested up to 8 levels inside ``settings`` are kept; deeper ones are null."""
    rec = json.loads(records.encode_json(sample_run_record()))
    rec["settings"] = {"deep": _nested(7, 5, kind)}  # the leaf is 8 levels below ``settings``
    assert records.parse_run_record(rec)["settings"] == {"deep": _nested(7, 5, kind)}
    rec["settings"] = {"deep": _nested(8, 5, kind)}
    assert records.parse_run_record(rec)["settings"] == {"deep": _nested(8, None, kind)}


def test_predictions_top_5_by_default_and_a_pred_equal_to_k_has_nan_confidence():
    probs = np.full((1, 8), 0.125)
    assert len(records.predictions(probs, np.array([0]), None)[0]["top"]) == 5
    got = records.predictions(np.array([[0.5, 0.5]]), np.array([2]), None)
    assert got[0]["pred"] == 2 and math.isnan(got[0]["confidence"])
