"""The byte budget of the plugin's flow records (the format: :mod:`cnn_tb.contract.packs`).

The budget: every probe's activation pack holds at most
``budget_bytes`` of uncompressed array data (default 64 KiB; zlib shrinks it
further). :func:`plan_budget` decides once per run, from the layer shapes
alone, how many channels each map layer keeps and by how much it is
average-pooled, so every epoch stores the same channels at the same size and
epochs stay comparable:

1. every map layer keeps at most ``max_channels`` channels, every vector
   layer at most ``max_units`` units (the first ones); the channel-mean /
   channel-max / Grad-CAM maps are pooled to at most ``SUMMARY_SIZE`` pixels
   a side;
2. while the total is over budget, the biggest array that can still shrink
   gives way by one step: a layer's channel maps halve their channel count
   (down to ``MIN_CHANNELS``), then pool by 2 (down to 4 pixels a side), then
   halve channels down to none (only the summary maps stay); summary maps
   pool by 2 (down to 4 pixels a side); vectors halve (down to 16 units).

So the budget holds for any input size, and for any number of layers while
``layers x (summary maps at 4x4 + 16 units)`` fits (about 1,000 map layers at
the default budget); beyond that :func:`plan_budget` raises.
"""

from cnn_tb.contract.tags import MAP, VECTOR

DEFAULT_BUDGET_BYTES = 64 * 1024
MIN_CHANNELS = 16
SUMMARY_SIZE = 64
_MIN_SIDE = 4
_MIN_UNITS = 16


def _pooled(n, p):
    return -(-n // p)


class BudgetError(ValueError):
    """The layers cannot fit the byte budget even at their smallest."""


def plan_budget(selected, budget_bytes=DEFAULT_BUDGET_BYTES, max_channels=32, max_units=1024, gradcam_layers=()):
    """Per-layer storage plan ``{name: {"channels", "pool", "summary_pool"} | {"units"}}``.

    Raises:
        BudgetError: even the smallest storage of every layer exceeds ``budget_bytes``.
    """
    plan, shapes, n_summary = {}, {}, {}
    for info in selected:
        if info.kind == MAP:
            h, w, c = info.output_shape
            sp = 1
            while max(_pooled(h, sp), _pooled(w, sp)) > SUMMARY_SIZE:
                sp *= 2
            shapes[info.name] = (h, w, c)
            n_summary[info.name] = 2 + (2 if info.name in gradcam_layers else 0)
            plan[info.name] = {"channels": min(c, max_channels), "pool": 1, "summary_pool": sp}
        elif info.kind == VECTOR:
            plan[info.name] = {"units": min(info.output_shape[0], max_units)}

    def sizes(name):
        """(bytes of the channel maps, bytes of the summary maps, bytes of a vector)."""
        p = plan[name]
        if "units" in p:
            return 0, 0, p["units"]
        h, w, _ = shapes[name]
        maps = _pooled(h, p["pool"]) * _pooled(w, p["pool"]) * p["channels"]
        summary = n_summary[name] * _pooled(h, p["summary_pool"]) * _pooled(w, p["summary_pool"])
        return maps, summary, 0

    def shrink(name, part):
        """Shrink one part of a layer by one step; False when it cannot."""
        p = plan[name]
        if part == "vector":
            if p["units"] <= _MIN_UNITS:
                return False
            p["units"] = max(_MIN_UNITS, p["units"] // 2)
            return True
        h, w, _ = shapes[name]
        if part == "summary":
            if min(_pooled(h, p["summary_pool"]), _pooled(w, p["summary_pool"])) <= _MIN_SIDE:
                return False
            p["summary_pool"] *= 2
            return True
        if p["channels"] > MIN_CHANNELS:
            p["channels"] = max(MIN_CHANNELS, p["channels"] // 2)
        elif p["channels"] and min(_pooled(h, p["pool"]), _pooled(w, p["pool"])) > _MIN_SIDE:
            p["pool"] *= 2
        elif p["channels"]:
            p["channels"] //= 2
        else:
            return False
        return True

    total = sum(sum(sizes(n)) for n in plan)
    stuck = set()
    while total > budget_bytes:
        parts = [
            (size, name, part)
            for name in plan
            for size, part in zip(sizes(name), ("maps", "summary", "vector"))
            if size and (name, part) not in stuck
        ]
        if not parts:
            raise BudgetError(
                f"{len(plan)} logged layers need at least {total} bytes per probe, more than "
                f"budget_bytes={budget_bytes}. Log fewer layers (`layers=`) or raise `budget_bytes`."
            )
        _, name, part = max(parts)
        before = sum(sizes(name))
        if not shrink(name, part):
            stuck.add((name, part))
        total += sum(sizes(name)) - before
    return plan


# ---------------------------------------------------------------- the pool's share

EXAMPLE_ROW_BYTES = 24  # one dataset example: (image, value, y0, x0, y1, x1) as float32


def plan_examples(plan, top_k, budget_bytes=DEFAULT_BUDGET_BYTES):
    """How many channels of each map layer get dataset examples (:mod:`cnn_tb.pool`).

    Each map layer starts with the channels the flow plan stores (its first
    ``plan[layer]["channels"]``), ``top_k`` examples each, ``EXAMPLE_ROW_BYTES``
    per example; the example tables of one pool epoch must fit ``budget_bytes``
    (uncompressed; the crops are cut in the browser from the pool's sprite,
    stored once per session). While over budget, the layer with the most
    example channels halves them (down to 1); then layers are left out, evenly
    spaced, until the rest fits.

    Returns:
        ``{map layer: channels}`` in the order of ``plan`` (layers left out absent).
    """
    out = {n: p["channels"] for n, p in plan.items() if "units" not in p and p["channels"]}
    per = max(1, top_k) * EXAMPLE_ROW_BYTES
    while sum(out.values()) * per > budget_bytes and any(v > 1 for v in out.values()):
        name = max(out, key=lambda n: out[n])
        out[name] = max(1, out[name] // 2)
    room = budget_bytes // per
    if len(out) > room:
        names = list(out)
        keep = {names[round(k * (len(names) - 1) / max(1, room - 1))] for k in range(room)} if room else set()
        out = {n: v for n, v in out.items() if n in keep}
    return out


def pool_pack_bytes(layers, pool_size, example_channels, top_k):
    """Uncompressed bytes of one pool pack: ``nearest`` and ``margin`` (1 byte per
    image and layer, ``layers`` counting the input), the example tables, and
    the predictions and confidences (1 byte per image each)."""
    examples = sum(example_channels.values()) * min(top_k, pool_size) * EXAMPLE_ROW_BYTES
    return 2 * layers * pool_size + examples + 2 * pool_size
