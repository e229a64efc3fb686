"""Job-level ``concurrency``: who holds a group, who waits for it (GitHub's rules).

At most one job holds a group at a time; a job arriving while it is held
is *pending*, and at most one job is pending per group: a newer arrival
cancels the older pending one ("Canceling since a higher priority waiting
request for 'X' exists"), unless it asks to queue (``queue: max``: up to
100 wait, in arrival order). With ``cancel-in-progress`` the newer job also
cancels the holder, which ends ``cancelled`` (its ``always()`` steps still
run) and hands the group over when it has finished. Group names compare
case-insensitively.

Why a registry object rather than a lock per group: the replacement rule
needs to know who waits, and the same registry must be shareable. The
engine makes one per run when :attr:`RunRequest.concurrency_groups` is None
(``pheme run``: jobs of one run exclude each other); the server gives every
run of a repository the same one, so groups span runs as on GitHub. Every
method runs on the event loop of the runs sharing it; nothing is persisted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MAX_QUEUE", "ConcurrencyGroups", "GroupTicket", "Queue"]

Queue = Literal["single", "max"]
MAX_QUEUE = 100  # pending jobs of one group with ``queue: max`` (GitHub's limit)


def replaced_message(group: str) -> str:
    return f"Canceling since a higher priority waiting request for '{group}' exists"


@dataclass(eq=False)
class GroupTicket:
    """One job instance's place in a group: the holder's, or the pending one's.

    ``label`` names the job for others' log lines; ``cancel_job(message)``
    cancels the job (it logs ``message``): called when a newer job replaces it
    while pending, or cancels it in progress.
    """

    registry: ConcurrencyGroups
    key: str
    group: str
    label: str
    cancel_job: Callable[[str], None]
    _turn: asyncio.Future[bool] = field(init=False)  # True: the group is ours; False: replaced
    left: bool = False
    cancelled: bool = False

    def __post_init__(self) -> None:
        self._turn = asyncio.get_running_loop().create_future()

    @property
    def holding(self) -> bool:
        return self._turn.done() and self._turn.result() and not self.left

    @property
    def holder(self) -> GroupTicket | None:
        """Who holds the group now (for the "Waiting for ..." line)."""
        state = self.registry._groups.get(self.key)
        return state.holder if state is not None else None

    async def wait(self, stop: asyncio.Event) -> bool:
        """Wait for the group; False (and the place is given up) when ``stop`` is set first."""
        if not self._turn.done():
            stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
            turn: asyncio.Future[Any] = self._turn
            try:
                await asyncio.wait({turn, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
        if self._turn.done() and self._turn.result() and not stop.is_set():
            return True
        self.leave()
        return False

    def leave(self) -> None:
        """Give the group (or the pending place) up; the pending job, if any, gets the group.
        Idempotent: called in ``finally`` whatever happened."""
        if not self.left:
            self.left = True
            self.registry._leave(self)


@dataclass(eq=False)
class _Group:
    holder: GroupTicket | None = None
    pending: list[GroupTicket] = field(default_factory=list)  # in arrival order


class ConcurrencyGroups:
    """The groups of every run sharing this object (see the module docstring)."""

    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}

    def join(
        self,
        group: str,
        *,
        cancel_in_progress: bool,
        label: str,
        cancel_job: Callable[[str], None],
        queue: Queue = "single",
    ) -> GroupTicket:
        """Enter ``group``: hold it now if it is free, else wait for it (pending).

        ``queue="single"`` replaces whoever is pending; ``"max"`` waits behind
        them, up to :data:`MAX_QUEUE` (a job arriving at a full queue is
        cancelled at once: its ticket is ``cancelled``). ``cancel_in_progress``
        also cancels the holder.
        """
        key = group.casefold()
        state = self._groups.setdefault(key, _Group())
        ticket = GroupTicket(self, key, group, label, cancel_job)
        if state.holder is None:
            state.holder = ticket
            ticket._turn.set_result(True)
            return ticket
        if queue == "max":
            if len(state.pending) >= MAX_QUEUE:
                _cancel_waiting(ticket, f"Canceling since the queue of concurrency group '{group}' is full")
                return ticket
            state.pending.append(ticket)
        else:
            older, state.pending = state.pending, [ticket]
            for waiting in older:
                _cancel_waiting(waiting, replaced_message(waiting.group))
        holder = state.holder
        if cancel_in_progress and not holder.cancelled:
            holder.cancelled = True
            holder.cancel_job(replaced_message(holder.group))
        return ticket

    def busy(self, group: str) -> bool:
        """Whether ``group`` is held, or has someone waiting for it."""
        return group.casefold() in self._groups

    def holding(self) -> dict[str, str]:
        """Group -> label of its holder (for tests and diagnostics)."""
        return {s.holder.group: s.holder.label for s in self._groups.values() if s.holder is not None}

    def _leave(self, ticket: GroupTicket) -> None:
        state = self._groups.get(ticket.key)
        if state is None:
            return
        if state.holder is ticket:
            state.holder = state.pending.pop(0) if state.pending else None
            if state.holder is not None:
                state.holder._turn.set_result(True)
        elif ticket in state.pending:
            state.pending.remove(ticket)
        if state.holder is None and not state.pending:
            del self._groups[ticket.key]


def _cancel_waiting(ticket: GroupTicket, message: str) -> None:
    """End a ticket that never got the group (its place is gone: leaving must not touch the group)."""
    ticket.left = ticket.cancelled = True
    ticket._turn.set_result(False)
    ticket.cancel_job(message)
