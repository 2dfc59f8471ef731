"""The pool run record and the pool record (cnn_tb.contract.records), the pool tags
and pack kinds: built with exactly their fields, read back type-checked."""

import pytest

from cnn_tb.contract import packs, pool_records, records, tags
from cnn_tb.contract.tags import FormatError


def sample_run(**over):
    fields = dict(
        count=3, labels=[0, 1, 1], class_names=["a", "b"], num_classes=2, image_shape=[8, 8, 3],
        sprite={"file": "pool/s/sprite.png", "length": 120, "columns": 2, "thumb": [8, 8]},
        layers=["input", "conv1"],
        examples={"conv1": {"channels": [0, 1], "top_k": 2,
                            "field": {"size": [3.0, 3.0], "jump": [1.0, 1.0], "top": [0.0, 0.0], "exact": True}}},
        embedding_layers=["dense"], every_n_epochs=1,
    )
    fields.update(over)
    return pool_records.build_pool_run_record(**fields)


def sample_pool(**over):
    fields = dict(step=4, accuracy=0.5, class_separation={"input": 0.25, "conv1": None}, confusion=[[1, 0], [1, 1]],
                  confused_pairs=[{"true": 1, "pred": 0, "count": 1, "examples": [1]}], file="pool/s/4.pool", span=[0, 99])
    fields.update(over)
    return pool_records.build_pool_record(**fields)


def test_tags_and_pack_kinds():
    assert tags.TAG_KINDS[tags.POOL_RUN_TAG] == "pool_run" and tags.TAG_KINDS[tags.POOL_TAG] == "pool"
    assert tags.POOL_RUN_TAG not in tags.BLOB_TAGS and tags.POOL_TAG not in tags.BLOB_TAGS
    meta = tags.create_summary_metadata(tags.POOL_TAG)
    assert tags.parse_plugin_content(meta.plugin_data.content) == {"version": tags.FORMAT_VERSION, "kind": "pool"}
    assert packs.POOL_KINDS == ("nearest", "margin", "examples", "pred", "confidence")
    assert tags.TAGS["class_separation"] == "class_separation"
    assert tags.TAGS["confusion_matrix"] == "predictions/confusion_matrix"


def test_build_has_exactly_the_fields_and_version():
    run = sample_run()
    assert list(run) == [k for k, _ in pool_records.POOL_RUN_FIELDS] and run["version"] == tags.FORMAT_VERSION
    with pytest.raises(TypeError, match=r"pool run record: unknown fields \['extra'\], missing fields \[\]"):
        sample_run(extra=1)
    with pytest.raises(TypeError, match=r"pool record: unknown fields \[\], missing fields \['span'\]"):
        pool_records.build_pool_record(**{k: v for k, v in sample_pool().items() if k not in ("version", "span")})


def test_round_trip():
    run = records.decode_json(records.encode_json(sample_run()))
    assert pool_records.parse_pool_run_record(run, -1) == dict(sample_run(), step=-1)
    pool = records.decode_json(records.encode_json(sample_pool(accuracy=float("nan"))))
    parsed = pool_records.parse_pool_record(pool, 4)
    assert parsed == dict(sample_pool(accuracy=None), step=4)


def test_garbage_is_type_checked():
    run = pool_records.parse_pool_run_record(
        {"count": -3, "labels": "x", "class_names": [1, None], "num_classes": True, "image_shape": [8, "a"],
         "sprite": {"file": "pool/s.png", "length": "9", "columns": 0, "thumb": None},
         "layers": ["a", 3], "examples": {"c": {"channels": [1, "x", True, 2.0], "top_k": -1, "field": 5}, "d": 7},
         "embedding_layers": None, "every_n_epochs": 0}, 2)
    assert run["count"] == 0 and run["labels"] == [] and run["class_names"] == ["1", ""]
    assert run["sprite"] == {"file": "pool/s.png", "length": 0, "columns": 1, "thumb": None}
    assert run["layers"] == ["a"] and run["embedding_layers"] == [] and run["every_n_epochs"] == 1
    assert run["examples"]["c"] == {"channels": [1, 2], "top_k": 0,
                                    "field": {"size": None, "jump": None, "top": None, "exact": False}}
    assert run["examples"]["d"]["channels"] == []
    pool = pool_records.parse_pool_record(
        {"accuracy": "1", "class_separation": {"a": "x", "b": 0.5}, "confusion": [[1, -2, "z"], 3],
         "confused_pairs": [{"true": "a", "count": -1, "examples": [3, None]}, 4], "file": "../x", "span": [1]}, 0)
    assert pool["accuracy"] is None and pool["class_separation"] == {"a": None, "b": 0.5}
    assert pool["confusion"] == [[1, 0]] and pool["file"] is None and pool["span"] is None
    assert pool["confused_pairs"][0] == {"true": None, "pred": None, "count": 0, "examples": [3]}
    assert pool["confused_pairs"][1] == {"true": None, "pred": None, "count": 0, "examples": []}


@pytest.mark.parametrize("bad", [[], "x", {"sprite": {"file": "/abs.png"}}, {"sprite": {"file": "a/../../b"}}])
def test_unusable_pool_run_records_are_format_errors(bad):
    with pytest.raises(FormatError):
        pool_records.parse_pool_run_record(bad, 0)


def test_pool_record_must_be_an_object():
    with pytest.raises(FormatError, match="pool record of step 3 is not a JSON object"):
        pool_records.parse_pool_record([1], 3)


def test_pool_run_record_errors_say_what_is_wrong():
    from cnn_tb.contract.tags import FormatError

    with pytest.raises(FormatError, match="^pool run record of step 2 is not a JSON object$"):
        pool_records.parse_pool_run_record([1], 2)
    with pytest.raises(FormatError, match="^pool run record of step 2 has no usable sprite path$"):
        pool_records.parse_pool_run_record({"version": 2, "sprite": {"file": "../x.png"}}, 2)
