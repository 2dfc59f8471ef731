"""Which process of a distributed run writes: only the chief."""

import json
import os
import sys


def is_chief():
    """False on the non-chief workers of a multi-worker ``TF_CONFIG`` cluster, and
    on JAX processes other than process 0 (``jax.distributed``, which
    ``keras.distribution`` uses across hosts)."""
    jax = sys.modules.get("jax")  # only where JAX is in use: never imported here
    if jax is not None:
        try:
            if jax.process_count() > 1:
                return jax.process_index() == 0
        except Exception:  # noqa: BLE001 - a JAX without a backend: not a multi-process run
            pass
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
