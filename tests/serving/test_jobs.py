"""The work queue, with real threads: slots, order, "k ahead of you", cancelling while waiting and while running."""

from __future__ import annotations

import threading

import pytest

from facefake_core import JobCancelled
from facefake_core.serving import CANCELLED, DONE, RUNNING, WAITING, WorkQueue

WAIT_S = 30  # a bound for a test that would otherwise hang; no test sleeps


def test_a_third_job_waits_while_two_run_under_a_limit_of_two():
    q = WorkQueue(slots=2)
    first, second = q.join("a"), q.join("b")
    assert first.wait(0) and second.wait(0) and not first.had_to_wait
    started = threading.Event()
    seen: dict = {}

    def third_visitor() -> None:
        with q.join("c") as t:
            seen["ahead"], seen["had_to_wait"] = t.ahead(), t.had_to_wait
            seen["ran_at_once"] = t.wait(0)
            while not t.wait(WAIT_S):
                pass
            seen["running_when_started"] = q.state().running
            started.set()

    worker = threading.Thread(target=third_visitor)
    worker.start()
    assert q.wait_until(lambda s: s.waiting == 1, WAIT_S)
    assert q.state().running == 2 and not started.is_set()
    first.release()
    assert started.wait(WAIT_S)
    worker.join(WAIT_S)
    assert seen == {"ahead": 0, "had_to_wait": True, "ran_at_once": False, "running_when_started": 2}
    second.release()
    assert q.state().running == 0 and q.state().waiting == 0


def test_first_come_first_served_and_how_many_are_ahead():
    q = WorkQueue(slots=1)
    running = q.join()
    line = [q.join(str(i)) for i in range(3)]
    assert running.state == RUNNING and [t.state for t in line] == [WAITING] * 3
    assert [t.ahead() for t in line] == [0, 1, 2]
    line[0].cancel()  # leaving the line moves everyone behind up
    assert [t.ahead() for t in line[1:]] == [0, 1] and line[0].state == CANCELLED
    with pytest.raises(JobCancelled):
        line[0].wait(0)
    running.release()
    assert running.state == DONE and line[1].state == RUNNING and line[2].ahead() == 0
    line[1].release()
    assert line[2].wait(0)


def test_cancelling_a_waiting_job_wakes_its_thread():
    q = WorkQueue(slots=1)
    holder = q.join()
    outcome: list[str] = []

    def waiter(ticket) -> None:
        try:
            while not ticket.wait(WAIT_S):
                pass
            outcome.append("ran")
        except JobCancelled as err:
            outcome.append(str(err))

    ticket = q.join()
    worker = threading.Thread(target=waiter, args=(ticket,))
    worker.start()
    ticket.cancel()
    worker.join(WAIT_S)
    assert outcome == ["the job was cancelled"] and q.state().waiting == 0
    holder.release()


def test_cancelling_a_running_job_stops_it_at_its_next_step_and_frees_the_slot():
    q = WorkQueue(slots=1)
    steps: list[int] = []
    go_on = threading.Event()

    def job(progress) -> None:
        for i in range(1000):
            progress(i, 1000, "evaluating")
            steps.append(i)
            if i == 2:
                go_on.set()
                q.wait_until(lambda s: ticket.state == CANCELLED, WAIT_S)

    ticket = q.join()
    errors: list[BaseException] = []

    def run() -> None:
        with ticket:
            assert ticket.wait(0)
            try:
                job(ticket.guard())
            except JobCancelled as err:
                errors.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    assert go_on.wait(WAIT_S)
    ticket.cancel()
    worker.join(WAIT_S)
    assert steps == [0, 1, 2] and len(errors) == 1
    nxt = q.join()
    assert nxt.wait(0), "the cancelled job's slot is free again"


def test_a_job_that_raises_still_frees_its_slot():
    q = WorkQueue(slots=1)
    with pytest.raises(RuntimeError):
        with q.join() as t:
            assert t.wait(0)
            raise RuntimeError("boom")
    assert q.join().wait(0)


def test_slots_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        WorkQueue(0)
