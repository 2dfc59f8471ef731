"""One logged step: one forward pass of the probes, every kind's summaries, the
held-out pool at its steps, and one event, written and flushed.

:class:`StepRunner` is the work of :meth:`cnn_tb.LayerLogger.log` for one
attached model; the logger around it checks the arguments, counts failures
and keeps the training time between steps.
"""

import warnings

from cnn_tb import _timing, event_writer
from cnn_tb._failures import FailureCounter
from cnn_tb.model import capture as capture_lib
from cnn_tb.model import kernels as kernels_lib
from cnn_tb.model import reduce
from cnn_tb.summaries.base import Step


class StepRunner:
    """Runs the steps of one attached model.

    Args:
        ctx: the :class:`~cnn_tb.summaries.base.ModelContext` (with ``run_dir``).
        kinds: the summary kinds, attached, in the order of ``KINDS`` (the flow
            kind, whose epoch record must be the step's last value, last).
        pool_logger: a :class:`~cnn_tb.pool.logger.PoolLogger`, attached, or None.
        writer: the event writer of an earlier runner of the same logger, kept.
    """

    def __init__(self, ctx, kinds, pool_logger=None, writer=None):
        self.ctx = ctx
        self.kinds = kinds
        self.pool_logger = pool_logger
        self.pool_failures = FailureCounter("the pool is switched off for this run.")
        self.writer = writer
        needs_kernels = any(k.needs_kernels for k in kinds)
        self.kernels = kernels_lib.KernelTracker({i.name: i.layer for i in ctx.kernel_infos} if needs_kernels else {})
        self.capture = None
        if any(k.needs_probes for k in kinds):
            self.capture = capture_lib.Capture(
                ctx.model, [i.name for i in ctx.selected], ctx.gradcam_layers, device_fn=self.device
            )

    def device(self, t):
        """What crosses to the host after a pass: the statistics and each kind's reductions."""
        out = {k.name: k.device(t) for k in self.kinds if k.device is not None}
        names = [i.name for i in self.ctx.selected]
        if any(k.needs_stats for k in self.kinds):
            out["layer_stats"] = reduce.layer_stats(t, names)
        if any(k.needs_histograms for k in self.kinds):
            out["layer_histograms"] = reduce.histograms(t, names)
        return out

    def run(self, step, logs, *, final=False, last_step=None, trained=(None, 0), steps_per_epoch=None, pool=None):
        """Log ``step`` (see :meth:`cnn_tb.LayerLogger.log`); the seconds of each phase.

        Raises:
            Exception: whatever failed; nothing of the step is written then
                (but a pool failure, which leaves only the pool out).
        """
        clock = _timing.Clock()
        probes = self.ctx.probes
        result = self.capture.run(probes.model_inputs(), probes.labels) if self.capture else None
        clock.lap("forward_backward")
        data = Step(step, logs, result, *self.kernels.read(), selected=self.ctx.selected, final=final,
                    last_step=last_step, train_seconds=trained[0], train_epochs=trained[1],
                    steps_per_epoch=steps_per_epoch)
        clock.lap("kernels")
        # Pictures are rendered and encoded on a second thread while this one
        # computes statistics and packs the flow records: training is paused
        # during the callback, and numpy, zlib and Pillow release the GIL.
        pictures = _timing.background().submit(_timing.timed, lambda: [v for k in self.kinds for v in k.pictures(data)])
        if any(k.needs_stats for k in self.kinds):
            data.stats  # noqa: B018 - computed here, timed on its own
        clock.lap("statistics")
        values = [v for k in self.kinds for v in k.values(data)]
        clock.lap("encoding")
        pool_values = self._pool_values(step, pool, clock)
        picture_values, clock.timings["rendering"] = pictures.result()
        clock.lap("waiting_for_rendering")
        self._write(step, picture_values + pool_values + values)  # the epoch record stays last
        clock.lap("writing")
        return clock.done()

    def _pool_values(self, step, force, clock):
        """The pool's values at a pool step; a failure warns and leaves the pool out
        of this step (after 3 in a row the pool is switched off for the run)."""
        if self.pool_logger is None or not self.pool_logger.due(step, force):
            return []
        try:
            values = self.pool_logger.values(self.pool_logger.run(step))
        except Exception as e:  # noqa: BLE001 - an optional extra never stops logging
            msg = self.pool_failures.failed(
                f"cnn_tb: the held-out pool failed at step {step} and was left out ({type(e).__name__}: {e})."
            )
            if self.pool_failures.stopped:
                self.pool_logger = None
            warnings.warn(msg, RuntimeWarning, stacklevel=4)
            return []
        self.pool_failures.succeeded()
        clock.lap("pool")
        return values

    def _write(self, step, values):
        if self.writer is None:
            self.writer = event_writer.acquire(self.ctx.run_dir)
        try:
            self.writer.write(step, values)
            self.writer.flush()
        except Exception:
            # A full disk or a vanished directory: drop this file (what was
            # flushed before stays readable) and start a new one next step.
            writer, self.writer = self.writer, None
            event_writer.discard(writer)
            raise

    def close(self):
        """Flush and release the event file."""
        if self.writer is not None:
            try:
                self.writer.flush()
            except Exception as e:  # noqa: BLE001
                warnings.warn(f"cnn_tb: could not flush {self.ctx.run_dir!r}: {e}", RuntimeWarning, stacklevel=3)
            event_writer.release(self.writer)
            self.writer = None
