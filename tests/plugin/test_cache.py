"""Unit tests of cnn_tb.plugin.cache: ByteLRU, TimedListings, VersionedMemo."""

import threading
import time

import pytest

from cnn_tb.plugin import cache

WAIT = 10.0  # seconds a test waits for a background thread before failing


# -------------------------------------------------------------------- ByteLRU


def test_byte_lru_is_bounded_by_bytes():
    lru = cache.ByteLRU(100)
    for i in range(50):
        lru.put(i, f"value {i}", 30)
    assert len(lru) == 3
    assert lru.size == 90
    assert [k for k in range(50) if lru.get(k) is not None] == [47, 48, 49]  # the newest are kept
    assert lru.get(49) == "value 49"
    lru.put("big", b"x" * 101, 101)  # larger than the whole cache: not stored
    assert lru.get("big") is None
    assert len(lru) == 3 and lru.size == 90
    assert lru.get(47) == "value 47"


def test_byte_lru_value_of_exactly_max_bytes_evicts_all_others():
    lru = cache.ByteLRU(100)
    lru.put("a", 1, 40)
    lru.put("b", 2, 100)
    assert lru.get("a") is None and lru.get("b") == 2
    assert len(lru) == 1 and lru.size == 100


def test_byte_lru_get_refreshes_order():
    lru = cache.ByteLRU(100)
    lru.put("a", "A", 30)
    lru.put("b", "B", 30)
    lru.put("c", "C", 30)
    assert lru.get("a") == "A"  # "a" is now the most recently used
    lru.put("d", "D", 30)
    assert lru.get("b") is None
    assert (lru.get("a"), lru.get("c"), lru.get("d")) == ("A", "C", "D")
    lru.put("e", "E", 30)  # the least recently used is now "a"
    assert lru.get("a") is None
    assert [lru.get(k) for k in "cde"] == ["C", "D", "E"]


def test_byte_lru_replacing_a_key_updates_size():
    lru = cache.ByteLRU(100)
    lru.put("a", "old", 60)
    lru.put("b", "B", 30)
    lru.put("a", "new", 10)
    assert lru.get("a") == "new"
    assert lru.size == 40 and len(lru) == 2
    lru.put("c", "C", 60)  # fits: 10 + 30 + 60
    assert [lru.get(k) for k in "abc"] == ["new", "B", "C"] and lru.size == 100


def test_byte_lru_stores_falsy_values_and_missing_is_none():
    lru = cache.ByteLRU(100)
    lru.put("f", False, 1)
    lru.put("z", 0, 1)
    assert lru.get("f") is False and lru.get("z") == 0
    assert lru.get("missing") is None


def test_byte_lru_thread_safe_bound():
    lru = cache.ByteLRU(1000)

    def worker(t):
        for i in range(500):
            lru.put((t, i), i, 7)
            lru.get((t, i - 3))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lru.size == 7 * len(lru) <= 1000
    assert len(lru) == 1000 // 7


# -------------------------------------------------------------- TimedListings


def test_timed_listings_get_returns_value_and_staleness():
    listings = cache.TimedListings(ttl=0.05, max_entries=4)
    assert listings.get("k") is None
    listings.put("k", {"run": 1}, time.monotonic())
    assert listings.get("k") == ({"run": 1}, False)
    time.sleep(0.1)
    assert listings.get("k") == ({"run": 1}, True)
    listings.put("k", {"run": 2}, time.monotonic())  # listed again: fresh
    assert listings.get("k") == ({"run": 2}, False)


def test_timed_listings_age_is_measured_from_listed_at():
    listings = cache.TimedListings(ttl=60, max_entries=4)
    listings.put("old", "o", time.monotonic() - 61)
    listings.put("new", "n", time.monotonic())
    assert listings.get("old") == ("o", True)
    assert listings.get("new") == ("n", False)
    zero = cache.TimedListings(ttl=0, max_entries=4)
    zero.put("k", "v", time.monotonic())
    assert zero.get("k") == ("v", True)


def test_timed_listings_evicts_the_oldest_beyond_max_entries():
    listings = cache.TimedListings(ttl=60, max_entries=3)
    base = time.monotonic()
    listings.put("a", "A", base + 10)
    listings.put("b", "B", base + 5)  # listed earliest
    listings.put("c", "C", base + 20)
    listings.put("a", "A2", base + 21)  # replacing a key evicts nothing
    assert [listings.get(k)[0] for k in "abc"] == ["A2", "B", "C"]
    listings.put("d", "D", base + 30)
    assert listings.get("b") is None
    assert [listings.get(k)[0] for k in "acd"] == ["A2", "C", "D"]
    listings.put("e", "E", base + 31)
    assert listings.get("c") is None
    assert [listings.get(k)[0] for k in "ade"] == ["A2", "D", "E"]


def wait_for(event):
    assert event.wait(WAIT), "background refresh did not run"


def test_refresh_in_background_runs_once_per_key_at_a_time():
    listings = cache.TimedListings(ttl=0, max_entries=4)
    release, started = threading.Event(), threading.Event()
    calls = []

    def slow():
        calls.append(("k", threading.current_thread().name))
        started.set()
        assert release.wait(WAIT)

    listings.refresh_in_background("k", slow)
    wait_for(started)
    ran_twice = threading.Event()
    listings.refresh_in_background("k", lambda: (calls.append("second"), ran_twice.set()))  # already running
    other = threading.Event()
    listings.refresh_in_background("other", other.set)  # another key runs at once
    wait_for(other)
    assert calls == [("k", "cnn_tb-listing")]
    assert threading.current_thread().name != "cnn_tb-listing"
    release.set()

    # once the first refresh is over, the key can be refreshed again
    assert refresh_runs_again(listings, "k")
    assert not ran_twice.is_set()
    assert calls == [("k", "cnn_tb-listing")]


def refresh_runs_again(listings, key):
    """True once a new background refresh of ``key`` runs (within WAIT seconds)."""
    again = threading.Event()
    deadline = time.monotonic() + WAIT
    while not again.is_set() and time.monotonic() < deadline:
        listings.refresh_in_background(key, again.set)
        again.wait(0.01)
    return again.is_set()


def test_refresh_in_background_swallows_exceptions(monkeypatch):
    hooked = []
    monkeypatch.setattr(threading, "excepthook", lambda args: hooked.append(args.exc_type))
    listings = cache.TimedListings(ttl=0, max_entries=4)
    failed = threading.Event()

    def boom():
        failed.set()
        raise RuntimeError("listing failed")

    listings.refresh_in_background("k", boom)
    wait_for(failed)
    # the failed refresh frees its key: a later refresh runs
    assert refresh_runs_again(listings, "k")
    assert hooked == []  # the exception never reached the thread's excepthook


def test_refresh_threads_are_daemons():
    listings = cache.TimedListings(ttl=0, max_entries=4)
    seen = []
    done = threading.Event()
    listings.refresh_in_background("k", lambda: (seen.append(threading.current_thread().daemon), done.set()))
    wait_for(done)
    assert seen == [True]


# -------------------------------------------------------------- VersionedMemo


def test_versioned_memo_returns_value_only_for_the_same_version():
    memo = cache.VersionedMemo(max_entries=8)
    assert memo.get("k", (3, 1.5)) is None
    memo.put("k", (3, 1.5), {"steps": [0, 1, 2, 3]})
    assert memo.get("k", (3, 1.5)) == {"steps": [0, 1, 2, 3]}
    assert memo.get("k", (4, 2.5)) is None
    assert memo.get("k", (3, 1.6)) is None
    assert memo.get("other", (3, 1.5)) is None
    memo.put("k", (4, 2.5), {"steps": [0, 1, 2, 3, 4]})
    assert memo.get("k", (3, 1.5)) is None
    assert memo.get("k", (4, 2.5)) == {"steps": [0, 1, 2, 3, 4]}


def test_versioned_memo_keeps_falsy_values_and_none_version():
    memo = cache.VersionedMemo(max_entries=8)
    memo.put(("run", "", "r"), None, False)  # "no readable record", for a tag with no series
    assert memo.get(("run", "", "r"), None) is False
    assert memo.get(("run", "", "r"), (0, 1.0)) is None


def test_versioned_memo_is_bounded():
    memo = cache.VersionedMemo(max_entries=3)
    for i in range(10):
        memo.put(i, 1, f"v{i}")
    kept = [i for i in range(10) if memo.get(i, 1) is not None]
    assert kept == [7, 8, 9]
    memo.put(8, 2, "v8b")  # a new version of a kept key does not evict
    assert [memo.get(i, v) for i, v in ((7, 1), (8, 2), (9, 1))] == ["v7", "v8b", "v9"]


def test_byte_lru_oversize_replacement_drops_the_old_value():
    lru = cache.ByteLRU(100)
    lru.put("k", "old", 10)
    lru.put("k", "new", 200)
    assert lru.get("k") != "old"


def test_collector_paused_pauses_and_resumes_only_what_it_paused():
    import gc

    from cnn_tb.plugin.cache import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # a concurrent or nested bulk decode
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner one did not resume it
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with collector_paused():
            raise ValueError("a bad record")
    assert gc.isenabled()  # resumed on the way out of an error too
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # was off: stays off
    finally:
        gc.enable()


def _run(fn):
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def _small_request(fg):
    """``(thread, leave)``: a thread inside ``fg.serving()`` (entered when this returns)
    until ``leave`` is set; it calls ``give_way`` itself first."""
    entered, leave = threading.Event(), threading.Event()

    def small():
        with fg.serving():
            entered.set()
            fg.give_way()  # its own thread never waits for itself
            leave.wait(60)

    thread = _run(small)
    assert entered.wait(10)
    return thread, leave


def test_a_bulk_decode_gives_way_while_a_small_request_is_served():
    fg = cache.Foreground(max_wait=60.0)
    a, leave = _small_request(fg)
    gave_way = []
    b = _run(lambda: gave_way.append(fg.give_way()))
    b.join(0.3)
    assert b.is_alive() and not gave_way  # sleeping while the small request runs
    leave.set()
    a.join(10)
    b.join(10)
    assert not a.is_alive() and not b.is_alive() and gave_way == [None]
    assert fg._count == 0
    done = _run(fg.give_way)  # nothing served: returns at once
    done.join(10)
    assert not done.is_alive()


def test_a_bulk_decode_waits_at_most_max_wait_a_call():
    fg = cache.Foreground(max_wait=0.05)
    a, leave = _small_request(fg)
    b = _run(lambda: [fg.give_way() for _ in range(3)])  # a stream of small requests never stops it
    b.join(30)
    assert not b.is_alive()
    leave.set()
    a.join(10)
    with pytest.raises(ValueError):
        with fg.serving():
            raise ValueError("a failed request")
    assert fg._count == 0  # counted out on the way out of an error too
