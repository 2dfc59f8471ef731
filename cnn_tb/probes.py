"""Probe images: the fixed set of images whose journey through the network is
logged every epoch."""

import functools

import numpy as np


class Probes:
    """A fixed set of probe images, with optional labels and class names.

    Args:
        images: numpy array (or anything ``np.asarray`` accepts), NHWC, either
            float in [0, 1] or uint8 in 0..255. A single HWC image, or a single
            HW grayscale image, is accepted too.
        labels: optional integer labels ``[N]`` or one-hot labels ``[N, K]``.
            Default ``None``.
        class_names: optional list of class names, indexed by label.
            Default ``None``.
        preprocess: optional function mapping the displayable images (float
            [0, 1], NHWC) to what the model takes, for models trained on
            standardised or 0..255 inputs. Default ``None`` feeds the float
            [0, 1] images as they are.

    Raises:
        ValueError / TypeError: with the problem and what was received.

    Example:
        >>> probes = cnn_tb.Probes(x_test[:8], labels=y_test[:8],
        ...                        class_names=["cat", "dog", ...])
        >>> probes = cnn_tb.Probes.select(x_test, y_test, n=8)   # class-balanced
    """

    def __init__(self, images, labels=None, class_names=None, preprocess=None):
        self.images = _check_images(images)  # float32 NHWC in [0, 1]
        self.labels = _check_labels(labels, len(self.images))
        self.class_names = _check_class_names(class_names, self.labels)
        if preprocess is not None and not callable(preprocess):
            raise TypeError(f"`preprocess` must be a function or None. Received: preprocess={preprocess!r}")
        self.preprocess = preprocess

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        return (
            f"Probes(n={len(self)}, image_shape={self.image_shape}, "
            f"labels={'yes' if self.labels is not None else 'no'}, "
            f"class_names={len(self.class_names) if self.class_names else None})"
        )

    @property
    def image_shape(self):
        """``(H, W, C)`` of each probe."""
        return tuple(self.images.shape[1:])

    @functools.cached_property
    def uint8_images(self):
        """The probes as uint8 NHWC images, for display (computed once)."""
        return np.clip(np.rint(self.images * 255.0), 0, 255).astype(np.uint8)

    def model_inputs(self):
        """What is fed to the model: ``preprocess(images)`` or the [0, 1] images."""
        if self.preprocess is None:
            return self.images
        out = np.asarray(self.preprocess(self.images.copy()))
        if out.shape[0] != len(self):
            raise ValueError(
                f"`preprocess` must keep the number of images: it turned {len(self)} probes "
                f"into an array of shape {out.shape}."
            )
        return out

    def class_name(self, index):
        """Display name of class ``index``."""
        if index is None:
            return "-"
        if self.class_names and 0 <= index < len(self.class_names):
            return self.class_names[index]
        return str(index)

    def check_against_model(self, input_shape, num_outputs):
        """Check the probes fit a model input ``(H, W, C)`` (``None`` = any) and output size.

        Raises:
            ValueError: naming the mismatch and both shapes.
        """
        got = self.model_inputs().shape[1:]
        want = tuple(input_shape)
        if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
            hint = ""
            if len(got) == len(want) and want[-1] is not None and want[-1] != got[-1]:
                hint = (
                    f" The model takes {want[-1]}-channel images but the probes have "
                    f"{got[-1]} channel(s)."
                )
            raise ValueError(
                f"The probe images do not fit the model: the model's input shape is "
                f"{_fmt_shape(want)} (batch axis left out), the probes are {_fmt_shape(got)}.{hint}"
            )
        if self.labels is not None and num_outputs and num_outputs > 1:
            top = int(self.labels.max())
            if top >= num_outputs:
                raise ValueError(
                    f"The probe labels go up to {top}, but the model's output has only "
                    f"{num_outputs} classes (labels must be in 0..{num_outputs - 1})."
                )
        if self.class_names is not None and num_outputs and num_outputs > 1:
            if len(self.class_names) != num_outputs:
                raise ValueError(
                    f"`class_names` has {len(self.class_names)} names but the model outputs "
                    f"{num_outputs} classes."
                )

    @classmethod
    def select(cls, images, labels=None, n=8, class_names=None, seed=0, preprocess=None):
        """Pick ``n`` probes, class-balanced when labels are given.

        Args:
            images: NHWC array, or a ``tf.data.Dataset`` of images or
                ``(image, label)`` pairs (batched or not).
            labels: labels for an array of images. Default ``None``.
            n: how many probes. Default 8.
            class_names: optional class names. Default ``None``.
            seed: picks which images, deterministically. Default 0.
            preprocess: see :class:`Probes`. Default ``None``.

        Returns:
            :class:`Probes`.
        """
        return select_probes(images, labels, n=n, class_names=class_names, seed=seed, preprocess=preprocess)


def _fmt_shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _check_images(images):
    if images is None:
        raise ValueError("Probe images are missing. Received: images=None")
    try:
        arr = np.asarray(images)
    except Exception as e:  # noqa: BLE001 - echo whatever numpy disliked
        raise TypeError(f"Probe images must be a numpy array. Received: {type(images).__name__} ({e})") from e
    if arr.dtype == object or arr.dtype.kind not in "uif":
        raise TypeError(
            "Probe images must be float (values in [0, 1]) or uint8 (0..255). "
            f"Received an array of dtype {arr.dtype}."
        )
    if arr.ndim == 2:
        arr = arr[np.newaxis, :, :, np.newaxis]
    elif arr.ndim == 3:
        if arr.shape[-1] not in (1, 3, 4):
            raise ValueError(
                f"A 3-D probe array is read as one HWC image, but its last axis has "
                f"{arr.shape[-1]} entries (expected 1, 3 or 4 channels). Received shape "
                f"{arr.shape}. For a batch of grayscale images add a channel axis: "
                "images[..., None]."
            )
        arr = arr[np.newaxis]
    elif arr.ndim != 4:
        raise ValueError(
            f"Probe images must be NHWC (4-D) or a single HWC image. Received shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"No probe images: received an array of shape {arr.shape}.")
    if arr.shape[1] < 1 or arr.shape[2] < 1 or arr.shape[3] < 1:
        raise ValueError(f"Probe images have an empty axis: shape {arr.shape}.")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype.kind in "ui":
        raise TypeError(
            f"Probe images of integer dtype {arr.dtype} are ambiguous: pass uint8 (0..255) "
            "or float in [0, 1], e.g. images.astype('uint8')."
        )
    arr = arr.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite.reshape(len(arr), -1).all(axis=1)).ravel().tolist()
        raise ValueError(
            f"Probe images contain NaN or Inf values (in probes {bad[:10]}). Received "
            f"{int(arr.size - finite.sum())} non-finite values."
        )
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        hint = " They look like 0..255 values: divide by 255 or pass uint8." if hi <= 255 and lo >= 0 else ""
        raise ValueError(
            f"Float probe images must have values in [0, 1]; received values in "
            f"[{lo:.4g}, {hi:.4g}].{hint} If the model takes other inputs (e.g. "
            "standardised), pass displayable [0, 1] images and `preprocess=` a function "
            "that maps them to model inputs."
        )
    return np.clip(arr, 0.0, 1.0)


def _check_labels(labels, n):
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] > 1:
        if arr.dtype.kind not in "uif":
            raise TypeError(f"One-hot labels must be numeric. Received dtype {arr.dtype}.")
        arr = np.argmax(arr, axis=1)
    elif arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"Labels must be integers [N] or one-hot [N, K]. Received shape {arr.shape}."
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"Labels must be whole numbers. Received {arr[:10].tolist()}...")
    elif arr.dtype.kind not in "ui":
        raise TypeError(f"Labels must be integers. Received dtype {arr.dtype}.")
    if len(arr) != n:
        raise ValueError(
            f"The number of labels ({len(arr)}) does not match the number of probe images ({n})."
        )
    if arr.size and arr.min() < 0:
        raise ValueError(f"Labels must be >= 0. Received a label {int(arr.min())}.")
    return arr.astype(np.int64)


def _check_class_names(class_names, labels):
    if class_names is None:
        return None
    if isinstance(class_names, str) or not hasattr(class_names, "__len__"):
        raise TypeError(f"`class_names` must be a list of strings. Received: {class_names!r}")
    names = [str(c) for c in class_names]
    if not names:
        raise ValueError("`class_names` is empty. Received: []")
    if labels is not None and int(labels.max()) >= len(names):
        raise ValueError(
            f"The labels go up to {int(labels.max())} but `class_names` has only {len(names)} names."
        )
    return names


def _from_dataset(dataset, limit):
    xs, ys = [], []
    count = 0
    for item in dataset:
        if isinstance(item, (tuple, list)):
            x, y = item[0], item[1] if len(item) > 1 else None
        elif isinstance(item, dict):
            raise TypeError("Datasets of dicts are not supported for probes: map them to (image, label) pairs.")
        else:
            x, y = item, None
        x = np.asarray(x)
        y = None if y is None else np.asarray(y)
        batched = x.ndim == 4
        if not batched:
            x = x[np.newaxis]
            y = None if y is None else y[np.newaxis]
        xs.append(x)
        if y is not None:
            ys.append(y)
        count += len(x)
        if count >= limit:
            break
    if not xs:
        raise ValueError("The dataset given for probes is empty.")
    x = np.concatenate(xs)
    y = np.concatenate(ys) if len(ys) == len(xs) else None
    return x, y


def select_probes(images, labels=None, n=8, class_names=None, seed=0, preprocess=None):
    """Pick ``n`` probes from arrays or a ``tf.data.Dataset``; see :meth:`Probes.select`."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"`n` must be a positive int. Received: n={n!r}")
    if not isinstance(images, np.ndarray) and hasattr(images, "take") and hasattr(images, "element_spec"):
        # tf.data.Dataset: read a bounded number of elements, enough for balance.
        images, ds_labels = _from_dataset(images, limit=max(50 * n, 1000))
        labels = ds_labels if labels is None else labels
    images = np.asarray(images)
    if labels is None:
        idx = np.random.default_rng(seed).permutation(len(images))[:n]
        return Probes(images[np.sort(idx)], None, class_names, preprocess)
    y = _check_labels(labels, len(images))
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = {c: list(rng.permutation(np.flatnonzero(y == c))) for c in classes}
    picked = []
    while len(picked) < min(n, len(y)):
        for c in classes:
            if per_class[c] and len(picked) < n:
                picked.append(per_class[c].pop(0))
    picked = np.asarray(picked)
    order = np.argsort(y[picked], kind="stable")  # probes grouped by class
    picked = picked[order]
    return Probes(images[picked], y[picked], class_names, preprocess)
