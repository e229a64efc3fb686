"""Secret masking for everything a run prints.

Every log line, annotation, step summary and error message leaves the runner
through a :class:`Masker`, which replaces each registered value with ``***``
like GitHub's runner does. For each value the runner also registers the forms
a script is likely to print it in (its ``ValueEncoders``): base64 at the three
byte alignments (a secret inside ``base64("user:" + secret)`` starts at an
arbitrary offset), the JSON-escaped, URL-encoded, XML-escaped and
expression-escaped (``'`` → ``''``) forms, the value without surrounding
double quotes, and each line of a multi-line value.

Why these length limits: a plain value is masked whatever its length (GitHub
does so too: a secret ``1`` masks every ``1``), but a *derived* form shorter
than :data:`MIN_DERIVED_LENGTH` is not registered — the base64 of a two-byte
tail is three characters that would otherwise blank out ordinary words.
Whitespace-only values are ignored (GitHub refuses them in ``add-mask``).

Speed: masking runs over whole output blocks (up to 1 MiB) and not at all
when nothing is registered. A block is first PROBED: each registered form that
contains no other registered form is looked for with ``str.__contains__`` (a C
substring search); every form contains such a probe, so when none is found no
form is there and the block goes on untouched. Only a block holding a probe is
rewritten, with one compiled alternation (longest form first). Why not the
alternation alone: ``re`` tries every alternative at every position of the
block — for one secret (six forms) about 1 s per 200 MB of output, for 20
secrets about 10-35 s; probing costs ~0.1-0.3 s per secret per 200 MB.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable

__all__ = ["MASK", "MIN_DERIVED_LENGTH", "Masker", "derived_forms"]

MASK = "***"
MIN_DERIVED_LENGTH = 4


def _xml_escape(value: str) -> str:
    """XML-escaped, quotes included (as the runner masks it); xml.sax.saxutils
    would import urllib.request and http.client, ~20 ms of every start."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&apos;")
    )


def _b64_shift(raw: bytes, shift: int) -> list[str]:
    data = raw[shift:] if len(raw) > shift else raw
    full = base64.b64encode(data).decode("ascii")
    # The last characters of a base64 run depend on the bytes that follow the
    # value when it is embedded in a longer text; the stable prefix is what
    # can be found, so register it too (act does the same).
    stable_chars = (len(data) * 8) // 6
    return [full, full[:stable_chars]]


def derived_forms(value: str) -> set[str]:
    """The strings to mask for ``value``: itself, its lines and its encodings."""
    if not value or not value.strip():
        return set()
    forms = {value}
    if "\n" in value or "\r" in value:
        for line in re.split(r"\r?\n", value):
            if line.strip():
                forms.add(line)
    derived: set[str] = set()
    for v in list(forms):
        raw = v.encode("utf-8")
        for shift in (0, 1, 2):
            derived.update(_b64_shift(raw, shift))
        derived.add(json.dumps(v, ensure_ascii=False)[1:-1])
        derived.add(json.dumps(v)[1:-1])
        derived.add(urllib.parse.quote(v, safe="-_.~"))
        derived.add(urllib.parse.quote_plus(v, safe="-_.~"))
        derived.add(_xml_escape(v))
        derived.add(v.replace("'", "''"))
        derived.add(v.replace('"', '\\"'))
        if len(v) > 8 and v.startswith('"') and v.endswith('"'):
            derived.add(v[1:-1])
    forms.update(d for d in derived if len(d) >= MIN_DERIVED_LENGTH)
    return forms


class Masker:
    """A growing set of values to hide. Cheap when empty; thread-compatible
    (used from one event loop)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []
        self._regex: re.Pattern[str] | None = None
        self._probes: list[str] | None = None  # the forms containing no other form
        for v in values:
            self.add(v)

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, value: str) -> None:
        """Register ``value`` and its derived forms."""
        new = derived_forms(value) - self._values
        if not new:
            return
        self._values |= new
        self._ordered = sorted(self._values, key=len, reverse=True)
        self._regex = None
        self._probes = None

    def copy(self) -> Masker:
        clone = Masker()
        clone._values = set(self._values)
        clone._ordered = list(self._ordered)
        clone._regex = self._regex
        clone._probes = self._probes
        return clone

    def _probe_forms(self) -> list[str]:
        if self._probes is None:
            # Shortest first: a form containing an already chosen probe is not needed.
            probes: list[str] = []
            for form in reversed(self._ordered):
                if not any(p in form for p in probes):
                    probes.append(form)
            self._probes = probes
        return self._probes

    def mask(self, text: str) -> str:
        """``text`` with every registered value replaced by ``***``."""
        if not self._values or not self.contains_secret(text):
            return text
        if self._regex is None:
            self._regex = re.compile("|".join(re.escape(v) for v in self._ordered))
        return self._regex.sub(MASK, text)

    def contains_secret(self, text: str) -> bool:
        """Whether any registered form occurs in ``text`` (every form contains a probe)."""
        return any(p in text for p in self._probe_forms())
