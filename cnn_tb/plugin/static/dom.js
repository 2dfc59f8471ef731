// DOM builders. Every user-supplied string (run, layer and class names) goes
// in through textContent or an attribute value, never parsed as HTML.

/**
 * Create an element.
 * @param {string} tag
 * @param {{class?: string, text?: string, title?: string, attrs?: object, data?: object, style?: object}} [opts]
 * @param {Array<Node|string|null>} [children]
 * @returns {HTMLElement}
 */
export function el(tag, opts = {}, children = []) {
  const node = document.createElement(tag);
  if (opts.class) node.className = opts.class;
  if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
  if (opts.title) node.title = String(opts.title);
  for (const [k, v] of Object.entries(opts.attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  for (const [k, v] of Object.entries(opts.data || {})) if (v !== undefined && v !== null) node.dataset[k] = String(v);
  for (const [k, v] of Object.entries(opts.style || {})) {
    if (k.startsWith("--")) node.style.setProperty(k, v);
    else node.style[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

/** A <select> with [value, label] options. */
export function select(options, value, onChange, opts = {}) {
  const s = el("select", opts);
  for (const [v, label] of options) {
    const o = el("option", { text: label, attrs: { value: v } });
    s.append(o);
  }
  s.value = String(value);
  s.addEventListener("change", () => onChange(s.value));
  return s;
}

/** A labelled control. */
export function field(label, control, opts = {}) {
  return el("label", { class: `field ${opts.class || ""}`.trim() }, [el("span", { class: "field-label", text: label }), control]);
}

/** Format a number compactly (null -> "–"). */
export function fmt(v, digits = 3) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return Number(v.toPrecision(digits)).toString();
}

/** Format a fraction as a percentage. */
export function pct(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  return `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
}

/** A confidence as a whole percentage ("87%"), "" when there is none. */
export function confText(conf) {
  return conf !== null ? `${Math.round(conf * 100)}%` : "";
}

/** Empty-state panel telling how to log flow records. */
export function emptyState(title, detail) {
  const code = [
    "import cnn_tb, keras",
    "",
    "probes = cnn_tb.Probes(x_test[:8], labels=y_test[:8], class_names=CLASS_NAMES)",
    "model.fit(x, y, epochs=20, callbacks=[",
    "    keras.callbacks.TensorBoard(log_dir),",
    "    cnn_tb.LayerFlow(log_dir, probes),",
    "])",
  ].join("\n");
  return el("div", { class: "empty-state", data: { empty: "1" } }, [
    el("h2", { text: title }),
    el("p", { text: detail }),
    el("pre", { class: "code", text: code }),
    el("p", {
      class: "hint",
      text: "Then run `tensorboard --logdir log_dir`. The view updates while the run trains (auto-reload).",
    }),
  ]);
}

/**
 * Probability bars for the output layer: predicted class green, true class red
 * when it differs.
 * @param {Array<[number, number]>} rows [classIndex, prob] sorted for display
 */
export function probabilityBars(rows, pred, truth, nameOf) {
  const box = el("div", { class: "prob-bars" });
  for (const [cls, p] of rows) {
    const isPred = cls === pred;
    const isTrue = truth !== null && truth !== undefined && cls === truth;
    let kind = "";
    if (isPred) kind = "pred";
    else if (isTrue) kind = "true";
    const width = `${Math.max(0, Math.min(1, p || 0)) * 100}%`;
    box.append(
      el("div", { class: `prob-row ${kind} ${isTrue ? "is-true" : ""}`.trim(), data: { class: cls, pred: isPred ? 1 : 0, true: isTrue ? 1 : 0 } }, [
        el("span", { class: "prob-name", text: nameOf(cls), title: nameOf(cls) }),
        el("span", { class: "prob-track" }, [el("span", { class: "prob-fill", style: { width } })]),
        el("span", { class: "prob-val", text: p === null || p === undefined ? "–" : `${(p * 100).toFixed(0)}%` }),
      ]),
    );
  }
  return box;
}

/** Human label of a step: -1 is the untrained model, step e is after epoch e+1. */
export function stepLabel(step) {
  return step < 0 ? "untrained" : `epoch ${step + 1}`;
}

/** "32×32×3" for a shape list (null dims shown as "?"). */
export function shapeText(shape) {
  if (!Array.isArray(shape) || !shape.length) return "?";
  return shape.map((d) => (d === null || d === undefined ? "?" : String(d))).join("×");
}

/** Class name for index i, or "class i" when the run has no class names. */
export function className(runInfo, i) {
  if (i === null || i === undefined) return "?";
  const names = runInfo && runInfo.probes && runInfo.probes.class_names;
  if (names && i >= 0 && i < names.length) return names[i];
  return `class ${i}`;
}

/** How a probe is named everywhere: "probe 3". */
export function probeName(i) {
  return `probe ${i}`;
}

/** Whole-number pixel size clamped to [lo, hi]. */
export function clampPx(v, lo, hi) {
  return Math.round(Math.max(lo, Math.min(hi, v)));
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Make the shown node `old` look like `fresh`, a node just built for the same
 * view, keeping `old` (its listeners, focus and layout) wherever the two have
 * the same shape: attributes and text are copied, a canvas gets the other's
 * pixels, children are matched by position, and a child whose tag differs, or
 * a node whose children differ in number, is replaced. SVG is kept as it is
 * (the skip arcs are drawn from the layout after insertion). An epoch change
 * then repaints pixels and changes a few texts instead of rebuilding the view,
 * whose style and layout were half the time of a jump.
 *
 * Only for two builds of the same structure (see `viewKey` in flow.js): the
 * kept nodes' listeners were made for that structure.
 * @returns {boolean} true when every node was kept (nothing replaced)
 */
export function morph(old, fresh) {
  if (old.nodeType === Node.TEXT_NODE && fresh.nodeType === Node.TEXT_NODE) {
    if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
    return true;
  }
  if (old.nodeType !== Node.ELEMENT_NODE || fresh.nodeType !== Node.ELEMENT_NODE || old.nodeName !== fresh.nodeName) {
    old.replaceWith(fresh);
    return false;
  }
  if (old.namespaceURI === SVG_NS) return true;
  for (const a of [...old.attributes]) if (!fresh.hasAttribute(a.name)) old.removeAttribute(a.name);
  for (const a of fresh.attributes) if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  if (old.nodeName === "CANVAS") {
    if (old.width !== fresh.width) old.width = fresh.width;
    if (old.height !== fresh.height) old.height = fresh.height;
    const ctx = old.getContext("2d");
    if (!fresh.width || !fresh.height) ctx.clearRect(0, 0, old.width, old.height);
    else {
      ctx.globalCompositeOperation = "copy"; // the pixels as they are, transparent ones too
      ctx.drawImage(fresh, 0, 0);
      ctx.globalCompositeOperation = "source-over";
    }
    return true;
  }
  const kept = morphChildren(old, [...fresh.childNodes]);
  if ((old.nodeName === "SELECT" || old.nodeName === "INPUT") && old.value !== fresh.value) old.value = fresh.value;
  return kept;
}

/**
 * Show the nodes `fresh`, built for the view `key`, in `parent`: patched into the
 * shown ones (`morphChildren`) when `parent` shows that view already, else in
 * their place. Remembers `key` on `parent`.
 * @returns {boolean} true when every shown node was kept
 */
export function showBuilt(parent, key, fresh) {
  const same = parent.dataset.key === key;
  parent.dataset.key = key;
  if (same) return morphChildren(parent, fresh);
  parent.replaceChildren(...fresh);
  return false;
}

/**
 * Make `parent`'s children look like the nodes `fresh` (see `morph`).
 * @returns {boolean} true when every node was kept
 */
export function morphChildren(parent, fresh) {
  const kids = [...parent.childNodes];
  if (kids.length !== fresh.length) {
    parent.replaceChildren(...fresh);
    return false;
  }
  let kept = true;
  kids.forEach((k, i) => {
    if (!morph(k, fresh[i])) kept = false;
  });
  return kept;
}
