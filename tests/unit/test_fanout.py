"""coopcloud.fanout: one function over many items in parallel (real threads, no stubs)."""

from __future__ import annotations

import threading
import time

import pytest

from coopcloud.fanout import fan_out, fan_out_within


def test_results_come_in_input_order_whatever_order_the_calls_end():
    def slow_first(n: int) -> int:
        time.sleep(0.05 * (5 - n))
        return n * 10

    assert fan_out(slow_first, range(5)) == [0, 10, 20, 30, 40]


def test_at_most_workers_run_at_once():
    running = 0
    peak = 0
    lock = threading.Lock()

    def count(_: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    fan_out(count, range(10), workers=3)
    assert 1 < peak <= 3


def test_calls_run_in_parallel():
    barrier = threading.Barrier(4, timeout=5)  # broken (and the test fails) unless all four wait at once

    def meet(n: int) -> int:
        barrier.wait()
        return n

    assert fan_out(meet, range(4)) == [0, 1, 2, 3]


def test_one_item_runs_in_the_callers_thread_and_none_is_an_empty_list():
    assert fan_out(lambda _: threading.current_thread(), ["a"]) == [threading.current_thread()]
    assert fan_out(lambda _: 1 / 0, []) == []


def test_every_call_ends_then_the_first_error_in_input_order_is_raised():
    ended = []

    def fail_some(n: int) -> int:
        time.sleep(0.02 * (4 - n))
        ended.append(n)
        if n in (1, 3):
            raise ValueError(f"item {n}")
        return n

    with pytest.raises(ValueError, match="item 1"):
        fan_out(fail_some, range(4))
    assert sorted(ended) == [0, 1, 2, 3]


def test_meanwhile_runs_in_the_callers_thread_while_the_workers_do():
    started = threading.Event()
    seen = []

    def work(_: str) -> str:
        started.set()
        time.sleep(0.1)
        return "done"

    def meanwhile() -> None:
        seen.append((threading.current_thread(), started.wait(5)))

    assert fan_out(work, ["only"], meanwhile=meanwhile) == ["done"]
    assert seen == [(threading.current_thread(), True)]


def test_an_interrupt_is_told_and_the_calls_under_way_finish_first():
    ended = []
    told = []
    main = threading.get_ident()

    def work(n: int) -> None:
        if n == 0:  # the worker interrupts the caller while it waits, as Ctrl-C would
            import _thread

            time.sleep(0.05)
            _thread.interrupt_main()
        time.sleep(0.2)
        ended.append(n)

    with pytest.raises(KeyboardInterrupt):
        fan_out(work, range(2), on_interrupt=lambda: told.append(threading.get_ident()))
    assert told == [main]
    assert sorted(ended) == [0, 1]


def test_within_a_deadline_a_stuck_call_is_left_behind():
    release = threading.Event()

    def lookup(name: str) -> str:
        if name == "stuck":
            release.wait(10)
        return name.upper()

    start = time.monotonic()
    assert fan_out_within(lookup, ["a", "stuck", "b", "a"], 0.3) == {"a": "A", "stuck": None, "b": "B"}
    assert time.monotonic() - start < 2
    release.set()
