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
        [_info(f"l{i}", (32, 32, 16)) for i in range(500)],
        [_info("tiny", (4, 4, 8))],
    ],
    ids=["512x512 input", "500 layers", "tiny"],
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
