"""A cancellation flag that signal handlers may set and event loops can await.

Why not just an ``asyncio.Event``: the CLI's signal handler, the engine's event
loop and the service that owns the run live in different places (and the loop
only exists while a run executes). :meth:`Cancellation.cancel` is safe to call
from a signal handler or any thread; an event loop subscribes with a callback
that uses ``call_soon_threadsafe``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Cancellation"]


class Cancellation:
    def __init__(self) -> None:
        self._flag = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self.reason: str | None = None

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask everything subscribed to stop (idempotent)."""
        if self._flag.is_set():
            return
        self.reason = reason
        self._flag.set()
        for callback in list(self._callbacks):
            callback()

    def is_set(self) -> bool:
        return self._flag.is_set()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on cancellation (at once if already cancelled); returns an unsubscribe."""
        self._callbacks.append(callback)
        if self._flag.is_set():
            callback()

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe
