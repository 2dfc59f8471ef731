"""Unit tests of cnn_tb.contract.feature_viz_record: the feature visualization record."""

import json

import pytest

from cnn_tb.contract import feature_viz_record, records, tags
from cnn_tb.contract.tags import FormatError


def round_trip_json(obj):
    return records.decode_json(records.encode_json(obj))


def sample_feature_viz(**over):
    fields = dict(
        file="packs/s1/4.fviz", steps=64, seed=0, seconds=1.5,
        layers=[feature_viz_record.feature_viz_layer(name="conv1", channels=[0, 1, 2], image_shape=[32, 32, 3],
                                          span=[0, 900], objective=[0.5, 0.25, 1.0])],
        cost=feature_viz_record.feature_viz_cost(share=0.03, spent_seconds=1.5, train_seconds=50.0, max_share=0.05),
    )
    fields.update(over)
    return feature_viz_record.build_feature_viz_record(**fields)


def test_feature_viz_record_round_trip():
    rec = sample_feature_viz()
    assert rec["version"] == tags.FORMAT_VERSION
    got = feature_viz_record.parse_feature_viz_record(round_trip_json(rec), 4)
    assert got == rec


def test_feature_viz_record_fields_are_exact():
    with pytest.raises(TypeError, match="unknown fields"):
        feature_viz_record.build_feature_viz_record(**dict(sample_feature_viz(), extra=1))
    with pytest.raises(TypeError, match="missing fields"):
        feature_viz_record.feature_viz_layer(name="x")


@pytest.mark.parametrize("bad", [
    {"name": 3},                                   # no name
    {"span": [-1, 4]},                             # a negative offset
    {"image_shape": [32, 32, 2]},                  # neither grey nor RGB
    {"image_shape": [32, 32]},
    {"channels": []},
    {"channels": "0,1"},
])
def test_feature_viz_record_drops_unusable_layers(bad):
    rec = sample_feature_viz()
    raw = json.loads(json.dumps(rec))
    raw["layers"].append(dict(raw["layers"][0], name="conv2", **{k: v for k, v in bad.items() if k != "name"}))
    if "name" in bad:
        raw["layers"][-1]["name"] = bad["name"]
    got = feature_viz_record.parse_feature_viz_record(raw, 4)
    assert [l["name"] for l in got["layers"]] == ["conv1"]


def test_feature_viz_record_hostile_values():
    raw = json.loads(json.dumps(sample_feature_viz()))
    raw["layers"][0]["objective"] = ["x", None]  # wrong length: nulls, one per channel
    raw["layers"].append(dict(raw["layers"][0]))  # a repeated layer: the first wins
    raw["cost"] = "cheap"
    raw["seconds"] = float("nan")
    got = feature_viz_record.parse_feature_viz_record(raw, 4)
    assert len(got["layers"]) == 1 and got["layers"][0]["objective"] == [None, None, None]
    assert got["cost"] == {"share": None, "spent_seconds": None, "train_seconds": None, "max_share": None}
    assert got["seconds"] is None


@pytest.mark.parametrize("path", ["../x.fviz", "/etc/passwd", "a/../../b", "", None, "a\\b"])
def test_feature_viz_record_refuses_paths_that_leave_the_run(path):
    raw = json.loads(json.dumps(sample_feature_viz()))
    raw["file"] = path
    with pytest.raises(FormatError, match="no usable file path"):
        feature_viz_record.parse_feature_viz_record(raw, 4)
    with pytest.raises(FormatError, match="not a JSON object"):
        feature_viz_record.parse_feature_viz_record([raw], 4)


def test_build_errors_name_the_record_part():
    with pytest.raises(TypeError, match="^feature visualization layer: unknown fields"):
        feature_viz_record.feature_viz_layer(name="x", channels=[0], image_shape=[2, 2, 1], span=[0, 1], objective=[0.1], z=1)
    with pytest.raises(TypeError, match="^feature visualization cost: unknown fields"):
        feature_viz_record.feature_viz_cost(share=0.1, spent_seconds=1, train_seconds=1, max_share=None, z=1)
    with pytest.raises(TypeError, match="^feature visualization record: unknown fields"):
        feature_viz_record.build_feature_viz_record(**dict(sample_feature_viz(), z=1))


@pytest.mark.parametrize("shape, kept", [([1, 32, 3], True), ([0, 32, 3], False), (["a", 32, 3], False),
                                         ([32, 32, 1], True)])
def test_tile_shapes_need_positive_sides(shape, kept):
    raw = json.loads(json.dumps(sample_feature_viz()))
    raw["layers"][0]["image_shape"] = shape
    got = feature_viz_record.parse_feature_viz_record(raw, 4)
    assert [l["name"] for l in got["layers"]] == (["conv1"] if kept else [])


def test_a_bad_layer_does_not_hide_the_ones_after_it():
    raw = json.loads(json.dumps(sample_feature_viz()))
    good = raw["layers"][0]
    raw["layers"] = [7, dict(good, name=3), dict(good, name="bad", span=None), good, dict(good, name="conv2")]
    got = feature_viz_record.parse_feature_viz_record(raw, 4)
    assert [l["name"] for l in got["layers"]] == ["conv1", "conv2"]
    del raw["layers"]
    assert feature_viz_record.parse_feature_viz_record(raw, 4)["layers"] == []
