"""What a run tells the outside world while it executes.

The runner (``pheme.execution``) emits these events to a :class:`RunObserver`;
the CLI's terminal view, the store recorder and (later) the server's live
stream are observers. Events are plain frozen dataclasses so observers never
depend on runner internals.

Rules every emitter follows:
- Log lines are ALREADY MASKED when they leave the runner. Nothing downstream
  ever sees a secret value.
- Log lines are text without the trailing newline. Groups are kept as GitHub's
  raw logs keep them: a line ``##[group]Title`` opens one, ``##[endgroup]``
  closes it; annotations appear as ``##[error]…`` / ``##[warning]…`` /
  ``##[notice]…`` lines and also as :class:`Annotation` events.
- Observer methods are called from the runner's event-loop thread and must be
  cheap: an observer with slow work (compression, SQL) hands it to its own
  thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, overload

Conclusion = Literal["success", "failure", "cancelled", "skipped"]


@dataclass(frozen=True, slots=True)
class JobRef:
    """One job instance of a run: a matrix job has one JobRef per combination.

    ``key`` is unique within the run (e.g. ``build`` or ``build (3.11, linux)``)
    and is what logs and records are keyed by; ``job_id`` is the workflow's
    job id; ``matrix`` the combination or None.
    """

    key: str
    job_id: str
    name: str
    matrix: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StepRef:
    """``number`` is 1-based among the job's listed steps (pseudo-steps such as
    "Set up job" are never reported); ``id`` is the step's ``id:`` or None."""

    number: int
    id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class RunStarted:
    workflow: str
    file: str
    at: datetime


@dataclass(frozen=True, slots=True)
class JobStarted:
    job: JobRef
    at: datetime


@dataclass(frozen=True, slots=True)
class JobPending:
    """A job instance waits for its ``concurrency`` group, held by another job
    (GitHub shows it ``pending``). It is followed by :class:`JobGroupAcquired`
    once the group is free, or by a ``JobFinished`` (``cancelled``) when a newer
    job of the group replaces it or the run is cancelled meanwhile."""

    job: JobRef
    group: str
    at: datetime


@dataclass(frozen=True, slots=True)
class JobGroupAcquired:
    """A pending job now holds its concurrency group and goes on (only after :class:`JobPending`)."""

    job: JobRef
    group: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StepStarted:
    job: JobRef
    step: StepRef
    at: datetime


class LogBlock(Sequence[str]):
    """Lines held as ONE string, joined by ``\n`` (no trailing newline).

    Why: a step printing 200 MB would otherwise become two million ``str``
    objects on the event loop, each touched again by every observer. The
    runner hands a read block on as it is; it behaves exactly like the list
    of its lines (split on first use), and observers that can work on the
    joined text (the store) read :attr:`raw` directly. ``LogBlock("")`` is
    one empty line, as ``"".split("\n")`` is.

    Most output is plain ASCII: :meth:`from_ascii` keeps such a block as the
    bytes read from the pipe, decoded only if an observer asks for
    :attr:`text` (a store keeps the bytes as they are: no decoding, no
    encoding of 200 MB).
    """

    __slots__ = ("_count", "_data", "_lines", "_text")

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._data: bytes | None = None
        self._count: int | None = None
        self._lines: list[str] | None = None

    @classmethod
    def from_ascii(cls, data: bytes) -> LogBlock:
        """Lines given as ASCII bytes joined by ``\n``."""
        block = cls.__new__(cls)
        block._text, block._data, block._count, block._lines = None, data, None, None
        return block

    @property
    def text(self) -> str:
        """The lines joined by ``\n``."""
        if self._text is None:
            assert self._data is not None
            self._text = self._data.decode("ascii")
        return self._text

    @property
    def raw(self) -> str | bytes:
        """The joined lines as they were made: ASCII bytes (see :meth:`from_ascii`) or text."""
        if self._data is not None:
            return self._data
        assert self._text is not None
        return self._text

    @property
    def size(self) -> int:
        """Characters in the joined lines (cheap: no pass over them)."""
        return len(self.raw)

    def has_line_starting(self, prefix: str) -> bool:
        """Whether some line starts with ``prefix``, found at C speed without splitting."""
        raw = self.raw
        if isinstance(raw, bytes):
            try:
                encoded = prefix.encode("ascii")
            except UnicodeEncodeError:
                return False  # an ASCII block has no such line
            # The first character alone is one memchr: most output never gets further.
            return encoded[:1] in raw and (raw.startswith(encoded) or b"\n" + encoded in raw)
        return prefix[:1] in raw and (raw.startswith(prefix) or "\n" + prefix in raw)

    def _split(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines

    def __len__(self) -> int:
        if self._count is None:
            raw = self.raw
            self._count = (raw.count(b"\n") if isinstance(raw, bytes) else raw.count("\n")) + 1
        return self._count

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        return self._split()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._split())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LogBlock):
            return self.text == other.text
        if isinstance(other, list | tuple):
            return self._split() == list(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"LogBlock({len(self)} lines)"

    def tail(self, n: int) -> list[str]:
        """The last ``n`` lines, found from the end (a view showing the last lines of a
        1 MiB block need not split all of it)."""
        if self._lines is not None:
            return self._lines[-n:] if n > 0 else []
        if n <= 0:
            return []
        text = self.text
        pos = len(text)
        for _ in range(n - 1):
            pos = text.rfind("\n", 0, pos)
            if pos < 0:
                return text.split("\n")
        return text[text.rfind("\n", 0, pos) + 1 :].split("\n")


@dataclass(frozen=True, slots=True)
class LogLines:
    """Lines of a job's log; ``lines`` may be a :class:`LogBlock` (a list otherwise)."""

    job: JobRef
    lines: Sequence[str]
    step: StepRef | None = None


@dataclass(frozen=True, slots=True)
class Annotation:
    job: JobRef
    level: Literal["error", "warning", "notice", "debug"]
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class StepFinished:
    job: JobRef
    step: StepRef
    outcome: Conclusion
    conclusion: Conclusion
    outputs: Mapping[str, str]
    at: datetime


@dataclass(frozen=True, slots=True)
class JobFinished:
    """A job that never ran (skipped by ``if:``, needs failed, cancelled
    before start) is still reported, with no steps and ``started=False``."""

    job: JobRef
    conclusion: Conclusion
    outputs: Mapping[str, str]
    at: datetime
    started: bool = True
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RunFinished:
    conclusion: Conclusion
    at: datetime
    summary: Mapping[str, str] = field(default_factory=dict)  # job key -> GITHUB_STEP_SUMMARY markdown


Event = (
    RunStarted
    | JobPending
    | JobGroupAcquired
    | JobStarted
    | StepStarted
    | LogLines
    | Annotation
    | StepFinished
    | JobFinished
    | RunFinished
)


class RunObserver(Protocol):
    def __call__(self, event: Event) -> None: ...


class Fanout:
    """Sends every event to several observers, in order."""

    def __init__(self, *observers: RunObserver) -> None:
        self._observers = observers

    def __call__(self, event: Event) -> None:
        for observer in self._observers:
            observer(event)
