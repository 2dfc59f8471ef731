"""What differs between Keras' backends, in one place: compiling a function of the
model, and the gradient of a few scalars with respect to some tensors.

Everything else cnn_tb computes on the device is written once with ``keras.ops``.
"""

import atexit
import threading

import keras

_compiling = set()  # background compilations still running


@atexit.register
def _finish_compilations():
    """Let background compilations end before the interpreter does (TensorFlow
    aborts the process when a thread is tracing while Python shuts down)."""
    for thread in list(_compiling):
        thread.join()


def name():
    """``"tensorflow"``, ``"jax"`` or ``"torch"``."""
    return keras.backend.backend()


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


class ModelFunction:
    """``fn(*args)`` of a model, compiled where the backend allows it.

    ``fn`` calls the model's layers; with JAX its variables are passed in as
    arguments (through ``keras.StatelessScope``), so the compiled function always
    sees the current weights. Arguments are numpy arrays or nests of them;
    results come back as nests of numpy arrays.

    Compiling a function of a model of hundreds of layers takes seconds to
    minutes (``tf.function`` tracing, XLA), while one eager call takes little
    more than a compiled one with TensorFlow. So with TensorFlow the first call
    runs eagerly and then starts compiling in a background thread; calls run
    eagerly until the compiled function is ready, then use it. JAX (whose eager mode is far slower than
    its compiler) and ``background=False`` compile on the first call instead.

    Args:
        model: the Keras model whose variables ``fn`` reads, or None (``fn``
            reads no variable: a function of its arguments only).
        fn: a function of backend tensors returning a nest of tensors.
        compile: compile with ``tf.function`` / ``jax.jit`` (torch runs eagerly).
        background: compile in a background thread, running eagerly until done.
        host: results come back as numpy (else as the backend's tensors, on the
            device, for another function to take).
        snapshots: the function is called inside ``keras.StatelessScope`` (on a
            :func:`snapshot` of the weights) and stays compiled there: with
            TensorFlow the variables' values are then passed in as arguments, as
            with JAX (else a ``tf.function`` would read the variables themselves,
            so such a call runs eagerly).
    """

    def __init__(self, model, fn, compile=True, background=True, host=True, snapshots=False):
        self.model = model
        self.fn = fn
        self.backend = name()
        self._out = to_numpy if host else (lambda x: x)
        self._eager = fn
        self._compiled = None
        self._compiling = None
        self.snapshots = bool(snapshots) and self.backend == "tensorflow" and model is not None
        variables = list(model.variables) if model is not None else []

        def stateless(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        if self.backend == "tensorflow" and compile:
            import tensorflow as tf

            # No AutoGraph: what cnn_tb compiles is written with keras.ops (``cond``,
            # no Python branch on a tensor), as Keras' own trainer compiles layers
            # (``do_not_convert``); AutoGraph's source rewriting of every function
            # the pass calls was most of the tracing time (seed CNN: ~11 of 15 s).
            if self.snapshots:

                def make():
                    traced = tf.function(stateless, reduce_retracing=True, autograph=False)
                    return lambda *args: traced([v.value for v in variables], *args)

                self._make = make
            else:
                self._make = lambda: tf.function(fn, reduce_retracing=True, autograph=False)
        elif self.backend == "jax" and compile:
            import jax

            def make():
                jitted = jax.jit(stateless)
                return lambda *args: jitted([v.value for v in variables], *args)

            self._make = make
        else:
            self._make = None
            if self.backend == "torch":
                import torch

                def no_grad(*args):
                    with torch.no_grad():  # gradients only where scalar_gradients asks for them
                        return fn(*args)

                self._eager = no_grad
        # JAX runs an uncompiled function op by op, compiling every primitive for its
        # shapes on first use: for a model's layer-by-layer pass with its gradient
        # that costs far more than one jax.jit of the whole (seed CNN: ~2 minutes
        # eagerly beside a background compile vs seconds), so JAX compiles first.
        self.background = background and self._make is not None and self.backend != "jax"

    @property
    def compiled(self):
        """True once calls run the compiled function (always, where nothing is compiled)."""
        return self._compiled is not None or self._make is None

    def _compile(self, args):
        compiled = self._make()
        out = keras.tree.map_structure(self._out, compiled(*args))  # traces / compiles, and runs once
        self._compiled = compiled
        return out

    def wait(self, timeout=None):
        """Wait for a background compilation (True when the compiled function is ready)."""
        if self._compiling is not None:
            self._compiling.join(timeout)
        return self.compiled

    def __call__(self, *args):
        args = keras.tree.map_structure(keras.ops.convert_to_tensor, args)
        # Inside a keras.StatelessScope (a snapshot of the weights, see snapshot())
        # a tf.function would read the variables themselves: TensorFlow runs such
        # a call eagerly, where the scope applies. (JAX's compiled function takes
        # the variables' values as arguments; PyTorch runs eagerly.)
        stateless = self.backend == "tensorflow" and not self.snapshots and _in_stateless_scope()
        if self._compiled is not None and not stateless:
            return keras.tree.map_structure(self._out, self._compiled(*args))
        if self._make is not None and not self.background and not stateless:
            return self._compile(args)  # the compiling call's result: the function runs once
        out = keras.tree.map_structure(self._out, self._eager(*args))
        if self._make is not None and self.background and self._compiling is None:
            # Started after the first eager call, not beside it: tracing holds the
            # GIL for seconds, and an eager pass beside it took 5-6x longer (the
            # seed CNN's untrained step: 6 s instead of 1 s on 2 cores).
            self._compiling = threading.Thread(target=self._compile_quietly, args=(args,), name="cnn_tb-compile", daemon=True)
            _compiling.add(self._compiling)
            self._compiling.start()
        return out

    def _compile_quietly(self, args):
        try:
            self._compile(args)
        except Exception:  # noqa: BLE001 - the eager function keeps working
            import logging

            logging.getLogger("cnn_tb").warning("cnn_tb: compiling the capture failed; it runs eagerly", exc_info=True)
        finally:
            _compiling.discard(threading.current_thread())


def _in_stateless_scope():
    from keras.src.backend.common.stateless_scope import in_stateless_scope

    return in_stateless_scope()


def snapshot(model):
    """``[(variable, value)]`` of every variable of ``model``, as it is now (see
    :func:`frozen`): with ``keras.StatelessScope(state_mapping=...)`` a function
    of the model computes with these values on any thread, however training
    changes the variables meanwhile."""
    return [(v, frozen(v)) for v in model.variables]


def frozen(variable):
    """The value of a Keras variable as it is now, kept so however training
    updates the variable later (read it on any thread, with :func:`to_numpy`).
    TensorFlow's variable reads are copy-on-write (an update copies a buffer
    that a read still holds), so TensorFlow reads; JAX (whose trainer donates the
    old arrays to the update) and PyTorch (which updates in place) copy, JAX to
    the host (no compiling per shape), PyTorch on the device."""
    backend = name()
    if backend == "torch":
        return variable.value.detach().clone()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.identity(variable.value)  # a read, now
    import numpy as np

    return np.array(variable.value)


def distributed(model):
    """True for a model trained under a ``tf.distribute`` strategy or a
    ``keras.distribution`` (its variables may be mirrored or sharded)."""
    try:
        if keras.distribution.distribution() is not None:
            return True
    except Exception:  # noqa: BLE001 - a backend without keras.distribution
        pass
    if name() == "tensorflow":
        import tensorflow as tf

        strategy = getattr(model, "distribute_strategy", None)  # the strategy the model was built under
        return tf.distribute.has_strategy() or (strategy is not None and strategy is not tf.distribute.get_strategy())
    return False


def bin_counts(bins, length, weights=None):
    """Float32 counts [length] of the int32 indices ``bins`` (each in [0, length)),
    each counting ``weights[i]`` (default 1). TensorFlow's ``bincount`` is about
    three times faster on the CPU than its segment sum; JAX's needs its length at
    trace time and Keras gives none, so the others keep ``segment_sum``."""
    if name() == "tensorflow":
        import tensorflow as tf

        return tf.math.bincount(bins, weights=weights, minlength=length, maxlength=length, dtype=tf.float32)
    ones = weights if weights is not None else keras.ops.ones(bins.shape, "float32")
    return keras.ops.segment_sum(ones, bins, length)


def scalar_gradients(f, wrt, n_scores, same_as_first=None):
    """``(scores, grads, aux)`` of ``f(wrt) -> (scores [n_scores], aux)``.

    ``grads[i]`` is the list of gradients of ``scores[i]`` with respect to each
    tensor of ``wrt`` (zeros where a score does not depend on one). Call it
    inside a :class:`ModelFunction`'s function.

    ``same_as_first``: ``fn(aux) -> bool tensor``, true when every score is the
    same function of ``wrt`` as the first (the true class of every probe is the
    predicted one): the other scores' backward passes are then skipped (a
    conditional inside the compiled function) and ``grads[0]`` is returned for them.
    """
    backend = name()
    if not wrt:
        scores, aux = f(wrt)
        return scores, [[] for _ in range(n_scores)], aux
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape(persistent=True) as tape:
            tape.watch(wrt)
            scores, aux = f(wrt)
            parts = [scores[i] for i in range(n_scores)]

        def grad(i):
            return tape.gradient(parts[i], wrt, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        grads = [grad(0)]
        for i in range(1, n_scores):
            if same_as_first is None:
                grads.append(grad(i))
            else:
                first = grads[0]
                grads.append(list(tf.cond(same_as_first(aux), lambda: [tf.identity(g) for g in first], lambda i=i: grad(i))))
        del tape
        return scores, grads, aux
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        scores, vjp, aux = jax.vjp(f, wrt, has_aux=True)

        def grad(i):
            return list(vjp(jnp.zeros_like(scores).at[i].set(1.0))[0])

        grads = [grad(0)]
        for i in range(1, n_scores):
            if same_as_first is None:
                grads.append(grad(i))
            else:
                grads.append(jax.lax.cond(same_as_first(aux), lambda first=grads[0]: first, lambda i=i: grad(i)))
        return scores, grads, aux
    import torch

    wrt = [w.detach().requires_grad_(True) for w in wrt]
    with torch.enable_grad():
        scores, aux = f(wrt)
        grads = []
        for i in range(n_scores):
            if i > 0 and same_as_first is not None and bool(same_as_first(aux)):
                grads.append(grads[0])
                continue
            g = torch.autograd.grad(scores[i], wrt, retain_graph=i < n_scores - 1, allow_unused=True)
            grads.append([torch.zeros_like(w) if gi is None else gi for gi, w in zip(g, wrt)])
    detach = lambda t: t.detach() if hasattr(t, "detach") else t  # noqa: E731
    return detach(scores), [[detach(g) for g in gs] for gs in grads], keras.tree.map_structure(detach, aux)
