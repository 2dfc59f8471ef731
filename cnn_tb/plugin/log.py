"""The plugin's logger, and warnings given once per key (per run and tag)."""

import logging
import threading

logger = logging.getLogger("cnn_tb.plugin")

_warned = set()
_warned_lock = threading.Lock()


def warn_once(key, message, *args, exc_info=False):
    """Log ``message % args`` as a warning the first time ``key`` is seen."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args, exc_info=exc_info)
