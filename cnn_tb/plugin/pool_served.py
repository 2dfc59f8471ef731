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

from cnn_tb.plugin import epochs
from cnn_tb.plugin.epochs import FULL_ENTRIES, MIN_FULL_EPOCHS

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


def encode(rec):
    """A pool record (without its session) as :func:`cnn_tb.plugin.epochs.encode` keeps it."""
    return epochs.encode(rec, partial, entries)


def with_session(piece, session):
    """A record's JSON object with ``"session": session`` added as its last key."""
    return piece[:-1] + b',"session":%d}' % session


def served_json(encoded, sessions, budget=FULL_ENTRIES, minimum=MIN_FULL_EPOCHS):
    """``(pieces, full)``: of pool records :func:`encode`-d (in step order) and
    the index of each one's session, the JSON of each as served (whole or light,
    with its ``session``) and the number of them whole."""
    pieces, full = epochs.served_json(encoded, budget, minimum)
    return [with_session(p, s) for p, s in zip(pieces, sessions)], full
