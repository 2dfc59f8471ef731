"""What cnn_tb reads from a Keras model: its layers (``graph``), one compiled
pass of the probes (``capture``, over ``backend`` and ``reduce``), its kernels
(``kernels``)."""
