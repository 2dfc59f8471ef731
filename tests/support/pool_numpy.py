"""The pool analyses recomputed the slow, obvious way with numpy (for tests)."""

import numpy as np


def features(activation):
    """Per-channel spatial means of a map ``[N, h, w, C]``, or the flattened output."""
    a = np.asarray(activation, np.float64)
    return a.mean(axis=(1, 2)) if a.ndim == 4 else a.reshape(len(a), -1)


def class_separation(feats, labels):
    """The definition, image by image: ``(value or None, nearest [N])``."""
    x = np.asarray(feats, np.float64)
    y = np.asarray(labels)
    std = x.std(axis=0)
    keep = [j for j in range(x.shape[1]) if std[j] > 0]
    if not keep:
        return None, None
    z = (x[:, keep] - x[:, keep].mean(axis=0)) / std[keep]
    classes = sorted(set(y.tolist()))
    nearest = []
    for i in range(len(y)):
        best, best_d = None, np.inf
        for c in classes:
            members = [j for j in range(len(y)) if y[j] == c and j != i]
            if not members:
                continue  # a class with one member cannot be predicted for it
            d = np.sqrt(((z[i] - z[members].mean(axis=0)) ** 2).sum())
            if d < best_d:
                best, best_d = c, d
        nearest.append(best)
    nearest = np.array(nearest)
    return float(np.mean(nearest == y)), nearest


def confusion(labels, pred, k):
    out = np.zeros((k, k), np.int64)
    for t, p in zip(labels, pred):
        out[t, p] += 1
    return out
