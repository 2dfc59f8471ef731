"""The pool's share of the byte budget: dataset-example channels per layer
(:func:`cnn_tb.summaries.flow_budget.plan_examples`) and the pool pack's size."""

import numpy as np
import pytest

from cnn_tb.contract.tags import MAP, VECTOR
from cnn_tb.model.graph import LayerInfo
from cnn_tb.summaries import flow_budget


def _info(name, shape, kind=MAP):
    return LayerInfo(name=name, layer=None, class_name="Conv2D", kind=kind, output_shape=shape, inbound=[], params=0)


def test_seed_sized_models_keep_every_stored_channel():
    infos = [_info("c1", (32, 32, 32)), _info("c2", (16, 16, 64)), _info("d", (128,), VECTOR)]
    plan = flow_budget.plan_budget(infos)
    ex = flow_budget.plan_examples(plan, 6)
    assert ex == {"c1": plan["c1"]["channels"], "c2": plan["c2"]["channels"]}
    assert sum(ex.values()) * 6 * flow_budget.EXAMPLE_ROW_BYTES <= flow_budget.DEFAULT_BUDGET_BYTES


@pytest.mark.parametrize("layers,top_k", [(60, 6), (400, 6), (2000, 6), (30, 50)])
def test_examples_fit_the_budget_for_any_depth(layers, top_k):
    infos = [_info(f"l{i}", (16, 16, 32)) for i in range(layers)]
    plan = {i.name: {"channels": 32, "pool": 1, "summary_pool": 1} for i in infos}
    ex = flow_budget.plan_examples(plan, top_k)
    assert sum(ex.values()) * top_k * flow_budget.EXAMPLE_ROW_BYTES <= flow_budget.DEFAULT_BUDGET_BYTES
    assert ex and all(1 <= v <= 32 for v in ex.values())
    assert list(ex) == [n for n in plan if n in ex]  # network order kept
    if layers * top_k * flow_budget.EXAMPLE_ROW_BYTES <= flow_budget.DEFAULT_BUDGET_BYTES:
        assert len(ex) == layers  # every layer keeps at least one channel while that fits
    else:
        kept = [int(n[1:]) for n in ex]
        assert kept[0] == 0 and kept[-1] == layers - 1 and max(np.diff(kept)) <= 2 * (layers // len(kept) + 1)


def test_layers_without_stored_channels_get_no_examples():
    plan = {"a": {"channels": 0, "pool": 1, "summary_pool": 4}, "b": {"channels": 8, "pool": 2, "summary_pool": 1}, "v": {"units": 10}}
    assert flow_budget.plan_examples(plan, 6) == {"b": 8}


def test_pool_pack_bytes():
    # 13 layers + input, 512 images, 12 layers x 32 channels x 6 examples
    assert flow_budget.pool_pack_bytes(14, 512, {f"l{i}": 32 for i in range(12)}, 6) == 2 * 14 * 512 + 12 * 32 * 6 * 24 + 1024
