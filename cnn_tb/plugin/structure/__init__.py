"""The block structure of a model, computed from the run record's layer list.

The flow view shows a network of any depth on one screen by folding its
layers into at most two levels of blocks: *stages* (``conv3`` of a ResNet,
the 4x4 part of a MobileNetV2) whose children are *units* (``conv3_block2``,
``block_5``, ``mixed7``) whose children are layers. So every layer is at most
two clicks away, and the top level (blocks and the layers left outside any
block, the input and the output among them) has at most :data:`MAX_TOP`
visible items.

Where the blocks come from, in this order:

1. **Nested models.** A nested model of up to :data:`NESTED_UNIT_MAX` layers
   (ConvNeXt's stem and downsampling ``Sequential`` s) is one unit; a bigger
   one (a backbone) is unfolded into its own stages and units. A nested
   model's own entry (its output) is shown after its layers.
2. **The graph.** A boundary between two layers (in network order) where only
   one tensor is alive, the output of the layer before it, cuts the network:
   the layers between two cuts that are more than one form a unit (a residual
   or inception unit ending in its Add/Concatenate/Multiply). A run longer
   than :data:`UNIT_MAX` layers without such a cut (NASNet's cells feed the
   next two cells) is split where the fewest tensors are alive.
3. **Names.** Keras' application models name their layers by block
   (``conv3_block2_1_conv``, ``block_5_expand``, ``block2a_se_squeeze``,
   ``stage_0_block_1_gelu``). Layers outside graph units whose names share a
   prefix ending in a numbered token form a unit; a layer joins the unit
   beside it when its name carries the unit's name. Units whose names share a
   stage prefix (``conv3_block*``, ``block2a``/``block2b``,
   ``stage_0_block_*``, ``block35_*``) form a stage. Keras' generic names
   (``conv2d_57``, ``batch_normalization_12``, ``activation_187``: the class
   name in snake case and a counter) carry no structure and are ignored;
   graph units hold such models together (InceptionV3, InceptionResNetV2,
   NASNet).
4. **Resolution.** When the top level still has more than :data:`MAX_TOP`
   items, runs of items with the same spatial output size become stages.
5. **Stem and head.** Layers before the first stage and after the last one
   (but the output layer) become a ``stem`` and a ``head`` block.
6. **Bound.** If the top level is still too long, the two smallest
   neighbours are merged until it fits.

A model with at most :data:`MAX_TOP` shown layers is not folded at all.

The result (see :func:`block_structure`) is served with ``/run`` as
``blocks`` (``API.md``). It is computed when a run record is read, so runs
written by any cnn_tb version get it; it never raises on odd records (unknown
inbound names, cycles in ``parent``): the worst case is a flat list.
"""

import re

# Visible top-level items (blocks and loose layers, the input and the output
# among them): two rows of cards at 1600 px.
MAX_TOP = 16
# A graph unit longer than this is split where the fewest tensors are alive.
UNIT_MAX = 64
# A nested model with at most this many layers is one unit.
NESTED_UNIT_MAX = 32
# A stage whose children are all layers is cut into units of at most this many.
CHUNK = 32
STRUCTURE_VERSION = 1

MERGE_CLASSES = frozenset({"Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract", "Dot"})
# Words that name a container in a layer name ("stage_0_block_1_gelu"): a
# numbered token with such a word below a numbered prefix makes that prefix
# a stage of units rather than one unit.
CONTAINER_WORDS = frozenset({"block", "stage", "layer", "cell", "unit", "group", "module", "stack", "level", "mixed"})

_SPLIT_ALNUM = re.compile(r"^([A-Za-z]+[0-9]+)([A-Za-z])$")


def snake_case(class_name):
    """Keras' automatic layer-name stem of a class (``ReLU`` -> ``re_lu``)."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def is_generic_name(local, class_name):
    """True for Keras' automatic names: ``conv2d``, ``conv2d_57``, ``re_lu_3``."""
    stem = snake_case(class_name)
    return bool(stem) and re.fullmatch(re.escape(stem) + r"(_[0-9]+)?", local) is not None


def _has_digit(token):
    return any(c.isdigit() for c in token)


def name_levels(local):
    """The numbered prefixes of a layer name, outermost first.

    ``conv3_block2_1_conv`` -> ``["conv3", "conv3_block2", "conv3_block2_1"]``;
    ``bn_Conv1`` -> ``["Conv1"]`` (words before a numbered token that starts
    with a letter are roles, not containers); ``block_5_expand`` ->
    ``["block_5"]``; ``mixed_6a`` -> ``["mixed_6a"]``; a name without digits
    gives ``[]``.
    """
    tokens = [t for t in local.split("_") if t]
    levels = []
    start = None
    for j, tok in enumerate(tokens):
        if not _has_digit(tok):
            continue
        if start is None:
            # "bn_Conv1" -> "Conv1": words before a token that starts with a
            # letter are roles; words before a number ("block_5",
            # "expanded_conv_1", "mixed_6a") belong to it.
            start = j if tok[0].isalpha() else 0
        levels.append("_".join(tokens[start : j + 1]))
    return levels


def _container_below(level_name, deeper_name):
    """True when ``deeper_name`` extends ``level_name`` by a container token."""
    rest = deeper_name[len(level_name) :].strip("_")
    word = re.sub(r"[0-9_]+$", "", rest.split("_")[0])
    return word.lower() in CONTAINER_WORDS


def stage_key(label, level):
    """The stage a unit named ``label`` (at name level ``level``) belongs to, or None."""
    if level >= 2:  # "conv3_block2" -> "conv3", "stage_0_block_1" -> "stage_0"
        levels = name_levels(label)
        return levels[level - 2] if len(levels) >= level else None
    m = _SPLIT_ALNUM.match(label.split("_")[-1]) if label else None
    if m:  # EfficientNet's "block2a" -> "block2"
        head = label[: len(label) - len(label.split("_")[-1])]
        return head + m.group(1)
    return None


class _Item:
    """A node while grouping: a layer (at display position ``pos``) or a block of children."""

    __slots__ = ("pos", "children", "label", "level", "via", "kind", "stage", "merge", "zone")

    def __init__(self, pos=None, children=None, label=None, level=0, via=None, kind=None):
        self.pos = pos
        self.children = children
        self.label = label
        self.level = level  # name level of the label (0: not from names)
        self.via = via  # how the block was found
        self.kind = kind  # "unit" (children are layers) or "stage"
        self.stage = None  # the stage key of a unit's name
        self.merge = None  # class of a graph unit's last merge layer
        self.zone = children[0].zone if children else 0  # blocks never span two zones

    @property
    def is_layer(self):
        return self.children is None

    def positions(self):
        if self.children is None:
            return [self.pos]
        out = []
        for c in self.children:
            out.extend(c.positions())
        return out

    def first(self):
        return self.pos if self.children is None else self.children[0].first()

    def last(self):
        return self.pos if self.children is None else self.children[-1].last()

    def size(self):
        return 1 if self.children is None else sum(c.size() for c in self.children)


def _block(children, via, label=None, level=0):
    kind = "unit" if all(c.is_layer for c in children) else "stage"
    return _Item(children=list(children), label=label, level=level, via=via, kind=kind)


class _Model:
    """The layer list with display order, local names, name levels and graph reach."""

    def __init__(self, layers, model_name):
        self.layers = layers
        self.index = {}
        for i, layer in enumerate(layers):
            self.index.setdefault(layer.get("name"), i)
        self.end = self._subtree_ends()
        self.order = self._display_order()
        self.pos = [0] * len(layers)
        for p, i in enumerate(self.order):
            self.pos[i] = p
        self.local = [self._local_name(layer, model_name) for layer in layers]
        self.generic = [is_generic_name(s, str(l.get("class") or "")) for s, l in zip(self.local, layers)]
        self.levels = [[] if g else name_levels(s) for s, g in zip(self.local, self.generic)]
        self.far = self._far()

    @staticmethod
    def _local_name(layer, model_name):
        """The name without nested-model and model-name prefixes (``stage_0_block_1_gelu``)."""
        local = str(layer.get("name") or "").rsplit("/", 1)[-1]
        prefixes = [str(layer.get("parent") or "").rsplit("/", 1)[-1], str(model_name or "")]
        for prefix in prefixes:
            if prefix and local.startswith(prefix + "_") and len(local) > len(prefix) + 1:
                local = local[len(prefix) + 1 :]
        return local

    def _subtree_ends(self):
        """``end[i]``: the last index inside the nested model at ``i`` (``i`` for a plain layer)."""
        end = list(range(len(self.layers)))
        for i, layer in enumerate(self.layers):
            parent, seen = layer.get("parent"), set()
            while parent is not None and parent in self.index and parent not in seen:
                seen.add(parent)
                j = self.index[parent]
                if j < i:
                    end[j] = max(end[j], i)
                parent = self.layers[j].get("parent")
        return end

    def _display_order(self):
        """Network order, but a nested model's own entry (its output) after its layers."""
        out, open_models = [], []
        for i in range(len(self.layers)):
            while open_models and i > self.end[open_models[-1]]:
                out.append(open_models.pop())
            if self.end[i] > i and (not open_models or self.end[i] <= self.end[open_models[-1]]):
                open_models.append(i)
            else:
                out.append(i)
        out.extend(reversed(open_models))
        return out

    def _far(self):
        """``far[p]``: the last display position that reads the output at position ``p``."""
        n = len(self.layers)
        far = list(range(n))
        for i, layer in enumerate(self.layers):
            p = self.pos[i]
            if self.end[i] > i:  # a nested model's entry is the output of its last layer
                sources = [self.order[p - 1]] if p > 0 else []
            else:
                sources = [self.index[u] for u in layer.get("inbound") or () if u in self.index]
            for s in sources:
                q = self.pos[s]
                if q < p:
                    far[q] = max(far[q], p)
        return far

    def live(self):
        """``live[p]``: outputs still to be read after display position ``p``."""
        n = len(self.order)
        diff = [0] * (n + 1)
        for p in range(n):
            if self.far[p] > p:
                diff[p] += 1
                diff[self.far[p]] -= 1
        out, c = [], 0
        for p in range(n):
            c += diff[p]
            out.append(c)
        return out

    def layer(self, pos):
        return self.layers[self.order[pos]]

    def is_generic(self, pos):
        return self.generic[self.order[pos]]

    def levels_at(self, pos):
        return self.levels[self.order[pos]]

    def local_at(self, pos):
        return self.local[self.order[pos]]

    def resolution(self, pos):
        shape = self.layer(pos).get("output_shape") or []
        return tuple(shape[:2]) if len(shape) == 3 else None

    def word_key(self, pos):
        """The first word of a digit-free name of two or more words (``stem_bn`` -> ``stem``)."""
        if self.is_generic(pos) or self.levels_at(pos):
            return None
        tokens = [t for t in self.local_at(pos).split("_") if t]
        return tokens[0] if len(tokens) >= 2 else None


def _common_prefix(names):
    out = []
    for group in zip(*(n.split("_") for n in names)):
        if len(set(group)) != 1:
            break
        out.append(group[0])
    return "_".join(out) or names[0]


class _Grouper:
    """Builds the blocks of one model (see the module docstring for the passes)."""

    def __init__(self, model, shown, output_layer, max_top):
        self.m = model
        self.shown = shown
        self.max_top = max_top
        n = len(model.order)
        # Layers that stay alone on the top level: inputs, the output, and the
        # entries of big nested models (their layers are unfolded before them,
        # so a block holding an entry would not be contiguous in network order).
        self.fixed = {p for p in range(n) if model.layer(p).get("kind") == "input"}
        self.fixed.add(model.pos[model.index.get(output_layer, model.order[-1])])
        # Display positions where a new zone starts: the first layer of each big nested model.
        self.walls = set()
        for i in range(n):
            if model.end[i] > i + NESTED_UNIT_MAX:
                self.fixed.add(model.pos[i])
                self.walls.add(min(model.pos[j] for j in range(i + 1, model.end[i] + 1)))

    # ------------------------------------------------------------ units

    def unit(self, children, via):
        """A unit of ``children`` named by the deepest name prefix its named layers share."""
        m = self.m
        item = _block(children, via)
        positions = item.positions()
        named = [m.levels_at(p) for p in positions if m.levels_at(p)]
        label, level = None, 0
        if named:
            for d in range(min(len(lv) for lv in named)):
                if any(lv[d] != named[0][d] for lv in named):
                    break
                label, level = named[0][d], d + 1
        if label is None:
            words = [p for p in positions if m.word_key(p)]
            if words and len({m.word_key(p) for p in words}) == 1 and all(m.word_key(p) or m.is_generic(p) for p in positions):
                label = _common_prefix([m.local_at(p) for p in words])
        if label is None:
            named_pos = [p for p in positions if not m.is_generic(p)]
            label = m.local_at((named_pos or positions)[-1])
        item.label, item.level = label, level
        item.stage = stage_key(label, level) if level else None
        merges = [p for p in positions if str(m.layer(p).get("class")) in MERGE_CLASSES]
        item.merge = str(m.layer(merges[-1]).get("class")) if merges else None
        return item

    def segments(self, lo, hi, live):
        """Graph units of positions ``lo..hi`` as ``[(a, b)]`` ranges, in order."""
        segs, start, reach = [], lo, -1
        for p in range(lo, hi + 1):
            if p > lo:
                reach = max(reach, self.m.far[p - 1])
            if reach <= p:
                segs.append((start, p))
                start = p + 1
        if start <= hi:
            segs.append((start, hi))
        out = []
        for a, b in segs:
            out.extend(_split_long(a, b, live))
        return out

    def units(self, lo, hi, live, nested):
        """Units and loose layers of positions ``lo..hi``, in order."""
        ranges = []
        for a, b in self.segments(lo, hi, live):
            for na, nb in nested:  # a small nested model is one unit, whatever its inner cuts
                if a <= nb and b >= na:
                    a, b = min(a, na), max(b, nb)
            while ranges and ranges[-1][1] >= a:
                a = min(a, ranges.pop()[0])
            ranges.append((a, b))
        items = []
        for a, b in ranges:
            if b > a:
                via = "model" if (a, b) in nested else "graph"
                items.append(self.unit([_Item(pos=p) for p in range(a, b + 1)], via))
            else:
                items.append(_Item(pos=a))
        items = self.join_by_name(items)
        items = self.name_runs(items)
        return self.merge_same_units(items)

    def joins(self, unit, item):
        """True when loose layer ``item`` carries the name of ``unit`` (``conv2_block1_out``)."""
        if unit.is_layer or unit.kind != "unit" or unit.level == 0 or not item.is_layer:
            return False
        lv = self.m.levels_at(item.pos)
        return len(lv) >= unit.level and lv[unit.level - 1] == unit.label

    def fold(self, items, join):
        """Walk ``items`` joining each to the item before it when ``join(prev, item, pending)``
        absorbs it; generic loose layers wait (``pending``) to see what follows them."""
        out, pending = [], []
        for item in items:
            if item.is_layer and self.m.is_generic(item.pos):
                pending.append(item)
                continue
            if not (out and join(out[-1], item, pending)):
                out.extend(pending)
                out.append(item)
            pending = []
        return out + pending

    def join_by_name(self, items):
        """Loose layers join the graph unit before them when they carry its name."""

        def join(unit, item, pending):
            if not self.joins(unit, item):
                return False
            unit.children.extend(pending + [item])
            return True

        return self.fold(items, join)

    def run_key(self, run):
        """The name key shared by a run of loose layers (generic ones ignored), or None."""
        m = self.m
        named = [r.pos for r in run if not m.is_generic(r.pos)]
        if not named:
            return None
        firsts = {tuple(m.levels_at(p)[:1]) for p in named}
        if len(firsts) == 1 and firsts != {()}:
            return firsts.pop()
        words = {m.word_key(p) for p in named}
        return words.pop() if len(words) == 1 and None not in words else None

    def name_runs(self, items):
        """Runs of loose layers sharing their first name level (``block_1_*``) become units."""
        out, run = [], []

        def close():
            while run and self.m.is_generic(run[-1].pos):  # trailing generic layers stay loose
                tail.insert(0, run.pop())
            if len(run) >= 2:
                out.append(self.split_containers(self.unit(list(run), "names")))
            else:
                out.extend(run)
            out.extend(tail)
            run.clear()
            tail.clear()

        tail = []
        for item in items:
            if item.is_layer and run and (self.m.is_generic(item.pos) or self.run_key(run + [item]) is not None):
                run.append(item)
                continue
            close()
            if item.is_layer and not self.m.is_generic(item.pos) and self.run_key([item]) is not None:
                run.append(item)
            else:
                out.append(item)
        close()
        return out

    def split_containers(self, unit):
        """A name run of numbered containers (``stage_0_block_1_*``) is a stage of units."""
        m = self.m
        if unit.level != 1:
            return unit
        groups, key = [], None
        for child in unit.children:
            lv = m.levels_at(child.pos)
            k = lv[1] if len(lv) >= 2 and _container_below(lv[0], lv[1]) else None
            if k is not None and k != key and groups and key is not None or not groups:
                groups.append([])
            if k is not None:
                key = k
            groups[-1].append(child)
        if len(groups) < 2:
            return unit
        units = [self.unit(g, "names") if len(g) >= 2 else g[0] for g in groups]
        return _block(units, "names", label=unit.label, level=1)

    def merge_same_units(self, items):
        """Neighbouring units with one name (EfficientNet's ``block2a`` around its SE unit) are one.

        Generic layers between the two join them.
        """

        def join(prev, item, pending):
            same = (
                not prev.is_layer
                and not item.is_layer
                and prev.kind == item.kind == "unit"
                and prev.level
                and prev.level == item.level
                and prev.label == item.label
            )
            if same:
                prev.children.extend(pending + item.children)
                prev.merge = item.merge or prev.merge
                prev.via = prev.via if prev.via == item.via else "graph+names"
            return same

        return self.fold(items, join)

    # ------------------------------------------------------------ stages

    def is_stage(self, item):
        return not item.is_layer and item.kind == "stage"

    def stages_by_name(self, items):
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
                elif nxt.is_layer and nxt not in self.keep and nxt.zone == items[i].zone:
                    members.append(nxt)  # a loose layer between two units of the stage
                else:
                    break
                j += 1
            members = members[:units_seen]
            if sum(1 for x in members if not x.is_layer) >= 2:
                out.append(_block(members, "names", label=key, level=1))
                i += len(members)
            else:
                out.append(items[i])
                i += 1
        return out

    def stages_by_resolution(self, items):
        """Runs of two or more items with one spatial output size become a stage."""
        out, run, res = [], [], None

        def close():
            if len(run) >= 2:
                ends = [x for x in run if not x.is_layer] or run
                labels = [self.label(x) for x in (ends[0], ends[-1])]
                out.append(_block(run, "resolution", label=" … ".join(labels)))
            else:
                out.extend(run)
            run.clear()

        for it in items:
            r = None if it in self.keep or self.is_stage(it) else self.m.resolution(it.last())
            if r is not None and run and r == res and it.zone == run[-1].zone:
                run.append(it)
                continue
            close()
            res = r
            (run if r is not None else out).append(it)
        close()
        return out

    def stem_and_head(self, items):
        """Loose items before the first stage and after the last one become ``stem`` / ``head``.

        A unit named as part of a stage (EfficientNet's lone ``block1a``) counts as a stage.
        """
        stages = [k for k, it in enumerate(items) if self.is_stage(it) or (not it.is_layer and it.stage)]
        if not stages:
            return items

        def material(it):
            return it not in self.keep and (it.is_layer or (it.kind == "unit" and it.stage is None))

        first, last = stages[0], stages[-1]
        lo, hi = first, last + 1
        while lo > 0 and material(items[lo - 1]) and items[lo - 1].zone == items[first].zone:
            lo -= 1
        while hi < len(items) and material(items[hi]) and items[hi].zone == items[last].zone:
            hi += 1
        out = list(items)
        if hi - (last + 1) >= 2:
            out[last + 1 : hi] = [self.plain_block(items[last + 1 : hi], "head")]
        if first - lo >= 2:
            out[lo:first] = [self.plain_block(items[lo:first], "stem")]
        return out

    @staticmethod
    def plain_block(members, label):
        """A stem/head block. Its units are unfolded into layers when it is small
        and none of them is a graph unit or a nested model (ResNet's ``conv1``
        and ``pool1``), else they stay units (Xception's ``block2``)."""
        units = [m for m in members if not m.is_layer]
        unfold = sum(m.size() for m in members) <= CHUNK and all(u.via in ("names", "resolution") for u in units)
        children = []
        for m in members:
            children.extend(m.children if not m.is_layer and unfold else [m])
        return _block(children, label, label=label)

    # ------------------------------------------------------------ bounds

    def visible(self, item):
        return any(self.shown[self.m.order[p]] for p in item.positions())

    def count(self, items):
        return sum(1 for it in items if self.visible(it))

    def bound(self, items):
        """Merge the smallest neighbours until at most ``max_top`` items are visible."""
        items = list(items)
        while self.count(items) > self.max_top:
            best = None
            for k in range(len(items) - 1):
                a, b = items[k], items[k + 1]
                if a in self.keep or b in self.keep or a.zone != b.zone:
                    continue
                cost = a.size() + b.size()
                if best is None or cost < best[0]:
                    best = (cost, k)
            if best is None:
                break
            k = best[1]
            children = []
            for it in items[k : k + 2]:
                children.extend(it.children if self.is_stage(it) else [it])
            items[k : k + 2] = [_block(children, "size")]
        return items

    def chunk(self, item):
        """A long chain (a block of layers not found as one unit) gets units of at most CHUNK layers."""
        if item.is_layer or not all(c.is_layer for c in item.children) or len(item.children) <= CHUNK:
            return item
        if item.via in ("graph", "model", "graph+names"):
            return item
        n = len(item.children)
        step = -(-n // -(-n // CHUNK))
        units = [_block(item.children[s : s + step], "chunk") for s in range(0, n, step)]
        return _block(units, item.via, label=item.label, level=item.level)

    @staticmethod
    def two_levels(item, level=1):
        """At most two levels of blocks: a block inside a unit is unfolded into layers."""
        if item.is_layer:
            return item
        if level >= 2:
            item.children = [_Item(pos=p) for p in item.positions()]
        else:
            item.children = [_Grouper.two_levels(c, level + 1) for c in item.children]
        item.kind = "unit" if all(c.is_layer for c in item.children) else "stage"
        return item

    @staticmethod
    def dissolve(item):
        """A block holding one item is that item."""
        while not item.is_layer and len(item.children) == 1:
            item = item.children[0]
        if not item.is_layer:
            item.children = [_Grouper.dissolve(c) for c in item.children]
        return item

    def label(self, item):
        if item.is_layer:
            return self.m.local_at(item.pos)
        if item.label:
            return item.label
        first, last = self.m.local_at(item.first()), self.m.local_at(item.last())
        return first if first == last else f"{first} … {last}"

    # ------------------------------------------------------------ all passes

    @staticmethod
    def set_zone(item, zone):
        item.zone = zone
        for c in item.children or ():
            _Grouper.set_zone(c, zone)
        return item

    def top_items(self):
        m = self.m
        n = len(m.order)
        live = m.live()
        nested = []
        for i in range(n):
            if i < m.end[i] <= i + NESTED_UNIT_MAX:
                nested.append((m.pos[i + 1], m.pos[i]))
        nested.sort()
        disjoint = []
        for a, b in nested:  # a small nested model inside another small one is part of it
            if disjoint and a <= disjoint[-1][1]:
                disjoint[-1] = (disjoint[-1][0], max(disjoint[-1][1], b))
            else:
                disjoint.append((a, b))
        items, start, zone = [], 0, 0
        for p in sorted(self.fixed | self.walls) + [n]:
            if p > start:
                inside = [r for r in disjoint if r[0] >= start and r[1] < p]
                zone += 1
                for it in self.units(start, p - 1, live, inside):
                    self.set_zone(it, zone)
                    items.append(it)
            if p < n and p in self.fixed:
                zone += 1
                items.append(self.set_zone(_Item(pos=p), zone))
                start = p + 1
            else:
                start = p
        self.keep = {it for it in items if it.is_layer and it.pos in self.fixed}
        items = self.stages_by_name(items)
        items = self.stem_and_head(items)
        if self.count(items) > self.max_top:
            items = self.stages_by_resolution(items)
            items = self.stem_and_head(items)
        items = self.bound([self.chunk(it) for it in items])
        return [self.two_levels(self.dissolve(it)) for it in items]


def _split_long(a, b, live):
    """Split ``a..b`` where the fewest outputs are alive, while it is longer than UNIT_MAX."""
    if b - a + 1 <= UNIT_MAX:
        return [(a, b)]
    low = min(live[p] for p in range(a, b))
    cuts = [p for p in range(a, b) if live[p] == low and (p == a or live[p - 1] != low)]
    if not cuts:
        return [(a, b)]
    pieces, start = [], a
    for c in cuts:
        pieces.append((start, c))
        start = c + 1
    pieces.append((start, b))
    if len(pieces) == 1:
        return pieces
    out = []
    for x, y in pieces:
        out.extend(_split_long(x, y, live))
    return out


def block_structure(layers, model_name=None, output_layer=None, max_top=MAX_TOP):
    """The blocks of a run record's ``layers`` list.

    Args:
        layers: the run record's layer entries in network order (``name``,
            ``class``, ``inbound``, ``parent``, ``output_shape``, ``kind``,
            ``logged`` are read).
        model_name: the record's ``model_name`` (stripped from layer names).
        output_layer: the output layer's name; it stays on the top level.
        max_top: bound on the visible top-level items.

    Returns:
        ``{"version", "max_top", "flat", "top", "blocks"}``. ``top`` lists the
        top level in display order as ``["layer", index]`` and
        ``["block", id]`` pairs. ``blocks[id]`` is ``{"id", "name", "level"
        (1 or 2), "kind" ("stage" or "unit"), "via", "children", "first",
        "last", "output", "layers", "merge"}``: ``children`` in the same pair
        form, ``first``/``last`` the network-order range it covers,
        ``output`` the index of the layer that shows the block's output (its
        last logged layer), ``layers`` how many layers it holds, ``merge`` the
        class of a graph unit's last merge layer. ``flat`` is true (and
        ``blocks`` empty) when the model is small enough to show whole.
    """
    layers = list(layers or [])
    shown = [bool(l.get("logged")) or l.get("kind") == "input" for l in layers]
    if not layers:
        return flat_structure(0, max_top)
    model = _Model(layers, model_name)
    if sum(shown) <= max_top:
        return dict(flat_structure(0, max_top), top=[["layer", i] for i in model.order])
    grouper = _Grouper(model, shown, output_layer, max_top)
    return _serialize(model, grouper.top_items(), grouper.label, max_top)


def flat_structure(n, max_top=MAX_TOP):
    """The structure of ``n`` layers shown as they are, without blocks."""
    return {"version": STRUCTURE_VERSION, "max_top": max_top, "flat": True, "top": [["layer", i] for i in range(n)], "blocks": []}


def _serialize(model, items, label, max_top):
    blocks = []

    def visit(item, level):
        if item.is_layer:
            return ["layer", model.order[item.pos]]
        entry = {"id": len(blocks)}
        blocks.append(entry)
        children = [visit(c, level + 1) for c in item.children]
        idx = [model.order[p] for p in item.positions()]
        logged = [i for i in idx if model.layers[i].get("logged")]
        entry.update(
            name=label(item),
            level=level,
            kind=item.kind,
            via=item.via,
            children=children,
            first=min(idx),
            last=max(idx),
            output=(logged or idx)[-1],
            layers=len(idx),
            merge=item.merge,
        )
        return ["block", entry["id"]]

    top = [visit(it, 1) for it in items]
    return {"version": STRUCTURE_VERSION, "max_top": max_top, "flat": False, "top": top, "blocks": blocks}
