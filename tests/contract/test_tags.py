"""Unit tests of cnn_tb.contract.tags: plugin metadata content and SummaryMetadata."""

import json

import pytest
from tensorboard.compat.proto import summary_pb2

from cnn_tb.contract import tags

PLUGIN_TAGS = sorted(tags.TAG_KINDS)


def test_tag_table_is_consistent():
    assert tags.TAG_KINDS == {
        "cnn_tb/run": "run",
        "cnn_tb/probes": "probes",
        "cnn_tb/epoch": "epoch",
        "cnn_tb/activations": "activations",
        "cnn_tb/kernels": "kernels",
        "cnn_tb/packs": "packs",
        "cnn_tb/feature_viz": "feature_viz",
        "cnn_tb/pool_run": "pool_run",
        "cnn_tb/pool": "pool",
    }
    assert tags.BLOB_TAGS == {"cnn_tb/probes", "cnn_tb/activations", "cnn_tb/kernels"}
    assert issubclass(tags.NewerVersionError, tags.FormatError)
    assert issubclass(tags.FormatError, ValueError)


@pytest.mark.parametrize("tag", PLUGIN_TAGS)
def test_plugin_content_is_versioned_json_of_the_kind(tag):
    content = tags.plugin_content(tag)
    assert isinstance(content, bytes)
    assert json.loads(content.decode("utf-8")) == {"version": tags.FORMAT_VERSION, "kind": tags.TAG_KINDS[tag]}


@pytest.mark.parametrize("tag", PLUGIN_TAGS)
def test_plugin_content_round_trip(tag):
    parsed = tags.parse_plugin_content(tags.plugin_content(tag))
    assert parsed == {"version": tags.FORMAT_VERSION, "kind": tags.TAG_KINDS[tag]}
    # also from a bytearray / memoryview (what protobuf fields may hand over)
    assert tags.parse_plugin_content(memoryview(tags.plugin_content(tag))) == parsed


def test_unknown_tag_has_no_plugin_content():
    with pytest.raises(KeyError):
        tags.plugin_content("cnn_tb/nope")


def test_older_version_is_accepted():
    content = json.dumps({"version": 0, "kind": "epoch"}).encode()
    assert tags.parse_plugin_content(content) == {"version": 0, "kind": "epoch"}


@pytest.mark.parametrize("version", [tags.FORMAT_VERSION + 1, 99, "3"])
def test_newer_version_raises_newer_version_error(version):
    content = json.dumps({"version": version, "kind": "run"}).encode()
    with pytest.raises(tags.NewerVersionError, match=f"version {int(version)}"):
        tags.parse_plugin_content(content)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"xyz",  # another plugin's content
        b"not json at all",
        b"\xff\xfe\x00",  # not UTF-8
        b"[1, 2]",  # JSON, not an object
        b'"run"',
        b'{"kind": "run"}',  # no version
        b'{"version": 1}',  # no kind
        b'{"version": "one", "kind": "run"}',
        b'{"version": null, "kind": "run"}',
        b'{"version": [1], "kind": "run"}',
    ],
)
def test_foreign_content_raises_format_error(content):
    with pytest.raises(tags.FormatError) as info:
        tags.parse_plugin_content(content)
    assert not isinstance(info.value, tags.NewerVersionError)
    assert "not cnn_tb plugin metadata" in str(info.value)


def test_check_version():
    tags.check_version(tags.FORMAT_VERSION, "x")
    tags.check_version(tags.FORMAT_VERSION - 1, "x")
    with pytest.raises(tags.NewerVersionError, match="thing has format version 3, newer than 2"):
        tags.check_version(tags.FORMAT_VERSION + 1, "thing")


@pytest.mark.parametrize("tag", PLUGIN_TAGS)
def test_create_summary_metadata(tag):
    md = tags.create_summary_metadata(tag, description="about it")
    assert isinstance(md, summary_pb2.SummaryMetadata)
    assert md.plugin_data.plugin_name == tags.PLUGIN_NAME == "cnn_tb"
    assert md.plugin_data.content == tags.plugin_content(tag)
    assert tags.parse_plugin_content(md.plugin_data.content)["kind"] == tags.TAG_KINDS[tag]
    assert md.summary_description == "about it"
    expected = summary_pb2.DATA_CLASS_BLOB_SEQUENCE if tag in tags.BLOB_TAGS else summary_pb2.DATA_CLASS_TENSOR
    assert md.data_class == expected


def test_data_classes_by_tag():
    classes = {tag: tags.create_summary_metadata(tag).data_class for tag in PLUGIN_TAGS}
    assert classes == {
        tags.RUN_TAG: summary_pb2.DATA_CLASS_TENSOR,
        tags.EPOCH_TAG: summary_pb2.DATA_CLASS_TENSOR,
        tags.PROBES_TAG: summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
        tags.ACTIVATIONS_TAG: summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
        tags.KERNELS_TAG: summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
        tags.PACKS_TAG: summary_pb2.DATA_CLASS_TENSOR,
        tags.FEATURE_VIZ_TAG: summary_pb2.DATA_CLASS_TENSOR,
        tags.POOL_RUN_TAG: summary_pb2.DATA_CLASS_TENSOR,
        tags.POOL_TAG: summary_pb2.DATA_CLASS_TENSOR,
    }
    assert tags.create_summary_metadata(tags.RUN_TAG).summary_description == ""


def test_metadata_survives_proto_serialization():
    md = tags.create_summary_metadata(tags.ACTIVATIONS_TAG)
    back = summary_pb2.SummaryMetadata.FromString(md.SerializeToString())
    assert back == md
    assert tags.parse_plugin_content(back.plugin_data.content) == {"version": 2, "kind": "activations"}


@pytest.mark.parametrize("content", [b'{"version": Infinity, "kind": "run"}', b'{"version": 1e999, "kind": "run"}'])
def test_infinite_version_raises_format_error(content):
    with pytest.raises(tags.FormatError):
        tags.parse_plugin_content(content)
