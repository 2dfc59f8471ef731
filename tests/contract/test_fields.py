"""Unit tests of cnn_tb.contract.fields: the cleaners every record is made of."""

import pytest

from cnn_tb.contract import fields


@pytest.mark.parametrize("path, ok", [
    ("packs/s1/4.packs", True),
    ("packs/X/1.packs", True),            # capitals are fine
    ("a" * fields.MAX_NAME, True),        # the longest name
    ("a" * (fields.MAX_NAME + 1), False),
    ("a//b", False), ("a/./b", False), ("a/../b", False), ("/etc/passwd", False), ("a\\b", False),
    ("c:/x", False), ("a\x00b", False), ("", False), (5, False), (None, False), (["a"], False),
])
def test_pack_path_is_a_plain_relative_path_or_none(path, ok):
    assert fields.pack_path(path) == (path if ok else None)


@pytest.mark.parametrize("value, want", [
    ([1, 2.0, "3", None, True, float("nan")], [1, 2]),
    (5, []), ("0,1", []), (None, []), ({"a": 1}, []),
])
def test_int_list_keeps_the_numbers_of_a_list(value, want):
    assert fields.int_list(value) == want
