"""The demo: a built-in image dataset, the notebook CNN, and the ``cnn-tb`` command."""
