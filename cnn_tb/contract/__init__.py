"""The data contract between cnn_tb's writers and its TensorBoard plugin.

Imported by both sides (the callbacks that write, the plugin that reads) and
by the tests; numpy and the standard library only, so the plugin stays light.

* :mod:`cnn_tb.contract.tags` -- where data goes: run name, steps, plugin and
  dashboard tags, format version, the plugin metadata of every tag;
* :mod:`cnn_tb.contract.records` -- the JSON run, epoch and pack index
  records (``build_*`` for the writer, ``parse_*`` for the reader, side by
  side), :mod:`~cnn_tb.contract.feature_viz_record` and
  :mod:`~cnn_tb.contract.pool_records` the same for those kinds, all made of
  the field cleaners of :mod:`cnn_tb.contract.fields`;
* :mod:`cnn_tb.contract.packs` -- the binary pack format of activations and
  kernels (quantization, encoding, decoding, subsetting).
"""
