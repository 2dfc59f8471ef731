"""Reading a log directory the way TensorBoard does: through its data provider."""

import io
import os

import numpy as np
from PIL import Image
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

from cnn_tb.contract import packs as pack_codec
from cnn_tb.contract import records
from cnn_tb.contract.tags import ACTIVATIONS_TAG, EPOCH_TAG, KERNELS_TAG, PACKS_TAG, PLUGIN_NAME, RUN_NAME


class LogDir:
    """A TensorBoard data provider over ``log_dir`` that keeps every step."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.mux = plugin_event_multiplexer.EventMultiplexer(
            size_guidance={"tensors": 0, "scalars": 0, "histograms": 0, "images": 0}
        )
        self.mux.AddRunsFromDirectory(log_dir)
        self.mux.Reload()
        self.dp = data_provider.MultiplexerDataProvider(self.mux, log_dir)
        self.ctx = context.RequestContext()

    def runs(self):
        return sorted(r.run_name for r in self.dp.list_runs(self.ctx, experiment_id=""))

    def tags(self, plugin, kind):
        fn = {
            "scalars": self.dp.list_scalars,
            "tensors": self.dp.list_tensors,
            "blobs": self.dp.list_blob_sequences,
        }[kind]
        return {run: dict(tags) for run, tags in fn(self.ctx, experiment_id="", plugin_name=plugin).items()}

    def scalars(self, run, tag):
        out = self.dp.read_scalars(
            self.ctx, experiment_id="", plugin_name="scalars", downsample=10**6,
            run_tag_filter=_filter(run, tag),
        )
        return {d.step: d.value for d in out[run][tag]}

    def tensors(self, run, tag, plugin):
        out = self.dp.read_tensors(
            self.ctx, experiment_id="", plugin_name=plugin, downsample=10**6,
            run_tag_filter=_filter(run, tag),
        )
        return {d.step: d.numpy for d in out[run][tag]}

    def blobs(self, run, tag, plugin):
        """``{step: [bytes, ...]}``."""
        out = self.dp.read_blob_sequences(
            self.ctx, experiment_id="", plugin_name=plugin, downsample=10**6,
            run_tag_filter=_filter(run, tag),
        )
        return {
            d.step: [self.dp.read_blob(self.ctx, blob_key=ref.blob_key) for ref in d.values]
            for d in out[run][tag]
        }

    def images(self, run, tag):
        """``{step: [uint8 RGB array, ...]}`` from the Images plugin data."""
        raw = self.blobs(run, tag, "images")
        return {step: [_decode(b) for b in seq[2:]] for step, seq in raw.items()}

    def epochs(self, run=RUN_NAME):
        return {s: records.decode_json(v) for s, v in self.tensors(run, EPOCH_TAG, PLUGIN_NAME).items()}

    def packs(self, step, run=RUN_NAME, kernels=False):
        """The decoded activation packs of every probe at ``step`` (the kernel pack
        with ``kernels=True``), from the pack file (format 2) or the blobs (1)."""
        index = self.tensors(run, PACKS_TAG, PLUGIN_NAME).get(step) if PACKS_TAG in self.tags(PLUGIN_NAME, "tensors").get(run, {}) else None
        if index is not None:
            record = records.parse_pack_index(records.decode_json(index), step)
            path = os.path.join(self.log_dir, run, *record["file"].split("/"))
            with open(path, "rb") as f:
                data = f.read()
            spans = [record["kernels"]] if kernels else record["activations"]
            return [pack_codec.decode_pack(data[o : o + n]) for o, n in spans]
        seq = self.blobs(run, KERNELS_TAG if kernels else ACTIVATIONS_TAG, PLUGIN_NAME)[step]
        return [pack_codec.decode_pack(b) for b in seq]


def _filter(run, tag):
    from tensorboard.data import provider

    return provider.RunTagFilter(runs=[run], tags=[tag])


def _decode(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
