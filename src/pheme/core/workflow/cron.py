"""POSIX cron schedules as GitHub Actions accepts them in ``on.schedule``.

Five fields (minute hour day-of-month month day-of-week); each is ``*``, a
number or a name (``jan``..``dec``, ``sun``..``sat``), a range ``a-b``, a step
``x/n`` (``x`` being ``*``, a number or a range) or a comma list of those.
Validation follows GitHub's rules, including two it adds: the non-standard
``@daily``-style macros are refused, and so are schedules that would fire more
often than once every 5 minutes (GitHub never runs a schedule more often).

As in POSIX cron, when both day-of-month and day-of-week are restricted a day
matches if *either* matches.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["MIN_INTERVAL_MINUTES", "Cron", "CronError", "parse_cron"]

MIN_INTERVAL_MINUTES = 5
INVALID_CRON_MESSAGE = "Invalid cron expression. Expected format: '* * * * *' (minute hour day month weekday)"

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


@dataclass(frozen=True, slots=True)
class _Field:
    lo: int
    hi: int
    names: dict[str, int] | None = None


_FIELDS = (
    _Field(0, 59),
    _Field(0, 23),
    _Field(1, 31),
    _Field(1, 12, _MONTHS),
    _Field(0, 6, _DAYS),
)
_NUMBER = re.compile(r"[0-9]+\Z")


class CronError(ValueError):
    """A cron expression GitHub would refuse; ``message`` is one clear line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _value(text: str, f: _Field) -> int:
    if f.names is not None and text.lower() in f.names:
        return f.names[text.lower()]
    if not _NUMBER.match(text):
        raise CronError(INVALID_CRON_MESSAGE)
    n = int(text)
    if n < f.lo or n > f.hi:
        raise CronError(INVALID_CRON_MESSAGE)
    return n


def _part(text: str, f: _Field) -> set[int]:
    """One comma-separated element: ``*``, ``n``, ``a-b``, ``x/step``."""
    if not text:
        raise CronError(INVALID_CRON_MESSAGE)
    step = 1
    if "/" in text:
        base, _, step_text = text.partition("/")
        if not base or not step_text or "/" in step_text:
            raise CronError(INVALID_CRON_MESSAGE)
        # GitHub: the step must itself be a plain in-range number.
        if not _NUMBER.match(step_text):
            raise CronError(INVALID_CRON_MESSAGE)
        step = int(step_text)
        if step <= 0 or step < f.lo or step > f.hi:
            raise CronError(INVALID_CRON_MESSAGE)
        text = base
        open_ended = True
    else:
        open_ended = False
    if text == "*":
        lo, hi = f.lo, f.hi
    elif "-" in text:
        a, _, b = text.partition("-")
        if not a or not b or "-" in b:
            raise CronError(INVALID_CRON_MESSAGE)
        lo, hi = _value(a, f), _value(b, f)
        if hi < lo:
            raise CronError(INVALID_CRON_MESSAGE)
    else:
        lo = _value(text, f)
        hi = f.hi if open_ended else lo
    return set(range(lo, hi + 1, step))


def _field(text: str, f: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _part(item, f)
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed schedule. Times are compared field by field (naive = UTC)."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def _day_matches(self, dt: datetime) -> bool:
        dom = dt.day in self.days
        dow = (dt.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow

    def matches(self, dt: datetime) -> bool:
        """Whether the schedule fires at ``dt``'s minute."""
        return (
            dt.minute in self.minutes
            and dt.hour in self.hours
            and dt.month in self.months
            and self._day_matches(dt)
        )

    def next_after(self, dt: datetime) -> datetime | None:
        """The first firing time strictly after ``dt`` (None if it never fires, e.g. ``0 0 30 2 *``)."""
        t = dt.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 8)
        while t < limit:
            if t.month not in self.months:
                year = t.year + (t.month == 12)
                month = t.month % 12 + 1
                t = t.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return t
        return None

    def min_interval_minutes(self) -> int:
        """The shortest gap, in minutes, between two consecutive firings within a day."""
        mins = sorted(self.minutes)
        gaps = [b - a for a, b in itertools.pairwise(mins)]
        hours = self.hours
        if any((h + 1) % 24 in hours for h in hours):
            gaps.append(60 - mins[-1] + mins[0])
        return min(gaps) if gaps else 24 * 60


def parse_cron(expression: str, *, enforce_min_interval: bool = True) -> Cron:
    """Parse and validate; raises :class:`CronError` with a one-line message."""
    parts = [p for p in expression.strip().split(" ") if p != ""] if expression else []
    if len(parts) != 5 or any("\t" in p for p in parts):
        raise CronError(INVALID_CRON_MESSAGE)
    minutes, hours, days, months, weekdays = (_field(p, f) for p, f in zip(parts, _FIELDS, strict=True))
    cron = Cron(
        expression=expression,
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=weekdays,
        days_restricted=parts[2] != "*",
        weekdays_restricted=parts[4] != "*",
    )
    if enforce_min_interval and cron.min_interval_minutes() < MIN_INTERVAL_MINUTES:
        raise CronError(
            f"The schedule '{expression}' would run more often than every {MIN_INTERVAL_MINUTES} minutes; "
            f"GitHub Actions runs scheduled workflows at most once every {MIN_INTERVAL_MINUTES} minutes"
        )
    return cron
