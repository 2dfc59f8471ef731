"""Failures in a row of one part of the logging, and when to give up on it.

A failed step warns and is skipped, and training goes on; after
``MAX_FAILURES`` failed steps in a row the part is switched off for the run
(a part that fails every step would otherwise warn every step and cost its
time for nothing). A success resets the count.
"""

MAX_FAILURES = 3  # failed steps in a row after which a part stops


class FailureCounter:
    """Counts one part's failures in a row.

    Args:
        stopping: what the warning adds when the part stops, after
            ``"N failures in a row: "`` (e.g. ``"cnn_tb stops logging for this run."``).
        limit: failures in a row after which :attr:`stopped` is True.
    """

    def __init__(self, stopping, limit=MAX_FAILURES):
        self.stopping = stopping
        self.limit = limit
        self.count = 0
        self.stopped = False

    def failed(self, message):
        """Count a failure; ``message``, plus the stop notice when this one stops the part."""
        self.count += 1
        if self.count >= self.limit:
            self.stopped = True
            message += f" {self.count} failures in a row: {self.stopping}"
        return message

    def succeeded(self):
        self.count = 0

    def reset(self):
        self.count = 0
        self.stopped = False
