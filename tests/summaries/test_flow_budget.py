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


def _reference_plan(infos, budget, max_channels=32, max_units=1024, gradcam=()):
    """plan_budget's documented rule (the module docstring), written again: start at
    ``max_channels`` / ``max_units`` with the summary maps pooled to SUMMARY_SIZE a side;
    while over budget the biggest array that can shrink (ties: the larger name, then part)
    gives way by one step."""
    ceil = lambda n, p: -(-n // p)  # noqa: E731
    plan, geo = {}, {}
    for i in infos:
        if i.kind == MAP:
            h, w, c = i.output_shape
            sp = 1
            while max(ceil(h, sp), ceil(w, sp)) > flow_budget.SUMMARY_SIZE:
                sp *= 2
            plan[i.name] = {"channels": min(c, max_channels), "pool": 1, "summary_pool": sp}
            geo[i.name] = (h, w, 4 if i.name in gradcam else 2)
        elif i.kind == VECTOR:
            plan[i.name] = {"units": min(i.output_shape[0], max_units)}

    def parts(name):
        p = plan[name]
        if "units" in p:
            return {"vector": p["units"]}
        h, w, n = geo[name]
        return {"maps": ceil(h, p["pool"]) * ceil(w, p["pool"]) * p["channels"],
                "summary": n * ceil(h, p["summary_pool"]) * ceil(w, p["summary_pool"])}

    def step(name, part):
        p = plan[name]
        if part == "vector":
            if p["units"] <= 16:
                return False
            p["units"] = max(16, p["units"] // 2)
            return True
        h, w, _ = geo[name]
        if part == "summary":
            if min(ceil(h, p["summary_pool"]), ceil(w, p["summary_pool"])) <= 4:
                return False
            p["summary_pool"] *= 2
            return True
        if p["channels"] > flow_budget.MIN_CHANNELS:
            p["channels"] = max(flow_budget.MIN_CHANNELS, p["channels"] // 2)
        elif p["channels"] and min(ceil(h, p["pool"]), ceil(w, p["pool"])) > 4:
            p["pool"] *= 2
        elif p["channels"]:
            p["channels"] //= 2
        else:
            return False
        return True

    stuck = set()
    while sum(sum(parts(n).values()) for n in plan) > budget:
        candidates = [(size, name, part) for name in plan for part, size in parts(name).items()
                      if size and (name, part) not in stuck]
        if not candidates:
            return None
        _, name, part = max(candidates)
        if not step(name, part):
            stuck.add((name, part))
    return plan


@pytest.mark.parametrize("seed", range(30))
def test_plans_equal_the_documented_rule(seed):
    rng = np.random.default_rng(seed)
    infos = []
    for k in range(int(rng.integers(1, 30))):
        if rng.random() < 0.25:
            infos.append(_info(f"v{k}", (int(rng.integers(1, 3000)),), VECTOR))
        else:
            side = int(rng.choice([3, 4, 5, 7, 8, 9, 16, 31, 64, 65, 130, 224]))
            infos.append(_info(f"m{k}", (side, int(rng.choice([side, side + 1])), int(rng.integers(1, 200))), MAP))
    gradcam = tuple(i.name for i in infos if i.kind == MAP and rng.random() < 0.5)
    budget = int(rng.choice([4096, 16384, 65536, 1 << 20]))
    max_channels = int(rng.choice([32, 64, 128]))
    want = _reference_plan(infos, budget, max_channels=max_channels, gradcam=gradcam)
    if want is None:
        with pytest.raises(flow_budget.BudgetError):
            flow_budget.plan_budget(infos, budget, max_channels=max_channels, gradcam_layers=gradcam)
        return
    got = flow_budget.plan_budget(infos, budget, max_channels=max_channels, gradcam_layers=gradcam)
    assert got == want
    assert all(type(v) is int for p in got.values() for v in p.values())


def test_the_default_limits_are_32_channels_and_1024_units():
    plan = flow_budget.plan_budget([_info("m", (4, 4, 64), MAP), _info("v", (4096,), VECTOR)], 1 << 30)
    assert plan == {"m": {"channels": 32, "pool": 1, "summary_pool": 1}, "v": {"units": 1024}}
