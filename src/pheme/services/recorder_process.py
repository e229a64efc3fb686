"""Record local runs from a forked process, so ``pheme run`` never loads SQLAlchemy.

Why: opening the store costs ~0.3 s of CPU (SQLAlchemy's import is most of
it), as much as the rest of ``pheme run`` before its steps, and more than a
short job's steps. In a thread it competes with the engine for the GIL, so it
delays every step by as much. A process forked at the start loads it on the
other core while the engine runs, and also compresses and stores logs there.

The child is forked before any thread exists, in a new session (a Ctrl-C at
the terminal reaches the runner, which cancels the run and still sends what
follows, e.g. the ``always()`` steps' events; the child records everything it
is sent and ends when the parent says so, or when the pipe closes because the
parent died). It runs the usual :class:`StoreRecorder` against the usual
store, so what is stored is exactly what the in-process recorder stores.

Protocol: length-prefixed pickles over two pipes. Parent to child:
``("create", kwargs)`` (a run row when the quick path could not make one;
answered), ``("run", run_id)``, ``("event", event)`` (not answered),
``("end", cancelled, error)`` (answered with the stored run and any recording
error), ``("quit",)``; a log block is ``("block", job, step, size)`` followed by
``size`` bytes of UTF-8 text. Child to parent: ``("ok", value, note)`` or
``("error", class name, message)``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import signal
import struct
import threading
from collections.abc import Iterator
from typing import Any

from pheme.core.runs import RunRecord
from pheme.errors import PhemeError, StorageError

__all__ = ["RecorderProcess"]

_HEADER = struct.Struct("<Q")
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_PIPE_SIZE = 1 << 20


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int) -> bytes | None:
    parts: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, _PIPE_SIZE))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def _frames(fd: int) -> Iterator[Any]:
    while True:
        header = _read_exact(fd, _HEADER.size)
        if header is None:
            return
        body = _read_exact(fd, _HEADER.unpack(header)[0])
        if body is None:
            return
        yield pickle.loads(body)


def _send(fd: int, message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if len(body) < 65536:
        _write_all(fd, _HEADER.pack(len(body)) + body)
    else:  # no second copy of a big log block
        _write_all(fd, _HEADER.pack(len(body)))
        _write_all(fd, body)


def _error_reply(exc: BaseException) -> tuple[str, str, str]:
    return ("error", type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def _rebuild(name: str, message: str) -> PhemeError:
    """The child's error as the same kind of one-line PhemeError in the parent."""
    from pheme import errors

    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, PhemeError):
        try:
            return cls(message)
        except TypeError:
            pass
    return StorageError(message)


class RecorderProcess:
    """The parent's handle on the recording child. Use :meth:`start`, then per run
    :meth:`begin` / the instance as the run's observer / :meth:`end`, then :meth:`close`."""

    def __init__(self, url: str | None) -> None:
        self._url = url
        self._pid: int | None = None
        self._to_child = -1
        self._from_child = -1
        self._lock = threading.Lock()
        self._broken: str | None = None

    # ------------------------------------------------------------- parent side

    def start(self) -> bool:
        """Fork the child; False if that is impossible (the caller records in-process).

        Only from a single-threaded process: a fork copies locks that other
        threads hold (an import's module lock, a logging handler's), and the
        child, importing SQLAlchemy, could wait on one forever. ``pheme run``
        forks before it starts any thread; an embedding program with threads
        records in-process.
        """
        if threading.active_count() > 1:
            return False
        try:
            down_r, down_w = os.pipe2(os.O_CLOEXEC)
            up_r, up_w = os.pipe2(os.O_CLOEXEC)
        except OSError:
            return False
        with contextlib.suppress(OSError):
            fcntl.fcntl(down_w, _F_SETPIPE_SZ, _PIPE_SIZE)
        try:
            pid = os.fork()
        except OSError:
            for fd in (down_r, down_w, up_r, up_w):
                os.close(fd)
            return False
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.close(down_w)
                os.close(up_r)
                code = _child_main(self._url, down_r, up_w)
            finally:
                os._exit(code)
        os.close(down_r)
        os.close(up_w)
        self._pid, self._to_child, self._from_child = pid, down_w, up_r
        return True

    def _post(self, message: Any) -> None:
        if self._broken is not None:
            return
        with self._lock:
            try:
                _send(self._to_child, message)
            except (OSError, pickle.PicklingError) as exc:
                self._broken = f"the recording process stopped ({type(exc).__name__}: {exc})"

    def _ask(self, message: Any) -> Any:
        self._post(message)
        if self._broken is None:
            for reply in _frames(self._from_child):
                if reply[0] == "ok":
                    return reply
                raise _rebuild(reply[1], reply[2])
            self._broken = "the recording process stopped without answering"
        raise StorageError(f"run history not recorded: {self._broken}")

    def create_run(self, **kwargs: Any) -> RunRecord:
        """Create the run row in the child (waits until its store is open); its errors are raised here."""
        record: RunRecord = self._ask(("create", kwargs))[1]
        return record

    def begin(self, run_id: int) -> None:
        self._post(("run", run_id))

    def __call__(self, event: Any) -> None:
        from pheme.execution.events import LogBlock, LogLines

        if isinstance(event, LogLines) and isinstance(event.lines, LogBlock):
            # The joined text only (a block may hold its split lines too), as raw UTF-8
            # after a small header: pickling a 1 MiB str costs 30 times its encoding.
            self._post_block(event.job, event.step, event.lines.text.encode("utf-8", "surrogatepass"))
        else:
            self._post(("event", event))

    def _post_block(self, job: Any, step: Any, data: bytes) -> None:
        if self._broken is not None:
            return
        with self._lock:
            try:
                _send(self._to_child, ("block", job, step, len(data)))
                _write_all(self._to_child, data)
            except (OSError, pickle.PicklingError) as exc:
                self._broken = f"the recording process stopped ({type(exc).__name__}: {exc})"

    def end(self, *, cancelled: bool, error: str | None) -> tuple[RunRecord, str | None]:
        """Everything sent is stored; the run as stored (ended if the engine did not end it)
        and the recording error, if any, as one line."""
        reply = self._ask(("end", cancelled, error))
        return reply[1], reply[2]

    def close(self) -> None:
        if self._pid is None:
            return
        self._post(("quit",))
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)
        self._pid = None


# ----------------------------------------------------------------- child side


def _child_main(url: str | None, inbox: int, outbox: int) -> int:
    os.setsid()  # no terminal signals: the parent decides when recording ends
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from pheme.execution.events import LogBlock, LogLines

    store: Any = None
    store_error: BaseException | None = None
    recorder: Any = None
    run_id: int | None = None
    try:
        from pheme.storage import open_store

        store = open_store(url)
    except BaseException as exc:  # answered to the parent's next question
        store_error = exc
    try:
        for message in _frames(inbox):
            kind = message[0]
            if kind == "block":
                data = _read_exact(inbox, message[3]) if message[3] else b""
                if data is None:
                    break  # the parent died mid-block
                if recorder is not None:
                    text = data.decode("utf-8", "surrogatepass")
                    recorder(LogLines(job=message[1], lines=LogBlock(text), step=message[2]))
            elif kind == "event":
                if recorder is not None:
                    recorder(message[1])
            elif kind == "run":
                run_id = int(message[1])
                recorder = _new_recorder(store, run_id) if store is not None else None
            elif kind == "create":
                if store_error is not None:
                    _send(outbox, _error_reply(store_error))
                    continue
                try:
                    _send(outbox, ("ok", store.create_run(**message[1]), None))
                except PhemeError as exc:
                    _send(outbox, _error_reply(exc))
            elif kind == "end":
                _send(outbox, _end(store, store_error, recorder, run_id, cancelled=message[1], error=message[2]))
                recorder, run_id = None, None
            elif kind == "quit":
                break
    finally:
        if recorder is not None:  # the parent died mid-run: keep what was sent
            with contextlib.suppress(BaseException):
                recorder.close()
        if store is not None:
            with contextlib.suppress(BaseException):
                store.close()
    return 0


def _new_recorder(store: Any, run_id: int) -> Any:
    from pheme.services.recorder import StoreRecorder

    recorder = StoreRecorder(store, run_id)
    recorder.start()
    return recorder


def _end(store: Any, store_error: BaseException | None, recorder: Any, run_id: int | None, *,
         cancelled: bool, error: str | None) -> Any:  # fmt: skip
    from pheme.core.runs import Conclusion, Status
    from pheme.services.local_run import finish_leftovers

    if store_error is not None:
        return _error_reply(store_error)
    if run_id is None:
        return ("error", "StorageError", "no run was being recorded")
    note: str | None = None
    if recorder is not None:
        try:
            recorder.close()
        except PhemeError as exc:
            note = str(exc)
    try:
        final = store.get_run(run_id)
        if final.status != Status.COMPLETED:
            # The engine stopped without RunFinished (interrupted, or crashed): end it here.
            conclusion = Conclusion.CANCELLED if cancelled else Conclusion.FAILURE
            finish_leftovers(store, final, conclusion, error)
            final = store.get_run(run_id)
    except PhemeError as exc:
        return _error_reply(exc)
    return ("ok", final, note)
