"""The plugin's packs, reduced on the device and assembled on the host, recomputed
with numpy: summary maps, channel maps, pooling, vectors, Grad-CAM maps, kernels."""

import numpy as np
import pytest

from cnn_tb.contract import packs
from cnn_tb.summaries import flow
from tests.support.device import numpy, tensors


def _pool(x, p):
    """Average-pool the two axes after the first by p, padding edges (numpy, by loops)."""
    n, h, w = x.shape[:3]
    oh, ow = -(-h // p), -(-w // p)
    out = np.zeros((n, oh, ow) + x.shape[3:], np.float64)
    for i in range(oh):
        for j in range(ow):
            rows = [min(r, h - 1) for r in range(i * p, i * p + p)]
            cols = [min(c, w - 1) for c in range(j * p, j * p + p)]
            out[:, i, j] = x[:, rows][:, :, cols].mean(axis=(1, 2))
    return out


def build_packs(acts, plan, cams=None, cams_true=None, mask=None):
    """Device arrays of ``acts`` (run eagerly), then the host's packs, decoded."""
    layout = flow.PackLayout(plan, {k: v.shape[1:] for k, v in acts.items()}, list(cams or {}))
    arrays = numpy(layout.device(tensors(acts, cams, cams_true)))
    return [packs.decode_pack(b) for b in layout.packs(arrays, mask)]


def _close(pack, name, want):
    arr, e = pack[name]
    got = packs.value(pack, name)
    step = (np.asarray(e["hi"], np.float64) - np.asarray(e["lo"], np.float64)) / 255
    assert got.shape == want.shape, name
    assert np.all(np.abs(got - want) <= step * 0.51 + 1e-5), name
    return e


def test_packs_hold_what_the_plan_says():
    rng = np.random.default_rng(0)
    acts = {"m": rng.normal(size=(3, 10, 7, 6)).astype(np.float32), "v": rng.normal(size=(3, 40)).astype(np.float32)}
    cams = {"m": rng.random((3, 10, 7)).astype(np.float32)}
    cams_true = {"m": rng.random((3, 10, 7)).astype(np.float32)}
    plan = {"m": {"channels": 4, "pool": 2, "summary_pool": 3}, "v": {"units": 16}}
    decoded = build_packs(acts, plan, cams, cams_true, mask=np.array([True, False, True]))
    assert len(decoded) == 3
    for i, pack in enumerate(decoded):
        x = acts["m"][i : i + 1]
        e = _close(pack, "m/mean", _pool(x.mean(axis=-1), 3)[0])
        assert e["meta"] == {"nonfinite": 0, "pool": 3}
        _close(pack, "m/max", _pool(x.max(axis=-1), 3)[0])
        e = _close(pack, "m/maps", _pool(x[..., :4], 2)[0])
        assert e["meta"] == {"channels": [0, 1, 2, 3], "full_shape": [10, 7, 6], "pool": 2, "nonfinite": 0}
        assert len(e["lo"]) == 4  # one lo/hi per channel
        e = _close(pack, "v/vector", acts["v"][i, :16])
        assert e["meta"]["full_shape"] == [40]
        cam = packs.value(pack, "m/gradcam")
        np.testing.assert_allclose(cam, _pool(cams["m"][i : i + 1], 3)[0], atol=0.5 / 255 + 1e-6)
        assert ("m/gradcam_true" in pack) == (i != 1)  # only where the mask says so
        if i != 1:
            true = packs.value(pack, "m/gradcam_true")
            np.testing.assert_allclose(true, _pool(cams_true["m"][i : i + 1], 3)[0], atol=0.5 / 255 + 1e-6)


def test_non_finite_values_are_counted_per_probe():
    a = np.ones((2, 4, 4, 2), np.float32)
    a[1, 0, 0, 0] = np.nan
    plan = {"m": {"channels": 2, "pool": 1, "summary_pool": 1}}
    p0, p1 = build_packs({"m": a}, plan)
    assert p0["m/maps"][1]["meta"]["nonfinite"] == 0 and p1["m/maps"][1]["meta"]["nonfinite"] == 1
    assert p1["m/mean"][1]["meta"]["nonfinite"] == 1
    assert p1["m/maps"][0][0, 0, 0] == 0  # stored as lo


def test_kernels_pack_is_symmetric_and_capped():
    rng = np.random.default_rng(1)
    k = rng.normal(size=(3, 3, 20, 40)).astype(np.float32)
    pack = packs.decode_pack(flow.kernels_pack({"c": k}, {"c": "Conv2D"}, max_out=32, max_in=16))
    arr, e = pack["c/kernel"]
    kept = k[:, :, :16, :32]
    a = float(np.abs(kept).max())
    assert arr.shape == (3, 3, 16, 32) and e["lo"] == pytest.approx(-a) and e["hi"] == pytest.approx(a)
    assert e["meta"] == {"full_shape": [3, 3, 20, 40], "layer_class": "Conv2D", "nonfinite": 0}
    np.testing.assert_allclose(packs.value(pack, "c/kernel"), kept, atol=a / 255 + 1e-6)
