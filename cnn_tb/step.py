"""One logged step: one forward pass of the probes, every kind's summaries, the
held-out pool at its steps, written and flushed.

:class:`StepRunner` is the work of :meth:`cnn_tb.LayerLogger.log` for one
attached model, in two parts: :meth:`StepRunner.prepare` does what needs the
model as it is at the step (the probes' pass, the kernels, a snapshot of the
weights for the pool's pass, each kind's ``prepare``: the feature
visualizations) and must run before training goes on; :meth:`StepRunner.finish`
turns the result into values and writes them (the reductions of the probes'
pass and the pool's pass on its snapshot, then numpy, Pillow, zlib and file
work), so it can run on a background thread while training goes on. The logger around it checks the
arguments, counts failures and keeps the training time between steps.
"""

from cnn_tb import _timing, event_writer
from cnn_tb._failures import FailureCounter
from cnn_tb.model import backend
from cnn_tb.model import capture as capture_lib
from cnn_tb.model import kernels as kernels_lib
from cnn_tb.model import reduce
from cnn_tb.summaries.base import Step


class Prepared:
    """What :meth:`StepRunner.prepare` hands to :meth:`StepRunner.finish`."""

    def __init__(self, data, pool_pass, clock, kernels):
        self.data = data  # the Step (its kernels filled in by finish)
        self.pool_pass = pool_pass  # the pool's pass for finish to run (see StepRunner._pool_pass), or None
        self.clock = clock
        self.kernels = kernels  # KernelTracker.snapshot()


class StepRunner:
    """Runs the steps of one attached model.

    Args:
        ctx: the :class:`~cnn_tb.summaries.base.ModelContext` (with ``run_dir``).
        kinds: the summary kinds, attached, in the order of ``KINDS`` (the flow
            kind, whose epoch record must be the step's last value, last).
        pool_logger: a :class:`~cnn_tb.pool.logger.PoolLogger`, attached, or None.
        writer: the event writer of an earlier runner of the same logger, kept.

    Attributes:
        messages: warnings of the steps run so far, not yet shown; the logger
            shows them on the thread that called ``log`` (a step finished on a
            background thread cannot warn where the user would see it).
    """

    def __init__(self, ctx, kinds, pool_logger=None, writer=None):
        self.ctx = ctx
        self.kinds = kinds
        self.pool_logger = pool_logger
        self.pool_failures = FailureCounter("the pool is switched off for this run.")
        self.writer = writer
        self.messages = []
        needs_kernels = any(k.needs_kernels for k in kinds)
        self.kernels = kernels_lib.KernelTracker({i.name: i.layer for i in ctx.kernel_infos} if needs_kernels else {})
        self.capture = None
        if any(k.needs_probes for k in kinds):
            self.capture = capture_lib.Capture(
                ctx.model, [i.name for i in ctx.selected], ctx.gradcam_layers, device_fn=self.device,
                reduce_later=True,
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

    def run(self, step, logs, **options):
        """Log ``step`` now: :meth:`prepare` then :meth:`finish`; the seconds of each phase."""
        return self.finish(self.prepare(step, logs, **options))

    def prepare(self, step, logs, *, final=False, last_step=None, trained=(None, 0), steps_per_epoch=None, pool=None):
        """The part of step ``step`` that reads the model (see :meth:`cnn_tb.LayerLogger.log`).

        Raises:
            Exception: whatever failed (but a pool failure, which leaves only the
                pool out of the step, with a message).
        """
        clock = _timing.Clock()
        probes = self.ctx.probes
        result = self.capture.run(probes.model_inputs(), probes.labels) if self.capture else None
        clock.lap("forward_backward")
        data = Step(step, logs, result, {}, {}, selected=self.ctx.selected, final=final,
                    last_step=last_step, train_seconds=trained[0], train_epochs=trained[1],
                    steps_per_epoch=steps_per_epoch)
        kernels = self.kernels.snapshot()  # their canonical layout and change: in finish()
        clock.lap("kernels")
        for kind in self.kinds:
            kind.prepare(data)
        clock.lap("prepare")
        pool_pass = None
        if self.pool_logger is not None and self.pool_logger.due(step, pool):
            pool_pass = self._pool_guarded(step, self._pool_pass)
            clock.lap("pool")
        return Prepared(data, pool_pass, clock, kernels)

    def deferred(self, weights, step, logs, **options):
        """The whole step on the calling thread (a background one), with the model's
        variables as they were when ``weights`` (:func:`cnn_tb.model.backend.snapshot`)
        was taken; the seconds of each phase."""
        import keras

        with keras.StatelessScope(state_mapping=weights):
            prepared = self.prepare(step, logs, **options)
        return dict(self.finish(prepared), deferred=1.0)

    @property
    def first(self):
        """True before the probes' first pass (whose compiling, but with PyTorch, takes
        seconds: TensorFlow runs it eagerly meanwhile, JAX compiles first)."""
        return self.capture is not None and not self.capture.started and backend.name() != "torch"

    def finish(self, prepared):
        """Turn a prepared step into values and write them (one write); the seconds of each phase.

        Reads nothing of the model as it is now, so it may run on a background
        thread while training goes on: its backend ops are the reductions of the
        probes' pass (statistics, histograms, each kind's ``device``), one compiled
        function of the pass's tensors, kept on the device since ``prepare``, and
        the pool's pass on the snapshot of the weights ``prepare`` took.

        Raises:
            Exception: whatever failed; nothing of the step is written then
                (but a pool failure, which leaves only the pool out).
        """
        data, clock = prepared.data, prepared.clock
        clock.lap("waiting")  # 0 when finished on the calling thread; else until the worker took it
        if data.capture is not None:
            data.capture.device  # noqa: B018 - the reductions, run here and timed on their own
        clock.lap("reductions")
        data.kernels, data.kernel_change = self.kernels.changes(prepared.kernels)
        clock.lap("kernel_change")
        # Pictures are rendered and encoded on a second thread while this one
        # computes statistics and packs the flow records: numpy, zlib and Pillow
        # release the GIL.
        pictures = _timing.submit(_timing.background(), _timing.timed, lambda: [v for k in self.kinds for v in k.pictures(data)])
        if any(k.needs_stats for k in self.kinds):
            data.stats  # noqa: B018 - computed here, timed on its own
        clock.lap("statistics")
        values = [v for k in self.kinds for v in k.values(data)]
        clock.lap("encoding")
        pool_values = []
        if prepared.pool_pass is not None and self.pool_logger is not None:
            result = self._pool_guarded(data.step, prepared.pool_pass)
            clock.lap("pool_pass")
            if result is not None:
                pool_values = self._pool_guarded(data.step, self._pool_values, data.step, result, done=True) or []
            clock.lap("pool_values")
        picture_values, clock.timings["rendering"] = pictures.result()
        clock.lap("waiting_for_rendering")
        self._write(data.step, picture_values + pool_values + values)  # the epoch record stays last
        clock.lap("writing")
        return clock.done()

    def _pool_pass(self):
        """The pool's pass as a function for ``finish``: on the weights as they are
        now, a snapshot (cheap: TensorFlow's reads are copy-on-write; the pass is
        not: the seed CNN's 512 pool images, ~100 ms in the hook before). A model
        trained under a distribution strategy (mirrored or sharded variables) has
        its pass run now, as the probes' is."""
        pool = self.pool_logger
        if backend.distributed(self.ctx.model):
            result = pool.forward()
            return lambda: result
        weights = pool.snapshot()
        return lambda: pool.forward(weights)

    def _pool_values(self, step, pool_pass):
        return self.pool_logger.values(self.pool_logger.analyse(step, pool_pass))

    def _pool_guarded(self, step, fn, *args, done=False):
        """``fn(*args)`` of the pool; a failure leaves the pool out of this step with a
        message (after 3 in a row the pool is switched off for the run): None.
        ``done``: the step's last pool work (a success resets the count)."""
        try:
            out = fn(*args)
        except Exception as e:  # noqa: BLE001 - an optional extra never stops logging
            msg = self.pool_failures.failed(
                f"cnn_tb: the held-out pool failed at step {step} and was left out ({type(e).__name__}: {e})."
            )
            if self.pool_failures.stopped:
                self.pool_logger = None
            self.messages.append(msg)
            return None
        if done:
            self.pool_failures.succeeded()
        return out

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
        """Flush and release the event file; a failure is a message."""
        if self.writer is not None:
            try:
                self.writer.flush()
            except Exception as e:  # noqa: BLE001
                self.messages.append(f"cnn_tb: could not flush {self.ctx.run_dir!r}: {e}")
            event_writer.release(self.writer)
            self.writer = None
