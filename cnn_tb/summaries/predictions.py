"""The probes' predictions: a Markdown table (Text) and the probe accuracy (Scalars)."""

import numpy as np

from cnn_tb.contract.tags import TAGS
from cnn_tb.summaries.base import Kind
from cnn_tb.summaries.values import scalar_value, text_value


def _md(text):
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def prediction_table(probes, probs, pred):
    """Markdown: per probe its true class, predicted class, confidence and a mark."""
    rows = ["| probe | true | predicted | confidence | |", "|---|---|---|---|---|"]
    for i in range(len(probes)):
        p = int(pred[i])
        true = None if probes.labels is None else int(probes.labels[i])
        mark = "" if true is None else ("ok" if true == p else "**wrong**")
        conf = float(probs[i, p]) if p < probs.shape[1] else float("nan")
        rows.append(f"| {i} | {_md(probes.class_name(true))} | {_md(probes.class_name(p))} | {conf:.3f} | {mark} |")
    return "\n".join(rows)


class Predictions(Kind):
    name = "predictions"

    def values(self, step):
        probes, result = self.ctx.probes, step.capture
        out = [text_value(TAGS["predictions"], prediction_table(probes, result.probs, result.pred))]
        if probes.labels is not None:
            out.append(scalar_value(TAGS["probe_accuracy"], float(np.mean(result.pred == probes.labels))))
        return out
