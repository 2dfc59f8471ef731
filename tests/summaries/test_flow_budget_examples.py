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


def _reference_examples(plan, top_k, budget):
    """plan_examples' documented rule, written again: halve the layer with the most
    example channels (the first of them on a tie) while over budget, then keep an
    evenly spaced ``budget // row`` of the layers (numpy's linspace, rounded)."""
    counts = {n: p["channels"] for n, p in plan.items() if "units" not in p and p["channels"]}
    row = max(1, top_k) * flow_budget.EXAMPLE_ROW_BYTES
    while sum(counts.values()) * row > budget and max(counts.values(), default=0) > 1:
        top = max(counts.values())
        first = next(n for n, v in counts.items() if v == top)
        counts[first] = max(1, top // 2)
    room = budget // row
    if len(counts) > room:
        names = list(counts)
        keep = {names[i] for i in np.rint(np.linspace(0, len(names) - 1, room)).astype(int)} if room else set()
        counts = {n: v for n, v in counts.items() if n in keep}
    return counts


def _random_plan(rng, layers):
    plan = {}
    for i in range(layers):
        if rng.random() < 0.2:
            plan[f"v{i}"] = {"units": int(rng.integers(1, 64))}
        else:
            plan[f"m{i}"] = {"channels": int(rng.integers(0, 48)), "pool": 1, "summary_pool": 1}
    return plan


@pytest.mark.parametrize("seed", range(40))
def test_examples_equal_the_documented_rule(seed):
    rng = np.random.default_rng(seed)
    plan = _random_plan(rng, int(rng.integers(1, 40)))
    top_k = int(rng.choice([0, 1, 2, 3, 6, 50]))
    row = max(1, top_k) * flow_budget.EXAMPLE_ROW_BYTES
    stored = sum(p.get("channels", 0) for p in plan.values())
    # budgets around the interesting points: exactly the stored channels' rows, one byte
    # less, room for exactly 2 layers' single rows, a random one
    budget = int(rng.choice([stored * row, stored * row - 1, 2 * row, 2 * row + row - 1, rng.integers(0, 40_000)]))
    got = flow_budget.plan_examples(plan, top_k, budget)
    assert got == _reference_examples(plan, top_k, budget)
    assert all(type(v) is int for v in got.values())


def test_a_budget_of_exactly_the_stored_rows_keeps_every_channel():
    plan = {"a": {"channels": 8, "pool": 1, "summary_pool": 1}, "b": {"channels": 4, "pool": 1, "summary_pool": 1}}
    row = 6 * flow_budget.EXAMPLE_ROW_BYTES
    assert flow_budget.plan_examples(plan, 6, 12 * row) == {"a": 8, "b": 4}
    assert flow_budget.plan_examples(plan, 6, 12 * row - 1) == {"a": 4, "b": 4}
    # top_k 0 or 1: one row per channel
    assert flow_budget.plan_examples(plan, 0, 12 * flow_budget.EXAMPLE_ROW_BYTES) == {"a": 8, "b": 4}
    assert flow_budget.plan_examples(plan, 1, 12 * flow_budget.EXAMPLE_ROW_BYTES) == {"a": 8, "b": 4}


def test_room_for_two_layers_keeps_the_first_and_the_last():
    plan = {f"l{i}": {"channels": 1, "pool": 1, "summary_pool": 1} for i in range(5)}
    row = 6 * flow_budget.EXAMPLE_ROW_BYTES
    assert flow_budget.plan_examples(plan, 6, 2 * row) == {"l0": 1, "l4": 1}
    assert flow_budget.plan_examples(plan, 6, 3 * row) == {"l0": 1, "l2": 1, "l4": 1}
    assert flow_budget.plan_examples(plan, 6, row) == {"l0": 1}
    assert flow_budget.plan_examples(plan, 6, row - 1) == {}
