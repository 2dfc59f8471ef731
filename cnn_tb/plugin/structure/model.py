"""The model being grouped: its layers in display order, and the items blocks are made of."""

from cnn_tb.plugin.structure.names import is_generic_name, name_levels


class Item:
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


def block(children, via, label=None, level=0):
    """A block of ``children``: a unit when they are all layers, else a stage."""
    kind = "unit" if all(c.is_layer for c in children) else "stage"
    return Item(children=list(children), label=label, level=level, via=via, kind=kind)


class ModelView:
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

    def label(self, item):
        """An item's name: a layer's local name, else a block's label, else ``first … last``."""
        if item.is_layer:
            return self.local_at(item.pos)
        if item.label:
            return item.label
        first, last = self.local_at(item.first()), self.local_at(item.last())
        return first if first == last else f"{first} … {last}"
