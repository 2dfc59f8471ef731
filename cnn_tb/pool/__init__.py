"""The held-out pool: a few hundred labelled images run through the model once per
pool epoch, feeding analyses of what every layer has learned.

* :func:`as_pool` checks the ``pool=`` argument (here);
* :mod:`~cnn_tb.pool.capture` runs the pool in batches, reducing on the device;
* :mod:`~cnn_tb.pool.separation` measures class separation per layer, and how
  far each image is from its own class (numpy);
* :mod:`~cnn_tb.pool.examples` keeps the top pool images of every stored
  channel, with the crop of the receptive field of their maximum;
* :mod:`~cnn_tb.pool.projector` writes the files of TensorBoard's Projector;
* :mod:`~cnn_tb.pool.logger` ties them together for :class:`cnn_tb.LayerLogger`.
"""

import numpy as np

from cnn_tb.probes import Probes, _from_dataset

MAX_POOL = 4096  # images; a pool is a held-out sample, not a validation set


def as_pool(pool, class_names=None, preprocess=None):
    """The ``pool=`` argument as a labelled :class:`cnn_tb.Probes`.

    Args:
        pool: a :class:`cnn_tb.Probes` with labels, an ``(images, labels)``
            pair, or a ``tf.data.Dataset`` of ``(image, label)`` pairs (batched
            or not; read once, at most ``MAX_POOL`` images).
        class_names: class names for a pair or a dataset (the probes' by default).
        preprocess: ``preprocess=`` for a pair or a dataset (the probes' by default).

    Raises:
        ValueError / TypeError: no labels, fewer than two images or classes,
            more than ``MAX_POOL`` images, or images that :class:`cnn_tb.Probes`
            rejects; the message names the problem and what was received.
    """
    if isinstance(pool, Probes):
        probes = pool
    elif isinstance(pool, (tuple, list)) and len(pool) == 2:
        probes = Probes(pool[0], labels=pool[1], class_names=class_names, preprocess=preprocess)
    elif not isinstance(pool, np.ndarray) and hasattr(pool, "element_spec") and hasattr(pool, "take"):
        x, y = _from_dataset(pool, limit=MAX_POOL + 1)
        if y is None:
            raise ValueError(
                "`pool` must hold labels: the dataset gives images only. Map it to (image, label) pairs. "
                f"Received a dataset with element_spec={pool.element_spec!r}"
            )
        if len(x) > MAX_POOL:
            raise ValueError(
                f"`pool` must hold at most {MAX_POOL} images; the dataset gives more. Pass "
                "`dataset.take(n)` (a few hundred held-out images are enough)."
            )
        probes = Probes(x, labels=y, class_names=class_names, preprocess=preprocess)
    else:
        raise TypeError(
            "`pool` must be cnn_tb.Probes(images, labels=...), an (images, labels) pair or a "
            f"tf.data.Dataset of (image, label) pairs. Received: pool={_short(pool)}"
        )
    if probes.labels is None:
        raise ValueError(
            "`pool` must hold labels: class separation, the confusion matrix and right-vs-wrong "
            "need them. Received: cnn_tb.Probes without labels. Pass cnn_tb.Probes(images, labels=...)."
        )
    if len(probes) > MAX_POOL:
        raise ValueError(
            f"`pool` must hold at most {MAX_POOL} images (a few hundred are enough). Received {len(probes)} images."
        )
    if len(probes) < 2 or len(np.unique(probes.labels)) < 2:
        raise ValueError(
            f"`pool` must hold at least 2 images of at least 2 classes. Received {len(probes)} image(s) "
            f"of classes {sorted(set(probes.labels.tolist()))[:10]}."
        )
    return probes


def _short(x):
    text = repr(x) if not isinstance(x, np.ndarray) else f"array of shape {x.shape}"
    return text if len(text) < 120 else text[:117] + "..."
