"""Unit tests of cnn_tb.contract.packs: quantization and the binary pack codec."""

import json
import os
import re
import struct
import zlib

import numpy as np
import pytest

from cnn_tb.contract import packs
from cnn_tb.contract.tags import FormatError, NewerVersionError

PACK_JS = os.path.join(os.path.dirname(packs.__file__), "..", "plugin", "static", "pack.js")


def half_step_bound(lo, hi):
    """Half a quantization step, plus float32 round-off of the arithmetic."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return (hi - lo) / 255 / 2 + 4 * np.finfo(np.float32).eps * np.maximum(np.abs(lo), np.abs(hi))


# ---------------------------------------------------------------- quantization


@pytest.mark.parametrize("seed", range(4))
def test_quantize_error_is_at_most_half_a_step(seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(0, 1, (7, 9, 5)) * 10 ** rng.uniform(-3, 3) + rng.uniform(-100, 100)).astype(np.float32)
    q, lo, hi, bad = packs.quantize(x)
    assert q.dtype == np.uint8 and q.shape == x.shape
    assert isinstance(lo, float) and isinstance(hi, float)
    assert lo == float(x.min()) and hi == float(x.max())
    assert bad == 0
    assert q.min() == 0 and q.max() == 255
    err = np.abs(packs.dequantize(q, lo, hi).astype(np.float64) - x)
    assert err.max() <= half_step_bound(lo, hi)


@pytest.mark.parametrize("seed", range(4))
def test_quantize_per_channel_error_is_at_most_half_a_channel_step(seed):
    rng = np.random.default_rng(100 + seed)
    scales = np.array([1e-3, 1.0, 50.0, 1e4], np.float32)
    x = (rng.normal(0, 1, (6, 5, 4)) * scales + np.array([0, -3, 7, 1e3])).astype(np.float32)
    q, lo, hi, bad = packs.quantize(x, axis=-1)
    assert q.shape == x.shape and bad == 0
    assert isinstance(lo, list) and len(lo) == 4 and len(hi) == 4
    np.testing.assert_array_equal(lo, x.min(axis=(0, 1)))
    np.testing.assert_array_equal(hi, x.max(axis=(0, 1)))
    for c in range(4):
        assert q[..., c].min() == 0 and q[..., c].max() == 255
    err = np.abs(packs.dequantize(q, lo, hi).astype(np.float64) - x)
    assert np.all(err.max(axis=(0, 1)) <= half_step_bound(lo, hi))


def test_quantize_known_values():
    q, lo, hi, bad = packs.quantize(np.array([0.0, 1.0, 2.0, 0.5 / 255 * 2, 0.49 / 255 * 2]))
    assert (lo, hi, bad) == (0.0, 2.0, 0)
    assert q.tolist() == [0, 128, 255, 1, 0]  # round half up: 127.5 -> 128, 0.5 -> 1, 0.49 -> 0


def test_quantize_constant_arrays():
    for value in (0.0, 3.5, -1e6):
        x = np.full((4, 3), value, np.float32)
        q, lo, hi, bad = packs.quantize(x)
        assert (lo, hi, bad) == (value, value, 0)
        assert not q.any()
        np.testing.assert_array_equal(packs.dequantize(q, lo, hi), x)
    x = np.stack([np.full((3, 3), 2.0), np.linspace(0, 1, 9).reshape(3, 3)], axis=-1)
    q, lo, hi, _ = packs.quantize(x, axis=-1)
    assert lo == [2.0, 0.0] and hi == [2.0, 1.0]
    assert not q[..., 0].any()
    np.testing.assert_array_equal(packs.dequantize(q, lo, hi)[..., 0], 2.0)


def test_quantize_empty_array():
    q, lo, hi, bad = packs.quantize(np.zeros((0, 3), np.float32))
    assert q.shape == (0, 3) and q.dtype == np.uint8 and (lo, hi, bad) == (0.0, 0.0, 0)


def test_quantize_nonfinite_values_are_stored_as_lo_and_counted():
    x = np.array([[1.0, np.nan, 3.0], [np.inf, 2.0, -np.inf]], np.float32)
    q, lo, hi, bad = packs.quantize(x)
    assert (lo, hi, bad) == (1.0, 3.0, 3)
    assert q.tolist() == [[0, 0, 255], [0, 128, 0]]
    back = packs.dequantize(q, lo, hi)
    assert np.isfinite(back).all()
    assert back[0, 1] == back[1, 0] == back[1, 2] == lo


def test_quantize_per_channel_nonfinite():
    x = np.array([[[1.0, np.nan], [3.0, np.nan]], [[np.inf, np.nan], [5.0, np.nan]]], np.float32)
    q, lo, hi, bad = packs.quantize(x, axis=-1)
    assert bad == 5
    assert lo == [1.0, 0.0] and hi == [5.0, 0.0]  # an all-NaN channel is 0..0
    assert q[..., 0].tolist() == [[0, 128], [0, 255]]
    assert not q[..., 1].any()


# quantize lets numpy's "invalid value encountered in multiply" (inf * 0) escape here
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_quantize_all_nonfinite():
    q, lo, hi, bad = packs.quantize(np.array([np.nan, np.inf], np.float32))
    assert (lo, hi, bad) == (0.0, 0.0, 2) and q.tolist() == [0, 0]


@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_rows_equals_quantize_row_by_row(per_channel):
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (5, 4, 3, 6)).astype(np.float32) * np.array([1, 10, 0.1, 100, 1, 3])[None, None, None]
    x[1, 0, 0, 0] = np.nan
    x[2, 3, 2, 5] = np.inf
    x[3] = 4.0  # a constant row
    x[4, ..., 2] = np.nan  # an all-NaN channel
    q, lo, hi, bad = packs.quantize_rows(x, per_channel=per_channel)
    assert q.shape == x.shape and q.dtype == np.uint8
    assert lo.shape == hi.shape == ((5, 6) if per_channel else (5,))
    assert bad.tolist() == [0, 1, 1, 0, 12]
    for i in range(5):
        qi, loi, hii, badi = packs.quantize(x[i], axis=-1 if per_channel else None)
        np.testing.assert_array_equal(q[i], qi)
        np.testing.assert_array_equal(lo[i], loi)
        np.testing.assert_array_equal(hi[i], hii)
        assert bad[i] == badi


def test_quantize_symmetric():
    x = np.array([[-2.0, 0.0], [1.0, 2.0], [0.5, -1.0]], np.float32)
    q, a, bad = packs.quantize_symmetric(x)
    assert (a, bad) == (2.0, 0)
    # q = rint(x * 127.5 / a + 127.5); 0 -> rint(127.5) = 128
    assert q.tolist() == [[0, 128], [np.rint(191.25), 255], [np.rint(159.375), np.rint(63.75)]]
    back = packs.dequantize(q, -a, a)
    assert np.abs(back - x).max() <= 2 * a / 255 / 2 + 1e-6


def test_quantize_symmetric_error_and_range():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.3, (3, 3, 4, 8)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x[1, 1, 1, 1] = -np.inf
    q, a, bad = packs.quantize_symmetric(x)
    finite = np.isfinite(x)
    assert bad == 2
    assert a == float(np.abs(x[finite]).max())
    assert q[0, 0, 0, 0] == q[1, 1, 1, 1] == 128  # non-finite stored as 0
    back = packs.dequantize(q, -a, a)
    assert np.abs(back - x)[finite].max() <= half_step_bound(-a, a)
    assert q.min() == 0 or q.max() == 255


def test_quantize_symmetric_zero_array():
    q, a, bad = packs.quantize_symmetric(np.zeros((2, 2), np.float32))
    assert (a, bad) == (0.0, 0) and q.tolist() == [[128, 128], [128, 128]]
    np.testing.assert_array_equal(packs.dequantize(q, -a, a), 0.0)


def test_array_names():
    assert packs.array_name("block/conv", "maps") == "block/conv/maps"
    assert packs.split_array_name("block/conv/maps") == ("block/conv", "maps")
    assert packs.split_array_name("kernel") == ("", "kernel")


# --------------------------------------------------------------------- codec


def sample_arrays():
    rng = np.random.default_rng(5)
    maps = rng.random((4, 3, 2)).astype(np.float32)
    q, lo, hi, nf = packs.quantize(maps, axis=-1)
    vec = rng.random(5).astype(np.float32)
    vq, vlo, vhi, _ = packs.quantize(vec)
    raw_f = np.array([[1.5, -2.25, np.float32(1e-8)], [0.0, 3.0, -0.0]], np.float32)
    return [
        ("block/conv/maps", q, lo, hi, {"channels": [0, 1], "full_shape": [4, 3, 2], "nonfinite": nf, "pool": 1}),
        ("dense/vector", vq, vlo, vhi, {"nonfinite": 0}),
        ("raw/values", raw_f, None, None, None),
        ("empty/vector", np.zeros(0, np.uint8), 0.0, 0.0, {}),
    ]


def test_encode_raw_layout():
    arrays = sample_arrays()
    raw = packs.encode_raw(arrays)
    assert raw[:4] == packs.MAGIC == b"CTB1"
    (hlen,) = struct.unpack("<I", raw[4:8])
    header = json.loads(raw[8 : 8 + hlen])
    body = raw[8 + hlen :]
    entries = header["arrays"]
    assert [e["name"] for e in entries] == [a[0] for a in arrays]
    offset = 0
    for e, (name, arr, lo, hi, meta) in zip(entries, arrays):
        assert e == {"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape), "offset": offset,
                     "nbytes": arr.nbytes, "lo": lo, "hi": hi, "meta": meta or {}}
        assert body[offset : offset + arr.nbytes] == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        offset += arr.nbytes
    assert len(body) == offset
    assert packs.parse_raw(raw) == (header, 8 + hlen)


def test_encode_decode_pack_round_trip():
    arrays = sample_arrays()
    blob = packs.encode_pack(arrays)
    assert zlib.decompress(blob) == packs.encode_raw(arrays)
    decoded = packs.decode_pack(blob)
    assert list(decoded) == [a[0] for a in arrays]
    for name, arr, lo, hi, meta in arrays:
        got, entry = decoded[name]
        assert got.dtype == arr.dtype and got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)
        assert entry["lo"] == lo and entry["hi"] == hi and entry["meta"] == (meta or {})
    raw_f = decoded["raw/values"][0]
    assert raw_f.tobytes() == arrays[2][1].tobytes()  # float32 bit-exact (incl. -0.0)
    np.testing.assert_array_equal(packs.value(decoded, "raw/values"), arrays[2][1])
    _, q, lo, hi, _ = arrays[0]
    np.testing.assert_array_equal(packs.value(decoded, "block/conv/maps"), packs.dequantize(q, lo, hi))
    raw, entries, body = packs.parse(blob)
    assert raw == zlib.decompress(blob) and [e["name"] for e in entries] == list(decoded)
    assert body == 8 + struct.unpack("<I", raw[4:8])[0]


def test_encode_raw_rejects_other_dtypes():
    with pytest.raises(TypeError, match="uint8 or float32, got float64 for x"):
        packs.encode_raw([("x", np.zeros(3), None, None, {})])
    with pytest.raises(TypeError, match="got int32"):
        packs.encode_raw([("x", np.zeros(3, np.int32), None, None, {})])


def test_encode_raw_of_non_contiguous_array():
    a = np.arange(24, dtype=np.uint8).reshape(4, 6)[:, ::2]
    got, _ = packs.decode_raw(packs.encode_raw([("a", a, 0.0, 1.0, {})]))["a"]
    np.testing.assert_array_equal(got, a)


def test_empty_pack():
    raw = packs.encode_raw([])
    assert packs.parse_raw(raw)[0] == {"arrays": []}
    assert packs.decode_raw(raw) == {}


# ------------------------------------------------------------------ rejects


def make_raw(entries, body=b"", magic=packs.MAGIC, header=None):
    hbytes = header if header is not None else json.dumps({"arrays": entries}).encode()
    return magic + struct.pack("<I", len(hbytes)) + hbytes + body


def entry(**over):
    e = {"name": "a/maps", "dtype": "uint8", "shape": [2, 3], "offset": 0, "nbytes": 6, "lo": 0.0, "hi": 1.0,
         "meta": {}}
    e.update(over)
    return e


def test_make_raw_is_valid():
    raw = make_raw([entry()], bytes(range(6)))
    arr, _ = packs.decode_raw(raw)["a/maps"]
    assert arr.tolist() == [[0, 1, 2], [3, 4, 5]]


BAD_RAWS = {
    "wrong magic": make_raw([entry()], bytes(6), magic=b"XTB1"),
    "empty": b"",
    "magic only": packs.MAGIC,
    "short length": packs.MAGIC + b"\x10\x00",
    "truncated header": make_raw([entry()], bytes(6))[:20],
    "header length past the end": packs.MAGIC + struct.pack("<I", 1000) + b'{"arrays":[]}',
    "truncated body": make_raw([entry()], bytes(5)),
    "entry past the body": make_raw([entry(offset=4)], bytes(6)),
    "nbytes disagrees with shape": make_raw([entry(nbytes=5)], bytes(6)),
    "nbytes disagrees with itemsize": make_raw([entry(dtype="float32")], bytes(24)),
    "negative offset": make_raw([entry(offset=-1)], bytes(6)),
    "float offset": make_raw([entry(offset=0.0)], bytes(6)),
    "negative dimension": make_raw([entry(shape=[-2, -3])], bytes(6)),
    "float dimension": make_raw([entry(shape=[2.0, 3])], bytes(6)),
    "bool dimension": make_raw([entry(shape=[True, 6])], bytes(6)),
    "unknown dtype": make_raw([entry(dtype="int8")], bytes(6)),
    "float64 dtype": make_raw([entry(dtype="float64", nbytes=48)], bytes(48)),
    "list dtype": make_raw([entry(dtype=["uint8"])], bytes(6)),
    "missing nbytes": make_raw([{k: v for k, v in entry().items() if k != "nbytes"}], bytes(6)),
    "non-string name": make_raw([entry(name=5)], bytes(6)),
    "entry not an object": make_raw(["a/maps"], bytes(6)),
    "NaN in header": make_raw(None, bytes(6), header=b'{"arrays":[],"x":NaN}'),
    "Infinity in header": make_raw(None, bytes(6), header=b'{"arrays":[],"x":-Infinity}'),
    "header not JSON": make_raw(None, bytes(6), header=b'{"arrays":'),
    "header not UTF-8": make_raw(None, bytes(6), header=b'\xff{"arrays":[]}'),
    "header a list": make_raw(None, bytes(6), header=b"[1, 2]"),
    "no arrays": make_raw(None, bytes(6), header=b'{"x": 1}'),
    "arrays not a list": make_raw(None, bytes(6), header=b'{"arrays": {"a": 1}}'),
}


@pytest.mark.parametrize("name", sorted(BAD_RAWS))
def test_parse_raw_rejects(name):
    with pytest.raises(FormatError) as info:
        packs.parse_raw(BAD_RAWS[name], what="blob 3")
    assert str(info.value).startswith("blob 3: ")
    with pytest.raises(FormatError):
        packs.decode_raw(BAD_RAWS[name])


def test_second_entry_checked_too():
    raw = make_raw([entry(), entry(name="b", offset=3)], bytes(6))
    with pytest.raises(FormatError, match="bad or truncated pack entry"):
        packs.parse_raw(raw)


def test_decompress_rejects():
    assert packs.decompress(zlib.compress(make_raw([]))) == make_raw([])
    with pytest.raises(NewerVersionError, match="CTB2"):
        packs.decompress(zlib.compress(make_raw([], magic=b"CTB2")))
    with pytest.raises(NewerVersionError):
        packs.parse(zlib.compress(make_raw([entry()], bytes(6), magic=b"CTB9")))
    for blob in (b"", b"not zlib", make_raw([])):
        with pytest.raises(FormatError, match="not zlib data") as info:
            packs.decompress(blob)
        assert not isinstance(info.value, NewerVersionError)
    for magic in (b"XXXX", b"CTBx", b"PNG1"):
        with pytest.raises(FormatError, match="bad magic") as info:
            packs.decompress(zlib.compress(magic + bytes(20)))
        assert not isinstance(info.value, NewerVersionError)
    truncated = zlib.compress(packs.encode_raw(sample_arrays()))
    with pytest.raises(FormatError):
        packs.decode_pack(truncated[: len(truncated) // 2])


# -------------------------------------------------------------------- subset


def test_subset_keeps_exactly_the_named_arrays():
    arrays = sample_arrays()
    raw = packs.encode_raw(arrays)
    header, body = packs.parse_raw(raw)
    entries = header["arrays"]
    keep = {"dense/vector", "raw/values", "not/there"}
    sub = packs.subset(raw, entries, body, keep, extra={"step": 4, "probe": 2})
    sub_header, sub_body = packs.parse_raw(sub)
    assert set(sub_header) == {"arrays", "step", "probe"}
    assert sub_header["step"] == 4 and sub_header["probe"] == 2
    got = sub_header["arrays"]
    assert [e["name"] for e in got] == ["dense/vector", "raw/values"]  # pack order
    full = {e["name"]: e for e in entries}
    offset = 0
    for e in got:
        assert e == dict(full[e["name"]], offset=offset)  # only the offset changes
        old = full[e["name"]]
        assert sub[sub_body + offset : sub_body + offset + e["nbytes"]] == raw[body + old["offset"] : body + old["offset"] + old["nbytes"]]
        offset += e["nbytes"]
    assert len(sub) == sub_body + offset
    decoded, original = packs.decode_raw(sub), packs.decode_raw(raw)
    assert list(decoded) == ["dense/vector", "raw/values"]
    for name in decoded:
        np.testing.assert_array_equal(decoded[name][0], original[name][0])


def test_subset_without_names_or_extra_returns_raw_itself():
    raw = packs.encode_raw(sample_arrays())
    header, body = packs.parse_raw(raw)
    assert packs.subset(raw, header["arrays"], body) is raw
    assert packs.subset(raw, header["arrays"], body, None, {}) is raw


def test_subset_all_arrays_with_extra():
    raw = packs.encode_raw(sample_arrays())
    header, body = packs.parse_raw(raw)
    sub = packs.subset(raw, header["arrays"], body, None, {"step": -1})
    sub_header, sub_body = packs.parse_raw(sub)
    assert sub_header == dict(header, step=-1)
    assert sub[sub_body:] == raw[body:]


def test_subset_of_nothing():
    raw = packs.encode_raw(sample_arrays())
    header, body = packs.parse_raw(raw)
    sub = packs.subset(raw, header["arrays"], body, set())
    assert packs.parse_raw(sub) == ({"arrays": []}, len(sub))


# ---------------------------------------------------------------- JS decoder


def test_javascript_decoder_magic_matches():
    with open(PACK_JS, encoding="utf-8") as f:
        js = f.read()
    found = re.findall(r'export\s+const\s+PACK_MAGIC\s*=\s*"([^"]*)"\s*;', js)
    assert found == [packs.MAGIC.decode("ascii")]


# ------------------------------------------------------------- library bugs


@pytest.mark.parametrize("bad", [entry(shape=[6], nbytes=6.0), entry(shape={}, nbytes=1)])
def test_parse_raw_rejects_non_integer_sizes(bad):
    with pytest.raises(FormatError):
        packs.parse_raw(make_raw([bad], bytes(6)))


# ------------------------------------------- details pinned by mutation testing

LONG_ENTRY = entry(name="x" * 100, nbytes=5)


@pytest.mark.parametrize(
    "raw,message",
    [
        (packs.MAGIC + struct.pack("<I", 0), "pack: pack header is not valid JSON"),  # 8 bytes: a header of length 0
        (packs.MAGIC + b"\x10\x00\x00", "pack: not a pack or truncated"),
        (packs.MAGIC + struct.pack("<I", 0xFFFFFFFF) + b"{}", "pack: pack header is truncated"),
        (make_raw(None, header=b'{"arrays": 5}'), "pack: pack header has no array list"),
        (make_raw(None, header=b'{"arrays": "ab"}'), "pack: pack header has no array list"),
        (make_raw([entry(lo="a")], bytes(6)), f"pack: bad or truncated pack entry {str(entry(lo='a'))[:80]!r}"),
        (make_raw([entry(hi=[1.0, "a"])], bytes(6)), f"pack: bad or truncated pack entry {str(entry(hi=[1.0, 'a']))[:80]!r}"),
        (make_raw([LONG_ENTRY], bytes(6)), f"pack: bad or truncated pack entry {str(LONG_ENTRY)[:80]!r}"),
    ],
    ids=["8 bytes", "7 bytes", "huge header length", "arrays a number", "arrays a string", "string lo",
         "string in a hi list", "long entry"],
)
def test_parse_raw_messages(raw, message):
    with pytest.raises(FormatError) as info:
        packs.parse_raw(raw)
    assert str(info.value) == message
    with pytest.raises(FormatError) as info:
        packs.parse(zlib.compress(raw))
    assert str(info.value) == message


def test_bounds_may_be_numbers_lists_of_numbers_or_null():
    for lo, hi in ((0, 1.5), ([0.0, -1], [1, 2.0]), (None, None), ([[0.0], [1]], [[1.0], [2]])):
        raw = make_raw([entry(lo=lo, hi=hi)], bytes(6))
        assert packs.parse_raw(raw)[0]["arrays"][0]["lo"] == lo
    for bad in ("0", True, [0.0, None, "1"], {"a": 1}, [False]):
        for key in ("lo", "hi"):
            with pytest.raises(FormatError, match="bad or truncated pack entry"):
                packs.parse_raw(make_raw([entry(**{key: bad})], bytes(6)))


def test_decompress_messages_show_the_4_byte_magic():
    with pytest.raises(NewerVersionError) as info:
        packs.decompress(zlib.compress(b"CTB2xyz"))
    assert str(info.value) == "pack magic b'CTB2' is newer than b'CTB1'"
    with pytest.raises(FormatError) as info:
        packs.decompress(zlib.compress(b"PNG1xyz"))
    assert str(info.value) == "pack has bad magic b'PNG1'"


def test_pack_header_is_compact_json_and_rejects_nan_bounds():
    raw = packs.encode_raw([("a/maps", np.zeros((2, 2), np.uint8), 0.0, 1.0, {"k": [1, 2]})])
    (hlen,) = struct.unpack("<I", raw[4:8])
    header = raw[8 : 8 + hlen]
    assert header == json.dumps(json.loads(header), separators=(",", ":")).encode()
    for bound in (float("nan"), float("inf"), [0.0, float("-inf")]):
        with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
            packs.encode_raw([("a/maps", np.zeros((2, 2), np.uint8), bound, 1.0, {})])


def test_stored_packs_use_zlib_level_6_by_default():
    arrays = sample_arrays()
    raw = packs.encode_raw(arrays)
    assert packs.encode_pack(arrays) == zlib.compress(raw, 6)
    assert packs.encode_pack(arrays, level=1) == zlib.compress(raw, 1)


def test_quantize_rows_whole_rows_by_default_with_float32_bounds_and_int_counts():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)  # finite, and N differs from the last axis
    q, lo, hi, bad = packs.quantize_rows(x)
    assert lo.shape == hi.shape == (3,) and lo.dtype == hi.dtype == np.float32 and bad.dtype == np.int64
    for i in range(3):
        qi, loi, hii, _ = packs.quantize(x[i])
        np.testing.assert_array_equal(q[i], qi)
        assert (lo[i], hi[i]) == (loi, hii) == (x[i].min(), x[i].max())


def test_quantize_rows_quantizes_float64_input_as_float32():
    # float64 values just below each rounding boundary (m - 0.5) / 255: rounded to float32
    # some of them reach the boundary, so quantizing without the cast gives other codes
    edges = (np.arange(1, 256) - 0.5) / 255
    x = np.concatenate([[0.0, 1.0], edges - 1e-12, edges + 1e-12]).reshape(1, -1)
    x = np.concatenate([x, np.random.default_rng(4).random((3, x.shape[1]))])
    assert np.any(x.astype(np.float32).astype(np.float64)[0, 2:257] >= edges)  # the test can tell them apart
    for per_channel in (False, True):
        got, want = packs.quantize_rows(x, per_channel), packs.quantize_rows(x.astype(np.float32), per_channel)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_quantize_symmetric_quantizes_float64_input_as_float32():
    x = np.random.default_rng(5).normal(size=200_000)
    got, want = packs.quantize_symmetric(x), packs.quantize_symmetric(x.astype(np.float32))
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1:] == want[1:]


@pytest.mark.filterwarnings("error")
def test_infinite_value_in_a_constant_row_warns_nothing():
    q, lo, hi, bad = packs.quantize_rows(np.array([[np.inf, 1.0, 1.0]], np.float32))
    assert q.tolist() == [[0, 0, 0]] and (lo[0], hi[0], bad[0]) == (1.0, 1.0, 1)


def test_quantize_symmetric_of_no_finite_value():
    q, a, bad = packs.quantize_symmetric(np.array([np.nan, np.inf], np.float32))
    assert q.dtype == np.uint8 and q.tolist() == [128, 128] and a == 0.0 and bad == 2
    q, a, bad = packs.quantize_symmetric(np.array([-3.0, 1.5], np.float32))
    assert q.dtype == np.uint8 and q.tolist() == [0, 191] and a == 3.0 and bad == 0


def test_dequantize_computes_in_float64_whatever_the_bounds_dtype():
    q = np.arange(256, dtype=np.uint8)
    lo, hi = np.float32(0.1), np.float32(123.456)
    want = (np.float64(lo) + q / 255.0 * (np.float64(hi) - np.float64(lo))).astype(np.float32)
    np.testing.assert_array_equal(packs.dequantize(q, lo, hi), want)
    np.testing.assert_array_equal(packs.dequantize(q, np.array([lo]), np.array([hi])), want)


def test_parse_names_the_blob_in_its_messages():
    with pytest.raises(FormatError) as info:
        packs.parse(zlib.compress(make_raw([entry(lo="a")], bytes(6))), what="cnn_tb/activations step 3 blob 1")
    assert str(info.value).startswith("cnn_tb/activations step 3 blob 1: bad or truncated pack entry ")


def test_dequantized_values_are_float32():
    q = np.array([0, 51, 255], np.uint8)
    out = packs.dequantize(q, -1.0, 4.0)
    assert out.dtype == np.float32 and out.tolist() == [-1.0, 0.0, 4.0]
    pack = packs.decode_pack(packs.encode_pack([("a/vector", np.array([1.5, 2.5], np.float32), None, None, {}),
                                                ("b/vector", q, -1.0, 4.0, {})]))
    assert packs.value(pack, "a/vector").dtype == np.float32
    assert packs.value(pack, "b/vector").dtype == np.float32

