"""The pool's part of a logged step, for :class:`cnn_tb.LayerLogger`.

At each pool step (the untrained model, every ``every_n_epochs``-th epoch, and
the last epoch of a ``fit``) the pool goes through the model once
(:mod:`~cnn_tb.pool.capture`, :meth:`PoolLogger.forward`); then, on the host
(:meth:`PoolLogger.analyse`, :meth:`PoolLogger.values`: numpy and files only):

* ``class_separation/<layer>`` (Scalars) for the model input and every logged
  layer (:mod:`~cnn_tb.pool.separation`); in the built-in dashboard only the
  input and the dashboard layers (every layer up to 24 logged layers, else the
  representative subset of ``dashboard_layers``); the plugin gets every layer;
* ``predictions/pool_accuracy`` (Scalars), ``predictions/confusion_matrix``
  (Images);
* for the plugin: the pool run record (first pool step of a session), the pool
  record and the pool pack (:mod:`cnn_tb.contract`), the sprite (once);
* the Projector's files (:mod:`~cnn_tb.pool.projector`).
"""

import dataclasses

import numpy as np

from cnn_tb import event_writer, render
from cnn_tb.contract import packs, pool_records, records, tags
from cnn_tb.contract.tags import INPUT, MAP, TAGS, VECTOR
from cnn_tb.model import backend, graph
from cnn_tb.model.receptive_field import receptive_fields
from cnn_tb.pool import examples as examples_lib
from cnn_tb.pool import projector
from cnn_tb.pool.capture import PoolCapture
from cnn_tb.pool.separation import class_separation, confused_pairs, confusion_matrix, features_of
from cnn_tb.render.confusion import confusion_picture
from cnn_tb.summaries import flow_budget
from cnn_tb.summaries.values import image_value, plugin_value, scalar_value

DEFAULT_TOP_K = 6
_ACTIVATION_ONLY = ("Softmax", "Activation")


@dataclasses.dataclass
class PoolStep:
    """The host-side results of one pool pass."""

    step: int
    pred: np.ndarray  # [N]
    confidence: np.ndarray  # [N]
    separation: dict  # {layer: Separation}, the input first, then network order
    examples: dict  # {layer: float32 [channels, k, 6]}
    embeddings: dict  # {layer: [N, D]}
    confusion: np.ndarray  # [K, K]
    pairs: list
    accuracy: float


def default_embedding_layer(model, infos):
    """The layer feeding the model's output layer (past an activation-only output
    layer such as ``Softmax``), or None when that is the input."""
    by_name = {i.name: i for i in infos}
    out = by_name.get(graph.output_layer(model).name)
    for _ in range(2):
        if out is None or not out.inbound:
            return None
        feed = by_name.get(out.inbound[0])
        if out.class_name not in _ACTIVATION_ONLY or feed is None:
            break
        out = feed
    return feed.name if feed is not None and feed.kind in (MAP, VECTOR) else None


class PoolLogger:
    """Runs the pool and turns it into values and files.

    Args:
        pool: the labelled :class:`cnn_tb.Probes` (see :func:`cnn_tb.pool.as_pool`).
        every_n_epochs: pool steps are the untrained model and every n-th epoch.
        embedding_layers: layer names for the Projector (``None``: the layer
            feeding the output).
        top_k: dataset examples per channel.
    """

    def __init__(self, pool, every_n_epochs=1, embedding_layers=None, top_k=DEFAULT_TOP_K):
        self.pool = pool
        self.every_n_epochs = every_n_epochs
        self.embedding_spec = embedding_layers
        self.top_k = top_k
        self.last_bytes = {}

    # ------------------------------------------------------------------ attach

    def attach(self, ctx):
        """Check the pool and embedding layers against the model; prepare the pass.

        Raises:
            ValueError: a pool that does not fit the model, an unknown or
                unusable embedding layer.
        """
        model, pool = ctx.model, self.pool
        pool.check_against_model(tuple(graph.model_input(model).shape[1:]), graph.model_output(model).shape[-1])
        self.ctx = ctx
        by_name = {i.name: i for i in ctx.infos}
        names = self.embedding_spec
        if names is None:
            default = default_embedding_layer(model, ctx.infos)
            names = [default] if default else []
        for name in names:
            info = by_name.get(name)
            if info is None or info.kind not in (MAP, VECTOR):
                usable = [i.name for i in ctx.infos if i.kind in (MAP, VECTOR)]
                what = "does not have" if info is None else f"cannot embed (output shape {info.output_shape})"
                raise ValueError(
                    f"`embedding_layers` names a layer the model {what}: {name!r}. Layers with a map or "
                    f"vector output: {usable}"
                )
        self.embedding_layers = list(dict.fromkeys(names))
        self.layers = [i for i in ctx.selected if i.kind in (MAP, VECTOR)]
        extra = [by_name[n] for n in self.embedding_layers if n not in {i.name for i in self.layers}]
        plan = flow_budget.plan_budget(
            ctx.selected, ctx.settings.budget_bytes, ctx.settings.max_channels, gradcam_layers=ctx.gradcam_layers
        )
        self.example_channels = flow_budget.plan_examples(plan, self.top_k, ctx.settings.budget_bytes)
        self.fields = receptive_fields(model, ctx.infos)
        self.input_name = next(i.name for i in ctx.infos if i.kind == INPUT)
        self.x = pool.model_inputs()
        self.capture = PoolCapture(model, self.layers + extra, self.example_channels, len(pool))
        self.input_separation = class_separation(features_of(self.x), pool.labels)
        k = int(graph.model_output(model).shape[-1])
        self.num_classes = 2 if k == 1 else k
        names_ = pool.class_names or (ctx.probes.class_names if ctx.probes is not None else None)
        self.class_names = names_
        self.folder = f"{tags.POOL_DIR}/{ctx.session}"
        self.sprite_file = f"{self.folder}/sprite.png"
        self.columns, self.thumb = projector.sprite_geometry(len(pool), pool.image_shape[:2])
        self.projector = projector.ProjectorFiles(ctx.run_dir, self.folder, self.sprite_file, self.thumb)
        self._run_written = False
        self._sprite_bytes = None
        return self

    def class_name(self, i):
        i = int(i)
        return self.class_names[i] if self.class_names and 0 <= i < len(self.class_names) else str(i)

    def due(self, step, force=None):
        """Whether ``step`` is a pool step (``force`` decides when not None)."""
        if force is not None:
            return bool(force)
        return step < 0 or (step + 1) % self.every_n_epochs == 0

    # --------------------------------------------------------------------- run

    def snapshot(self):
        """The model's weights as they are now (:func:`cnn_tb.model.backend.snapshot`:
        copy-on-write reads with TensorFlow), for :meth:`forward` on another thread
        while training goes on: what the pool needs before training goes on."""
        return backend.snapshot(self.ctx.model)

    def forward(self, weights=None):
        """The pool's pass through the model (:class:`~cnn_tb.pool.capture.PoolResult`,
        numpy): as it is now, or with ``weights`` (:meth:`snapshot`), on any thread."""
        if weights is None:
            return self.capture.run(self.x, self.pool.labels)
        import keras

        with keras.StatelessScope(state_mapping=weights):
            return self.capture.run(self.x, self.pool.labels)

    def analyse(self, step, result):
        """Every host-side analysis of a pass (:class:`PoolStep`): numpy only, so it
        may run on a background thread."""
        labels = self.pool.labels
        separation = {self.input_name: self.input_separation}
        for info in self.layers:
            separation[info.name] = class_separation(result.features[info.name], labels)
        model_hw = tuple(self.x.shape[1:3])
        image_hw = tuple(self.pool.image_shape[:2])
        tables = {}
        for name, n in self.example_channels.items():
            shape = next(i.output_shape for i in self.layers if i.name == name)
            tables[name] = examples_lib.example_table(
                result.maxima[name], result.argmax[name], self.fields[name], shape[:2], image_hw, model_hw, self.top_k
            )
        return PoolStep(
            step=step,
            pred=result.pred,
            confidence=result.confidence,
            separation=separation,
            examples=tables,
            embeddings={n: result.features[n] for n in self.embedding_layers},
            confusion=confusion_matrix(labels, result.pred, self.num_classes),
            pairs=confused_pairs(labels, result.pred, result.confidence),
            accuracy=float(np.mean(result.pred == labels)),
        )

    # ------------------------------------------------------------------ values

    def values(self, ps):
        """The step's ``Summary.Value`` protos; writes the pool's files first."""
        ctx = self.ctx
        out, written = [], {}
        if self._sprite_bytes is None:
            image = projector.sprite(self.pool.uint8_images, self.columns, self.thumb)
            png = render.encode_png(image, compress_level=6)
            event_writer.write_pack_file(ctx.run_dir, self.sprite_file, [png])
            self._sprite_bytes = len(png)
            written["sprite"] = len(png)
        blob = self.pack(ps)
        path = f"{self.folder}/{ps.step}.pool"
        (span,) = event_writer.write_pack_file(ctx.run_dir, path, [blob])
        written["pool_pack"] = len(blob)
        if self.embedding_layers:
            written["projector"] = self.projector.write(ps.step, ps.embeddings, self.pool.labels, ps.pred, self.class_name)
        shown = set(ctx.dashboard_names) | {self.input_name}
        for layer, sep in ps.separation.items():
            if layer in shown and sep.value is not None:
                out.append(scalar_value(f"{TAGS['class_separation']}/{layer}", sep.value, SEPARATION_NOTE))
        out.append(scalar_value(TAGS["pool_accuracy"], ps.accuracy, "Accuracy on the held-out pool."))
        names = [self.class_name(i) for i in range(self.num_classes)]
        picture = confusion_picture(ps.confusion, names, title=f"pool of {len(self.pool)} · {projector.step_name(ps.step)}")
        out.append(
            image_value(TAGS["confusion_matrix"], [render.encode_png(picture)], picture.shape,
                        "Confusion matrix of the held-out pool: rows true class, columns predicted class")
        )
        if not self._run_written:
            out.append(plugin_value(tags.POOL_RUN_TAG, records.encode_json(self.run_record()), "cnn_tb held-out pool"))
            self._run_written = True
        record = pool_records.build_pool_record(
            step=ps.step,
            accuracy=ps.accuracy,
            class_separation={k: v.value for k, v in ps.separation.items()},
            confusion=ps.confusion.tolist() if self.num_classes <= pool_records.MAX_CONFUSION_CLASSES else None,
            confused_pairs=ps.pairs,
            file=path,
            span=span,
        )
        out.append(plugin_value(tags.POOL_TAG, records.encode_json(record)))
        self.last_bytes = written
        return out

    def run_record(self):
        pool = self.pool
        return pool_records.build_pool_run_record(
            count=len(pool),
            labels=[int(v) for v in pool.labels],
            class_names=[self.class_name(i) for i in range(self.num_classes)] if self.class_names else None,
            num_classes=self.num_classes,
            image_shape=list(pool.image_shape),
            sprite={"file": self.sprite_file, "length": self._sprite_bytes, "columns": self.columns, "thumb": list(self.thumb)},
            layers=[self.input_name] + [i.name for i in self.layers],
            examples={
                name: {"channels": list(range(n)), "top_k": min(self.top_k, len(pool)), "field": self.fields[name].describe()}
                for name, n in self.example_channels.items()
            },
            embedding_layers=list(self.embedding_layers),
            every_n_epochs=self.every_n_epochs,
        )

    def pack(self, ps):
        """The compressed pool pack of a :class:`PoolStep` (:mod:`cnn_tb.contract.packs`)."""
        small = self.num_classes <= 255
        classes = lambda c: np.where(c < 0, 255, c).astype(np.uint8) if small else c.astype(np.float32)  # noqa: E731
        bounds = (0.0, 255.0) if small else (None, None)
        arrays = []
        for layer, sep in ps.separation.items():
            arrays.append((packs.array_name(layer, "nearest"), classes(sep.nearest), *bounds, {}))
            margin = np.rint((np.clip(sep.margin, -1, 1) + 1) * 127.5).astype(np.uint8)
            arrays.append((packs.array_name(layer, "margin"), margin, -1.0, 1.0, {}))
        for layer, table in ps.examples.items():
            meta = {"channels": list(range(table.shape[0])), "fields": list(examples_lib.FIELDS)}
            arrays.append((packs.array_name(layer, "examples"), table, None, None, meta))
        arrays.append(("/pred", classes(ps.pred), *bounds, {}))
        conf = np.rint(np.clip(np.nan_to_num(ps.confidence), 0, 1) * 255).astype(np.uint8)
        arrays.append(("/confidence", conf, 0.0, 1.0, {}))
        return packs.encode_pack(arrays, level=1)


SEPARATION_NOTE = (
    "Fraction of held-out pool images whose nearest class mean (leave-one-out, standardised per-channel "
    "spatial means of this layer) is their own class."
)


def from_options(pool, probes, needs_forward, every_n_epochs, embedding_layers, top_k):
    """The :class:`PoolLogger` of :class:`cnn_tb.LayerLogger`'s ``pool=`` options (None without a pool).

    Raises:
        ValueError / TypeError: naming the option and what was received.
    """
    from cnn_tb import _validate
    from cnn_tb.pool import as_pool

    every_n_epochs = _validate.positive_int("pool_every_n_epochs", every_n_epochs)
    top_k = _validate.positive_int("pool_examples", top_k)
    if embedding_layers is not None:
        items = [embedding_layers] if isinstance(embedding_layers, str) else embedding_layers
        if not isinstance(items, (list, tuple)) or not items or not all(isinstance(n, str) for n in items):
            raise TypeError(
                "`embedding_layers` must be None or a non-empty list of layer names. "
                f"Received: embedding_layers={embedding_layers!r}"
            )
        embedding_layers = list(items)
    if pool is None:
        return None
    if not needs_forward:
        raise ValueError("`pool` needs a kind that runs the model (not only \"kernels\"). Received: pool with kinds=('kernels',)")
    pool = as_pool(pool, probes.class_names, probes.preprocess)
    return PoolLogger(pool, every_n_epochs, embedding_layers, top_k)
