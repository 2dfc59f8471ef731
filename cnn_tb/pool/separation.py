"""How well a layer separates the classes of the pool, and where each image stands.

The definition (``class_separation/<layer>``):

1. the *features* of a pool image at a layer: the spatial mean of each channel
   for a map layer, the output itself for a vector layer;
2. each feature is standardised over the pool (mean 0, standard deviation 1;
   population statistics); features whose variance is zero are dropped;
3. each image's *nearest class* is the class whose mean feature vector is
   nearest (Euclidean), where the mean of the image's own class leaves the
   image out (a class with one member cannot be predicted for it; classes
   absent from the pool are never predicted);
4. the value is the fraction of pool images whose nearest class is their true
   class. With no feature left (a dead layer) it is undefined (``None``).

The *margin* of an image, ``(d_other - d_own) / (d_other + d_own)`` with
``d_own`` its distance to its own class's (leave-one-out) mean and ``d_other``
to the nearest other class mean, is in [-1, 1]: positive where the image is
nearer its own class. The plugin's right-vs-wrong view draws it per layer.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Separation:
    """The nearest-class-mean analysis of one layer on the pool."""

    value: object  # float in [0, 1], or None when every feature has zero variance
    nearest: np.ndarray  # [N] int64 nearest class per image (-1 when undefined)
    margin: np.ndarray  # [N] float64 in [-1, 1] (0 when undefined)
    features_used: int


def features_of(activation):
    """The features of a layer's output ``[N, h, w, C]`` (spatial channel means) or
    ``[N, ...]`` (flattened), as float64 ``[N, D]``."""
    a = np.asarray(activation)
    if a.ndim == 4:
        return a.mean(axis=(1, 2), dtype=np.float64)
    return a.reshape(len(a), -1).astype(np.float64)


def class_separation(features, labels):
    """:class:`Separation` of ``features`` ``[N, D]`` with integer ``labels`` ``[N]``."""
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.int64)
    n = len(y)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = x.mean(axis=0)
        std = x.std(axis=0)
    keep = std > 0  # NaN and zero variance are dropped
    if not keep.any():
        return Separation(None, np.full(n, -1, np.int64), np.zeros(n), 0)
    z = (x[:, keep] - mean[keep]) / std[keep]
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    sums = np.zeros((len(classes), z.shape[1]))
    np.add.at(sums, inverse, z)
    means = sums / counts[:, None]
    # squared distance of every image to every class mean, then its own class's
    # mean without it: (sum - z_i) / (count - 1)
    d2 = (z * z).sum(axis=1)[:, None] - 2.0 * z @ means.T + (means * means).sum(axis=1)[None, :]
    own_n = counts[inverse]
    with np.errstate(divide="ignore", invalid="ignore"):
        own_mean = (sums[inverse] - z) / (own_n - 1)[:, None]
        own = ((z - own_mean) ** 2).sum(axis=1)
    own = np.where(own_n > 1, own, np.inf)
    rows = np.arange(n)
    d2[rows, inverse] = own
    d2 = np.maximum(d2, 0.0)
    nearest = classes[np.argmin(d2, axis=1)]
    value = float(np.mean(nearest == y))
    others = d2.copy()
    others[rows, inverse] = np.inf
    d_own, d_other = np.sqrt(own), np.sqrt(others.min(axis=1))
    with np.errstate(invalid="ignore"):
        margin = np.where(np.isinf(d_own), -1.0, (d_other - d_own) / (d_other + d_own))
    margin = np.where(np.isfinite(margin), margin, 0.0)
    return Separation(value, nearest.astype(np.int64), margin, int(keep.sum()))


def confusion_matrix(labels, pred, num_classes):
    """Counts ``[K, K]`` (int64): row = true class, column = predicted class."""
    out = np.zeros((num_classes, num_classes), np.int64)
    ok = (pred >= 0) & (pred < num_classes) & (labels >= 0) & (labels < num_classes)
    np.add.at(out, (labels[ok], pred[ok]), 1)
    return out


def confused_pairs(labels, pred, confidence, top=5, examples=6):
    """The most frequent (true, predicted) mistakes, most frequent first.

    Returns:
        ``[{"true", "pred", "count", "examples"}]``: up to ``top`` pairs, each
        with up to ``examples`` pool image indices, the most confidently
        wrong first.
    """
    wrong = np.flatnonzero(labels != pred)
    pairs = {}
    for i in wrong:
        pairs.setdefault((int(labels[i]), int(pred[i])), []).append(int(i))
    ranked = sorted(pairs.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:top]
    out = []
    for (t, p), idx in ranked:
        idx = sorted(idx, key=lambda i: (-float(confidence[i]), i))[:examples]
        out.append({"true": t, "pred": p, "count": len(pairs[(t, p)]), "examples": idx})
    return out
