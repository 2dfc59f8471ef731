"""Unit tests of cnn_tb._failures: failures in a row, and when a part stops."""

from cnn_tb._failures import MAX_FAILURES, FailureCounter


def test_the_limit_stops_the_part_and_says_so_once():
    c = FailureCounter("the pool is switched off for this run.")
    assert c.limit == MAX_FAILURES == 3
    assert c.failed("a.") == "a." and c.failed("b.") == "b." and not c.stopped
    assert c.failed("c.") == "c. 3 failures in a row: the pool is switched off for this run." and c.stopped


def test_a_success_resets_the_count_and_reset_restarts_a_stopped_part():
    c = FailureCounter("stop.", limit=2)
    c.failed("x")
    c.succeeded()
    assert c.count == 0 and c.failed("y") == "y" and not c.stopped
    assert c.failed("z").endswith("2 failures in a row: stop.") and c.stopped
    c.reset()
    assert c.count == 0 and not c.stopped
