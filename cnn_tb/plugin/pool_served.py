"""What ``/pool`` serves of a run's pool records, at any length.

The Pool view needs every pool step's step, accuracy and pack location (which
pool step goes with the shown epoch), the class separation of enough pool
steps for its chart over depth (at most 40 lines), and the confusion matrix
and confused pairs of the shown pool step only. ``/pool`` therefore serves
every record, and the heavy fields (``class_separation``, ``confusion``,
``confused_pairs``) in full for at most ``FULL_ENTRIES`` entries: every record
of a short run, an even sample (the first and the last included, at least
``MIN_FULL_EPOCHS``) of a long one or one with many classes. The other records
come as ``partial``; ``/pool_record`` serves any one of them in full.

A 9-layer model's pool of 10 classes (144 entries a record) is served
complete up to 83 pool steps, and as 83 full records beyond; a pool of 100
classes as 40 (its confusion matrices: 10,000 entries each).
"""

from cnn_tb.plugin.epochs import FULL_ENTRIES, MIN_FULL_EPOCHS, sampled

HEAVY = ("class_separation", "confusion", "confused_pairs")


def entries(rec):
    """The numbers of a pool record's heavy fields (its separation per layer, the
    confusion cells, the confused pairs with their examples)."""
    confusion = rec.get("confusion") or []
    pairs = rec.get("confused_pairs") or []
    return (len(rec.get("class_separation") or {}) + sum(len(row) for row in confusion)
            + sum(3 + len(p.get("examples") or []) for p in pairs))


def partial(rec):
    """The light form of a pool record: no heavy fields, ``partial: true``."""
    return dict(rec, **{k: None for k in HEAVY}, partial=True)


def served(records, budget=FULL_ENTRIES, minimum=MIN_FULL_EPOCHS):
    """``(records, full)``: the served list of pool ``records`` (in step order) and
    the number of them in full."""
    return sampled(records, entries, partial, budget, minimum)
