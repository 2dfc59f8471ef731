"""Stages (runs of units by name, or of items by spatial size), stem and head, and chunks of long chains."""

from cnn_tb.plugin.structure.model import block

# A stage whose children are all layers is cut into units of at most this many.
CHUNK = 32


def is_stage(item):
    return not item.is_layer and item.kind == "stage"


def stages_by_name(items, keep):
    """Neighbouring units with one stage key (``conv3_block*``) become a stage."""
    out, i = [], 0
    while i < len(items):
        key = items[i].stage if not items[i].is_layer and items[i].kind == "unit" else None
        members, units_seen, j = [], 0, i
        while key is not None and j < len(items):
            nxt = items[j]
            if not nxt.is_layer and nxt.kind == "unit" and nxt.stage == key and nxt.zone == items[i].zone:
                members.append(nxt)
                units_seen = len(members)
            elif nxt.is_layer and nxt not in keep and nxt.zone == items[i].zone:
                members.append(nxt)  # a loose layer between two units of the stage
            else:
                break
            j += 1
        members = members[:units_seen]
        if sum(1 for x in members if not x.is_layer) >= 2:
            out.append(block(members, "names", label=key, level=1))
            i += len(members)
        else:
            out.append(items[i])
            i += 1
    return out


def stages_by_resolution(model, items, keep):
    """Runs of two or more items with one spatial output size become a stage."""
    out, run, res = [], [], None

    def close():
        if len(run) >= 2:
            ends = [x for x in run if not x.is_layer] or run
            labels = [model.label(x) for x in (ends[0], ends[-1])]
            out.append(block(run, "resolution", label=" … ".join(labels)))
        else:
            out.extend(run)
        run.clear()

    for it in items:
        r = None if it in keep or is_stage(it) else model.resolution(it.last())
        if r is not None and run and r == res and it.zone == run[-1].zone:
            run.append(it)
            continue
        close()
        res = r
        (run if r is not None else out).append(it)
    close()
    return out


def stem_and_head(items, keep):
    """Loose items before the first stage and after the last one become ``stem`` / ``head``.

    A unit named as part of a stage (EfficientNet's lone ``block1a``) counts as a stage.
    """
    stages = [k for k, it in enumerate(items) if is_stage(it) or (not it.is_layer and it.stage)]
    if not stages:
        return items

    def material(it):
        return it not in keep and (it.is_layer or (it.kind == "unit" and it.stage is None))

    first, last = stages[0], stages[-1]
    lo, hi = first, last + 1
    while lo > 0 and material(items[lo - 1]) and items[lo - 1].zone == items[first].zone:
        lo -= 1
    while hi < len(items) and material(items[hi]) and items[hi].zone == items[last].zone:
        hi += 1
    out = list(items)
    if hi - (last + 1) >= 2:
        out[last + 1 : hi] = [plain_block(items[last + 1 : hi], "head")]
    if first - lo >= 2:
        out[lo:first] = [plain_block(items[lo:first], "stem")]
    return out


def plain_block(members, label):
    """A stem/head block. Its units are unfolded into layers when it is small
    and none of them is a graph unit or a nested model (ResNet's ``conv1``
    and ``pool1``), else they stay units (Xception's ``block2``)."""
    units = [m for m in members if not m.is_layer]
    unfold = sum(m.size() for m in members) <= CHUNK and all(u.via in ("names", "resolution") for u in units)
    children = []
    for m in members:
        children.extend(m.children if not m.is_layer and unfold else [m])
    return block(children, label, label=label)


def chunk(item):
    """A long chain (a block of layers not found as one unit) gets units of at most CHUNK layers."""
    if item.is_layer or not all(c.is_layer for c in item.children) or len(item.children) <= CHUNK:
        return item
    if item.via in ("graph", "model", "graph+names"):
        return item
    n = len(item.children)
    step = -(-n // -(-n // CHUNK))
    units = [block(item.children[s : s + step], "chunk") for s in range(0, n, step)]
    return block(units, item.via, label=item.label, level=item.level)
