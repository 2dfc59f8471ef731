"""The per-probe byte budget of the flow records holds for big inputs and many layers."""

import numpy as np
import pytest

from cnn_tb.contract.tags import MAP, VECTOR
from cnn_tb.model.graph import LayerInfo
from cnn_tb.summaries import flow_budget
from tests.summaries.test_flow import build_packs


def _info(name, shape, kind=MAP):
    return LayerInfo(name=name, layer=None, class_name="Conv2D", kind=kind, output_shape=shape, inbound=[], params=0)


def _pack_nbytes(infos, plan, gradcam=()):
    acts, cams = {}, {}
    rng = np.random.default_rng(0)
    for i in infos:
        acts[i.name] = rng.random((1,) + tuple(i.output_shape), dtype=np.float32)
        if i.name in gradcam:
            cams[i.name] = rng.random((1,) + tuple(i.output_shape[:2]), dtype=np.float32)
    (pack,) = build_packs(acts, plan, cams, cams, mask=np.array([True]))
    return sum(arr.nbytes for arr, _ in pack.values()), pack


@pytest.mark.parametrize(
    "infos",
    [
        [_info("big", (512, 512, 64)), _info("big2", (256, 256, 128)), _info("fc", (4096,), VECTOR)],
        [_info(f"l{i}", (32, 32, 16)) for i in range(1000)],
        [_info("tiny", (4, 4, 8))],
    ],
    ids=["512x512 input", "1000 layers", "tiny"],  # README: "up to about 1,000 layers"
)
def test_pack_stays_within_budget(infos):
    budget = flow_budget.DEFAULT_BUDGET_BYTES
    gradcam = [infos[0].name]
    plan = flow_budget.plan_budget(infos, budget, max_channels=32, gradcam_layers=gradcam)
    nbytes, pack = _pack_nbytes(infos, plan, gradcam)
    assert nbytes <= budget
    first = infos[0].name
    assert f"{first}/mean" in pack and f"{first}/max" in pack and f"{first}/gradcam" in pack


def test_small_models_are_stored_whole():
    infos = [_info("c", (16, 16, 8)), _info("d", (10,), VECTOR)]
    plan = flow_budget.plan_budget(infos, 64 * 1024)
    assert plan == {"c": {"channels": 8, "pool": 1, "summary_pool": 1}, "d": {"units": 10}}
    _, pack = _pack_nbytes(infos, plan)
    assert pack["c/maps"][0].shape == (16, 16, 8)


def test_impossible_budget_is_a_clear_error():
    infos = [_info(f"l{i}", (32, 32, 16)) for i in range(100)]
    with pytest.raises(flow_budget.BudgetError, match=r"100 logged layers need at least \d+ bytes .*budget_bytes=1000"):
        flow_budget.plan_budget(infos, 1000)


@pytest.mark.parametrize(
    "kind,shape,gradcam,per_layer,n",
    [
        # the default budget: channel-mean, -max and 2 Grad-CAM maps at 4x4 = 64 bytes, 1024 layers
        (MAP, (4, 4, 1), True, 4 * 16, flow_budget.DEFAULT_BUDGET_BYTES // 64),
        (MAP, (4, 4, 1), False, 2 * 16, 128),  # without Grad-CAM
        (MAP, (5, 7, 3), True, 4 * 3 * 4, 85),  # odd sizes: pooled by 2 to 3x4 pixels at the smallest
        (VECTOR, (100,), False, 16, 256),  # vectors keep at least 16 units
    ],
    ids=["1024 layers with Grad-CAM", "maps", "odd-sized maps", "vectors"],
)
def test_the_stated_layer_limit_holds_exactly(kind, shape, gradcam, per_layer, n):
    """The module's promise: any number of layers fits while layers x their smallest
    storage (summary maps at about 4x4, 16 units) fits the budget; one more raises."""
    budget = n * per_layer
    infos = [_info(f"l{i}", shape, kind) for i in range(n + 1)]
    cams = [i.name for i in infos] if gradcam else []
    plan = flow_budget.plan_budget(infos[:n], budget, gradcam_layers=cams)
    nbytes, pack = _pack_nbytes(infos[:n], plan, cams)
    assert nbytes == budget
    if kind == MAP:
        assert all(p["channels"] == 0 for p in plan.values())  # only the summary maps are left
        assert len(pack) == n * (4 if gradcam else 2)
    else:
        assert all(p == {"units": 16} for p in plan.values())
    message = rf"^{n + 1} logged layers need at least {budget + per_layer} bytes per probe, .*budget_bytes={budget}\."
    with pytest.raises(flow_budget.BudgetError, match=message):
        flow_budget.plan_budget(infos, budget, gradcam_layers=cams)


def test_defaults_keep_32_channels_and_1024_units():
    plan = flow_budget.plan_budget([_info("c", (4, 4, 40)), _info("v", (2000,), VECTOR)], budget_bytes=1 << 30)
    assert plan == {"c": {"channels": 32, "pool": 1, "summary_pool": 1}, "v": {"units": 1024}}


@pytest.mark.parametrize("side,pool", [(64, 1), (65, 2), (128, 2), (129, 4), (300, 8), (3, 1)])
def test_summary_maps_are_pooled_to_at_most_64_pixels_a_side(side, pool):
    plan = flow_budget.plan_budget([_info("c", (side, 5, 1))], budget_bytes=1 << 30)
    assert plan["c"]["summary_pool"] == pool


def test_vectors_halve_down_to_16_units():
    infos = [_info("v", (1000,), VECTOR), _info("w", (20,), VECTOR)]
    assert flow_budget.plan_budget(infos, budget_bytes=1020) == {"v": {"units": 1000}, "w": {"units": 20}}
    assert flow_budget.plan_budget(infos, budget_bytes=1019) == {"v": {"units": 500}, "w": {"units": 20}}
    assert flow_budget.plan_budget(infos, budget_bytes=36) == {"v": {"units": 16}, "w": {"units": 20}}
    assert flow_budget.plan_budget(infos, budget_bytes=35) == {"v": {"units": 16}, "w": {"units": 16}}


def test_avg_pool_pools_two_axes_from_first_axis_with_edge_padding():
    import keras

    from cnn_tb.model import reduce

    x = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    t = keras.ops.convert_to_tensor(x)
    out = keras.ops.convert_to_numpy(reduce.avg_pool(t, 2))  # first_axis=1 by default
    assert out.shape == (2, 2, 3)
    padded = np.pad(x, [(0, 0), (0, 1), (0, 1)], mode="edge")
    np.testing.assert_allclose(out, padded.reshape(2, 2, 2, 3, 2).mean(axis=(2, 4)))
    first = keras.ops.convert_to_numpy(reduce.avg_pool(keras.ops.convert_to_tensor(x[0]), 2, first_axis=0))
    np.testing.assert_allclose(first, out[0])
    assert reduce.avg_pool(t, 1) is t
