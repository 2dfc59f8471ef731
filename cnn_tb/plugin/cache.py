"""The plugin's caches: a byte-bounded LRU, timed listings refreshed in the
background, and a memo of values derived from a versioned source."""

import collections
import contextlib
import gc
import logging
import sys
import threading
import time

logger = logging.getLogger("cnn_tb.plugin")


def _libc_malloc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None


_MALLOC_TRIM = _libc_malloc_trim() if sys.platform.startswith("linux") else None


def release_free_memory():
    """Give the heap's free pages back to the system (glibc's ``malloc_trim``).

    Building a large answer (``/epochs`` of a 3,000-epoch run reads every epoch
    record through the data provider: some 100 MB of short-lived objects) leaves
    freed memory in the allocator's per-thread arenas, which glibc keeps: the
    server's resident size then grows with the run's length although nothing is
    kept. Called once per answer built, not per request. A no-op elsewhere.
    """
    if _MALLOC_TRIM is not None:
        try:
            _MALLOC_TRIM(0)
        except Exception:  # noqa: BLE001 - only a memory hint
            logger.debug("cnn_tb: malloc_trim failed", exc_info=True)


def python_size(obj):
    """Bytes held by ``obj`` as Python objects: ``sys.getsizeof`` summed over its
    dicts, lists and tuples (what a decoded JSON record holds; shared objects
    counted each time they appear, as JSON would)."""
    total, stack = 0, [obj]
    while stack:
        x = stack.pop()
        total += sys.getsizeof(x)
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
    return total


@contextlib.contextmanager
def collector_paused():
    """Pause Python's cyclic garbage collector for a bulk decode, then resume it.

    Decoding a long run's records (``/epochs`` or ``/histograms`` of 1,000 epochs)
    allocates hundreds of thousands of dicts and lists, and every so many of those
    allocations the collector scans the old generations, which hold TensorBoard's
    whole multiplexer: measured at 1,000 epochs, half of ``/epochs``' first answer
    and two thirds of ``/histograms``'. What a decode allocates is either kept (in
    a cache) or freed by reference counting (no cycles), so pausing loses nothing.
    The collector is resumed only by the call that paused it (a concurrent one
    finds it paused and leaves it so; one that was off stays off).
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class Foreground:
    """Bulk decoding gives way to the requests a person is waiting on.

    TensorBoard serves each request in a thread of one Python process, and a
    bulk decode (a long run's first ``/epochs``: 1,000 records, some 0.3 s of
    pure Python) holds the interpreter lock for 5 ms at a time: a small request
    beside it (``/epoch``, ``/activations``, a probe image) then waits up to
    5 ms every time it gives the lock up, and took 5-10x as long, measured in
    Chromium on a freshly started TensorBoard. Small requests run inside
    :meth:`serving`; a bulk decode calls :meth:`give_way` between records, which
    sleeps (the lock released) while one of them runs, ``max_wait`` seconds at
    most a call, so a stream of small requests slows a bulk one, never stops it.
    """

    def __init__(self, max_wait=0.02, nap=0.0005):
        self.max_wait, self.nap = max_wait, nap
        self._count = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextlib.contextmanager
    def serving(self):
        """Marks the calling thread as serving a small request while inside."""
        with self._lock:
            self._count += 1
        self._local.foreground = True
        try:
            yield
        finally:
            self._local.foreground = False
            with self._lock:
                self._count -= 1

    def give_way(self):
        """Sleep while a small request is being served by another thread (not in a
        small request's own thread), at most ``max_wait`` s."""
        if getattr(self._local, "foreground", False) or not self._count:
            return
        end = time.monotonic() + self.max_wait
        while self._count and time.monotonic() < end:
            time.sleep(self.nap)


class ByteLRU:
    """A thread-safe LRU cache bounded by the total size of its values."""

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self._items = collections.OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key, value, nbytes):
        nbytes = int(nbytes)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]
            if nbytes > self.max_bytes:
                return  # too big to keep; the old value of the key is gone too
            self._items[key] = (value, nbytes)
            self._size += nbytes
            while self._size > self.max_bytes and self._items:
                _, (_, n) = self._items.popitem(last=False)
                self._size -= n

    @property
    def size(self):
        return self._size

    def __len__(self):
        return len(self._items)


class TimedListings:
    """Results of listing calls with the time they were made.

    ``get`` returns a cached value at once; :meth:`refresh_in_background`
    lists again in a daemon thread (one at a time per key) when it is older
    than ``ttl`` seconds, so a warm request makes no provider call.
    """

    def __init__(self, ttl, max_entries):
        self.ttl = ttl
        self.max_entries = max_entries
        self._items = {}  # key -> (monotonic time, value)
        self._refreshing = set()
        self._lock = threading.Lock()

    def get(self, key):
        """``(value, stale)`` or ``None`` when ``key`` was never listed."""
        with self._lock:
            item = self._items.get(key)
        if item is None:
            return None
        return item[1], time.monotonic() - item[0] >= self.ttl

    def put(self, key, value, listed_at):
        with self._lock:
            self._items[key] = (listed_at, value)
            if len(self._items) > self.max_entries:
                oldest = min(self._items, key=lambda k: self._items[k][0])
                self._items.pop(oldest, None)

    def refresh_in_background(self, key, refresh):
        """Run ``refresh()`` in a daemon thread unless one is running for ``key``."""
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def run():
            try:
                refresh()
            except Exception:  # noqa: BLE001 - the next request lists synchronously
                logger.debug("cnn_tb: background listing of %r failed", key, exc_info=True)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=run, name="cnn_tb-listing", daemon=True).start()


class VersionedMemo:
    """Values derived from a source, kept while the source's version is unchanged."""

    def __init__(self, max_entries):
        self.max_entries = max_entries
        self._items = {}  # key -> (version, value)
        self._lock = threading.Lock()

    def get(self, key, version):
        with self._lock:
            hit = self._items.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, key, version, value):
        with self._lock:
            self._items[key] = (version, value)
            if len(self._items) > self.max_entries:
                self._items.pop(next(iter(self._items)))
