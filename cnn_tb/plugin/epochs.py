"""What ``/epochs`` serves of a run's epoch records, at any depth and length.

The flow view needs every epoch's step, metrics and predictions (the slider,
the probe labels) but the per-layer statistics of an epoch only when it is
shown, plus enough epochs for the charts over epochs. ``/epochs`` therefore
serves every epoch, and the per-layer fields (``layers``, ``kernel_change``)
and the predictions' ``probs`` in full for at most ``FULL_ENTRIES`` layer
entries: all epochs of a small run, an even sample (the first and the last
epoch included, at least ``MIN_FULL_EPOCHS``) of a run with hundreds of layers
or thousands of epochs. The other epochs come as ``partial`` records, and
``/epoch`` serves any one of them in full when it is shown.

The seed CNN (10 logged layers, 4 convolutions) is served complete up to 857
epochs and as 857 full epochs beyond; ResNet50 (176 logged layers, 53
convolutions) as 52; a model with 500 layers as 40, plus the light fields of
every epoch.
"""

import json

FULL_ENTRIES = 12_000  # layer entries (statistics + kernel changes) served in full
MIN_FULL_EPOCHS = 40  # epochs served in full, however deep the model


def entries(rec):
    """Layer entries of one served epoch record (its statistics and kernel changes)."""
    return len(rec["layers"]) + len(rec["kernel_change"])


def full_indices(n, per_epoch, budget=FULL_ENTRIES, minimum=MIN_FULL_EPOCHS):
    """Indices (sorted) of the ``n`` epochs served in full when each holds ``per_epoch`` entries.

    Every epoch when ``n * per_epoch <= budget``; else ``max(minimum,
    budget // per_epoch)`` epochs spread evenly over the run, the first and
    the last included.
    """
    if n <= 0:
        return []
    k = n if n * max(per_epoch, 1) <= budget else max(minimum, budget // max(per_epoch, 1))
    if k >= n:
        return list(range(n))
    if k < 2:
        return [n - 1]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def partial(rec):
    """The light form of a served epoch record: no per-layer fields, no class probabilities."""
    out = dict(rec, layers=None, kernel_change=None, partial=True)
    out["predictions"] = [dict(p, probs=None) for p in rec["predictions"]]
    return out


def encode(rec, light=partial, count=entries):
    """``(JSON of rec, JSON of light(rec), count(rec))``: a record as ``/epochs``
    (or ``/pool``) serves it, whole and light, kept as bytes by the reader."""
    return _dump(rec), _dump(light(rec)), count(rec)


def json_object(head, key, pieces, tail):
    """The JSON bytes of an object: the fields of ``head``, then ``key`` holding the
    list of JSON ``pieces`` as they are, then the fields of ``tail`` (``head`` not
    empty): how ``/epochs`` and ``/pool`` are joined from records kept as bytes."""
    return _dump(head)[:-1] + b',"%s":[%s],' % (key.encode(), b",".join(pieces)) + _dump(tail)[1:]


def _dump(obj):
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def served_json(encoded, budget=FULL_ENTRIES, minimum=MIN_FULL_EPOCHS):
    """``(pieces, full)``: of records :func:`encode`-d (in step order), the JSON
    of each as served (whole or light) and the number of them whole."""
    return sampled(encoded, lambda e: e[2], lambda e: e[1], budget, minimum, whole=lambda e: e[0])


def sampled(records, count, light, budget, minimum, whole=lambda r: r):
    """``(served, full)``: ``whole(record)`` for ``records`` (in step order) at
    :func:`full_indices` (``count(record)`` entries each, the largest counting),
    ``light(record)`` elsewhere; and the number whole. The rule of ``/epochs``
    and ``/pool``."""
    per_record = max((count(r) for r in records), default=0)
    keep = set(full_indices(len(records), per_record, budget, minimum))
    return [whole(r) if i in keep else light(r) for i, r in enumerate(records)], len(keep)
