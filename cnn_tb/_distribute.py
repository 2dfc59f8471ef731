"""Which process of a distributed run writes: only the chief."""

import json
import os


def is_chief():
    """False on the non-chief workers of a multi-worker ``TF_CONFIG`` cluster."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    try:
        cfg = json.loads(raw)
        task = cfg.get("task", {})
        kind, index = task.get("type"), int(task.get("index", 0))
        cluster = cfg.get("cluster", {})
    except (ValueError, AttributeError, TypeError):
        return True
    if kind in (None, "chief"):
        return True
    if kind == "worker":
        return "chief" not in cluster and index == 0
    return False
