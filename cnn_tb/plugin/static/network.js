// The model as the views use it: layers by name, the block structure served
// with /run ("blocks", see API.md), which items are on screen for a given
// expansion, the display order of the shown layers, and what a layer's
// statistics mean (dead fraction only where an activation can be dead).

const RELU_LIKE = new Set(["relu", "relu6"]);
// Layers that pass their input's sign through (a dead ReLU output stays dead).
const SIGN_KEEPING = /^(MaxPooling|AveragePooling|GlobalMaxPooling|GlobalAveragePooling|ZeroPadding|Cropping|UpSampling|Dropout|SpatialDropout|Flatten|Reshape|Permute|Identity|Concatenate)/;

/**
 * @typedef {{kind: "layer", index: number, layer: object} | {kind: "block", id: number, block: object}} Item
 */

/** Layers and blocks of one run record. */
export class Network {
  /** @param {object} info the /run response */
  constructor(info) {
    this.layers = info.layers;
    this.byName = new Map(this.layers.map((l, i) => [l.name, i]));
    const s = info.blocks && Array.isArray(info.blocks.top) ? info.blocks : null;
    this.flat = !s || s.flat || !s.blocks.length;
    this.blocks = s ? s.blocks : [];
    this.top = s && s.top.length ? s.top : this.layers.map((_, i) => ["layer", i]);
    this.parentOfLayer = new Map(); // layer index -> block id
    this.parentOfBlock = new Map(); // block id -> block id
    for (const b of this.blocks)
      for (const [kind, i] of b.children) (kind === "layer" ? this.parentOfLayer : this.parentOfBlock).set(i, b.id);
    this.order = [];
    const walk = (children) => {
      for (const [kind, i] of children) {
        if (kind === "layer") this.order.push(i);
        else walk(this.blocks[i].children);
      }
    };
    walk(this.top);
    this.deadCache = new Map();
  }

  layer(name) {
    const i = this.byName.get(name);
    return i === undefined ? null : this.layers[i];
  }

  /** An item of the structure (`["layer", i]` / `["block", id]`) as an object. */
  item([kind, i]) {
    return kind === "layer" ? { kind, index: i, layer: this.layers[i] } : { kind, id: i, block: this.blocks[i] };
  }

  /** True when a layer is drawn: logged, the input, or any layer with "all layers" on. */
  shown(layer, showAll) {
    return layer.kind === "input" || layer.logged || showAll;
  }

  /** Layer indices inside a block, in display order. */
  layersOf(blockId) {
    const out = [];
    const walk = (children) => {
      for (const [kind, i] of children) {
        if (kind === "layer") out.push(i);
        else walk(this.blocks[i].children);
      }
    };
    walk(this.blocks[blockId].children);
    return out;
  }

  /** Items of `children` that hold something to draw. */
  visibleItems(children, showAll) {
    return children.map((c) => this.item(c)).filter((it) => (it.kind === "layer" ? this.shown(it.layer, showAll) : this.layersOf(it.id).some((i) => this.shown(this.layers[i], showAll))));
  }

  /** The top-level items that hold something to draw. */
  topItems(showAll) {
    return this.visibleItems(this.top, showAll);
  }

  /** The children of block `id` that hold something to draw. */
  childItems(id, showAll) {
    return this.visibleItems(this.blocks[id].children, showAll);
  }

  /**
   * What the flow view shows, in order: the top-level items with each open
   * block (`expanded`, top level first) replaced by its children.
   * @returns {Array<Item & {level: number}>}
   */
  flowItems(expanded, showAll) {
    const out = [];
    const walk = (items, level) => {
      for (const it of items) {
        if (it.kind === "block" && expanded[level - 1] === it.id) walk(this.childItems(it.id, showAll), level + 1);
        else out.push({ ...it, level });
      }
    };
    walk(this.topItems(showAll), 1);
    return out;
  }

  /** Block ids from the top level down to the block holding layer `name` ([] for a top-level layer). */
  pathTo(name) {
    const i = this.byName.get(name);
    const path = [];
    let b = i === undefined ? undefined : this.parentOfLayer.get(i);
    for (let guard = 0; b !== undefined && guard < 8; guard++) {
      path.unshift(b);
      b = this.parentOfBlock.get(b);
    }
    return path;
  }

  /** The layer that shows a block's output: its last shown layer. */
  blockOutput(id, showAll) {
    const b = this.blocks[id];
    const out = this.layers[b.output];
    if (out && this.shown(out, showAll)) return out;
    const inside = this.layersOf(id).filter((i) => this.shown(this.layers[i], showAll));
    return inside.length ? this.layers[inside[inside.length - 1]] : out;
  }

  /** Shown layers in display order (the order of the depth overview, charts and ↑/↓). */
  shownOrder(showAll) {
    return this.order.map((i) => this.layers[i]).filter((l) => this.shown(l, showAll));
  }

  /** Logged layers in display order. */
  loggedOrder() {
    return this.order.map((i) => this.layers[i]).filter((l) => l.logged);
  }

  /**
   * True when "dead" means something for this layer: its output comes from a
   * ReLU (relu, relu6, a ReLU layer), directly or through layers that keep
   * the sign (pooling, padding, dropout, concatenation). Not for linear,
   * softmax, sigmoid, leaky or smooth activations, batch normalisation, adds.
   */
  deadApplies(layer) {
    if (!layer) return false;
    if (this.deadCache.has(layer.name)) return this.deadCache.get(layer.name);
    this.deadCache.set(layer.name, false); // cycles in odd records end here
    let v = false;
    const act = (layer.activation || "").toLowerCase();
    if (layer.class === "ReLU" || RELU_LIKE.has(act)) v = true;
    else if ((!act || act === "linear") && SIGN_KEEPING.test(layer.class) && layer.inbound.length) {
      v = layer.inbound.every((n) => this.deadApplies(this.layer(n)));
    }
    this.deadCache.set(layer.name, v);
    return v;
  }
}
