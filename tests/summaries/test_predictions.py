"""The prediction table (Text) and probe accuracy (Scalars)."""

import numpy as np

import cnn_tb
from cnn_tb.summaries.predictions import prediction_table


def test_table_rows_escape_names_and_mark_wrong_predictions():
    probes = cnn_tb.Probes(np.zeros((3, 4, 4, 3), np.float32), labels=[0, 1, 2], class_names=["a|b", "<i>x</i>", "c"])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]], np.float32)
    table = prediction_table(probes, probs, np.argmax(probs, axis=1)).splitlines()
    assert table[0] == "| probe | true | predicted | confidence | |"
    assert table[2] == "| 0 | a\\|b | a\\|b | 0.700 | ok |"
    assert table[3] == "| 1 | &lt;i&gt;x&lt;/i&gt; | &lt;i&gt;x&lt;/i&gt; | 0.800 | ok |"
    assert table[4] == "| 2 | c | a\\|b | 0.600 | **wrong** |"


def test_without_labels_the_true_column_is_a_dash():
    probes = cnn_tb.Probes(np.zeros((1, 4, 4, 3), np.float32))
    row = prediction_table(probes, np.array([[0.25, 0.75]]), np.array([1])).splitlines()[2]
    assert row == "| 0 | - | 1 | 0.750 |  |"
