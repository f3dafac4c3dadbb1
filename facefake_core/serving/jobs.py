"""A bounded work queue for heavy jobs (evaluations, sweeps): ``slots`` run at once, the rest wait in line.

Plain threading, no web framework: a caller joins the line, waits for its turn (seeing how many are ahead), runs
its job, and leaves; anyone holding the ticket may cancel it::

    queue = WorkQueue(slots=2)
    with queue.join(owner="visitor-1") as ticket:
        while not ticket.wait(0.5):           # False while waiting; JobCancelled once cancelled
            print(f"waiting: {ticket.ahead()} ahead of you")
        evaluate(model, folder, progress=ticket.guard(progress))   # a cancel stops the job at its next step

Leaving the ``with`` block frees the slot (or the place in line), also when the job raised. The line is first
come, first served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count

from ..errors import JobCancelled
from ..progress import Progress

WAITING, RUNNING, DONE, CANCELLED = "waiting", "running", "done", "cancelled"


@dataclass(frozen=True)
class QueueState:
    """A snapshot: how many jobs run, and how many wait."""

    slots: int
    running: int
    waiting: int


class Ticket:
    """One job's place in a :class:`WorkQueue`: made by :meth:`WorkQueue.join`, never directly."""

    def __init__(self, queue: "WorkQueue", number: int, owner: str) -> None:
        self._queue, self.number, self.owner = queue, number, owner
        self.state = WAITING
        self.joined = time.monotonic()
        self.started: float | None = None
        #: Whether no slot was free when the ticket joined (set by :meth:`WorkQueue.join`).
        self.had_to_wait = False

    def ahead(self) -> int:
        """How many jobs wait in line before this one (0 when it runs, or is next)."""
        return self._queue._ahead(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for a slot; ``True`` once this job holds one.

        Raises:
            JobCancelled: the ticket was cancelled.
        """
        return self._queue._wait(self, timeout)

    @property
    def waited_s(self) -> float:
        """Seconds spent in line (so far, while waiting)."""
        return (self.started if self.started is not None else time.monotonic()) - self.joined

    def cancel(self) -> None:
        """Leave the line, or ask a running job to stop: its next :meth:`check` raises :class:`JobCancelled`."""
        self._queue._cancel(self)

    def check(self) -> None:
        """Raise :class:`JobCancelled` if the ticket was cancelled (jobs call this between steps)."""
        if self.state == CANCELLED:
            raise JobCancelled("the job was cancelled")

    def guard(self, progress: Progress | None = None) -> Progress:
        """A progress callback that first :meth:`check` s, then forwards to ``progress``: long core calls that take
        a progress callback stop at their next step once the ticket is cancelled."""
        def report(done: int, total: int, what: str) -> None:
            self.check()
            if progress is not None:
                progress(done, total, what)
        return report

    def release(self) -> None:
        """Free the slot (or the place in line); idempotent."""
        self._queue._release(self)

    def __enter__(self) -> "Ticket":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class WorkQueue:
    """At most ``slots`` jobs hold a slot at once; later ones wait in arrival order.

    Args:
        slots: how many jobs run at once (at least 1).
    """

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, not {slots}")
        self.slots = slots
        self._cond = threading.Condition()
        self._line: list[Ticket] = []
        self._running: list[Ticket] = []
        self._numbers = count()

    def join(self, owner: str = "") -> Ticket:
        """A new ticket at the end of the line (it runs at once when a slot is free)."""
        with self._cond:
            ticket = Ticket(self, next(self._numbers), owner)
            self._line.append(ticket)
            self._promote()
            ticket.had_to_wait = ticket.state == WAITING
            return ticket

    def state(self) -> QueueState:
        with self._cond:
            return QueueState(self.slots, len(self._running), len(self._line))

    def wait_until(self, condition: Callable[[QueueState], bool], timeout: float | None = None) -> bool:
        """Block until ``condition(state)`` holds (checked at every change); ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: condition(QueueState(self.slots, len(self._running),
                                                                    len(self._line))), timeout)

    def tickets(self) -> list[Ticket]:
        """The running tickets, then the waiting ones in order."""
        with self._cond:
            return [*self._running, *self._line]

    # -- the ticket's operations, under the one lock --------------------------------------------------------
    def _promote(self) -> None:
        while self._line and len(self._running) < self.slots:
            ticket = self._line.pop(0)
            ticket.state, ticket.started = RUNNING, time.monotonic()
            self._running.append(ticket)
        self._cond.notify_all()

    def _ahead(self, ticket: Ticket) -> int:
        with self._cond:
            return self._line.index(ticket) if ticket in self._line else 0

    def _wait(self, ticket: Ticket, timeout: float | None) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: ticket.state != WAITING, timeout)
            ticket.check()
            return ticket.state == RUNNING

    def _cancel(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket.state in (WAITING, RUNNING):
                ticket.state = CANCELLED  # a running job keeps its slot until it notices and releases
                if ticket in self._line:
                    self._line.remove(ticket)
                self._cond.notify_all()

    def _release(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket in self._line:
                self._line.remove(ticket)
            if ticket in self._running:
                self._running.remove(ticket)
            if ticket.state != CANCELLED:
                ticket.state = DONE
            self._promote()
