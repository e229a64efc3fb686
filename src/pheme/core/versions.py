"""Version specs as ``actions/setup-node`` and ``actions/setup-python`` read them.

Both actions hand the ``*-version`` input to npm's ``semver`` after a little
massaging, then pick the *highest* candidate that satisfies it. We mirror
that on the interpreters already installed on this machine (we never
download), so a workflow that says ``node-version: 20.x`` gets the newest
installed 20, and one that says ``'3.12'`` the newest installed 3.12.

Supported forms (what real workflows write):

- partial versions: ``20``, ``20.x``, ``20.11``, ``3.12.1``, ``v20`` — a
  partial version means "any version with that prefix";
- npm ranges: ``>=3.11``, ``<3.13``, ``>=3.9 <3.12``, ``^18``, ``~3.12.1``,
  hyphen ranges ``1.2 - 1.4``, alternatives joined by ``||``, ``*`` / ``x``;
- aliases: ``latest`` / ``node`` / ``current`` (the highest), ``lts/*`` (the
  highest *even* major — Node's LTS lines are the even ones), ``lts/-1``
  (the LTS line before that), ``lts/<codename>`` (``lts/iron`` = 20);
- Python's ``3.13-dev`` (prereleases of 3.13 allowed).

Prereleases (``3.13.0-rc.1`` or ``3.13.0rc1``) only satisfy a spec that asks
for them, as in semver.

This module is pure: callers pass the list of versions they found.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering

__all__ = [
    "NODE_LTS_CODENAMES",
    "Version",
    "VersionSpec",
    "VersionSpecError",
    "choose_version",
    "node_version_from_file",
    "parse_version",
    "python_version_from_file",
]

# Node's LTS codenames -> major (https://github.com/nodejs/Release).
NODE_LTS_CODENAMES: dict[str, int] = {
    "argon": 4,
    "boron": 6,
    "carbon": 8,
    "dubnium": 10,
    "erbium": 12,
    "fermium": 14,
    "gallium": 16,
    "hydrogen": 18,
    "iron": 20,
    "jod": 22,
    "krypton": 24,
}


class VersionSpecError(ValueError):
    """A version or spec that cannot be read. The message names the text."""


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A release ``major.minor.patch`` with an optional prerelease tag.

    Ordering is semver's: ``3.13.0-rc.1 < 3.13.0``; numeric prerelease parts
    compare as numbers and sort before alphanumeric ones.
    """

    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[int | str, ...] = ()

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def _key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int | str], ...]]:
        # A release sorts after all its prereleases.
        pre = tuple((0, p) if isinstance(p, int) else (1, p) for p in self.prerelease)
        return (self.core, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        return text


_VERSION_RE = re.compile(
    r"""^\s*v?(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?
        (?:(?:-|(?=[a-zA-Z]))(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\s*$""",
    re.VERBOSE,
)
# Python writes prereleases without a separator: 3.13.0rc1, 3.13.0a2, 3.13.0b1.
_PY_PRE_RE = re.compile(r"^(a|b|rc|alpha|beta|dev)(\d*)$")


def _split_pre(text: str) -> tuple[int | str, ...]:
    parts: list[int | str] = []
    for chunk in text.split("."):
        if not chunk:
            continue
        m = _PY_PRE_RE.match(chunk)
        if m and m.group(2):
            parts.extend([m.group(1), int(m.group(2))])
        elif chunk.isdigit():
            parts.append(int(chunk))
        else:
            parts.append(chunk)
    return tuple(parts)


def parse_version(text: str) -> Version:
    """Parse a full or partial version (``20``, ``v20.11.1``, ``3.13.0rc1``).

    Missing components are 0. Raises :class:`VersionSpecError` on garbage.
    """
    m = _VERSION_RE.match(text)
    if not m:
        raise VersionSpecError(f"not a version: {text!r}")
    pre = _split_pre(m.group("pre")) if m.group("pre") else ()
    return Version(int(m.group("major")), int(m.group("minor") or 0), int(m.group("patch") or 0), pre)


# --- ranges -----------------------------------------------------------------

_PARTIAL_RE = re.compile(
    r"^v?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?$"
)
_OPS = (">=", "<=", ">", "<", "=", "^", "~>", "~")


@dataclass(frozen=True, slots=True)
class _Partial:
    major: int | None
    minor: int | None
    patch: int | None
    pre: tuple[int | str, ...]

    def floor(self) -> Version:
        return Version(self.major or 0, self.minor or 0, self.patch or 0, self.pre)


def _parse_partial(text: str) -> _Partial:
    m = _PARTIAL_RE.match(text)
    if not m:
        raise VersionSpecError(f"not a version: {text!r}")

    def num(name: str) -> int | None:
        value = m.group(name)
        return None if value is None or value in "xX*" else int(value)

    major, minor, patch = num("major"), num("minor"), num("patch")
    # "1.x.3" is read as "1.x" like npm does.
    if major is None:
        minor = patch = None
    if minor is None:
        patch = None
    pre = _split_pre(m.group("pre")) if m.group("pre") else ()
    return _Partial(major, minor, patch, pre)


@dataclass(frozen=True, slots=True)
class _Comparator:
    op: str  # one of >=, >, <, <=, =
    version: Version

    def test(self, v: Version) -> bool:
        if self.op == ">=":
            return v >= self.version
        if self.op == ">":
            return v > self.version
        if self.op == "<":
            return v < self.version
        if self.op == "<=":
            return v <= self.version
        return v == self.version


_LOWEST = Version(0, 0, 0, (0,))


def _upper_of(p: _Partial) -> Version | None:
    """Exclusive upper bound of a partial version used as "any with this prefix"."""
    if p.major is None:
        return None
    if p.minor is None:
        return Version(p.major + 1, 0, 0, (0,))
    if p.patch is None:
        return Version(p.major, p.minor + 1, 0, (0,))
    return None


def _expand(op: str, p: _Partial) -> list[_Comparator]:
    """Turn one ``op partial`` into plain comparators (npm's desugaring)."""
    if p.major is None:  # *, x
        return [] if op in ("", "=", ">=", "<=", "^", "~", "~>") else [_Comparator("<", _LOWEST)]
    exact = p.minor is not None and p.patch is not None
    lo = p.floor()
    if op in ("", "="):
        if exact:
            return [_Comparator("=", lo)]
        up = _upper_of(p)
        assert up is not None
        return [_Comparator(">=", lo), _Comparator("<", up)]
    if op == ">=":
        return [_Comparator(">=", lo)]
    if op == "<":
        return [_Comparator("<", lo if exact else Version(*lo.core, (0,)))]
    if op == ">":
        if exact:
            return [_Comparator(">", lo)]
        up = _upper_of(p)
        assert up is not None
        return [_Comparator(">=", up)]
    if op == "<=":
        if exact:
            return [_Comparator("<=", lo)]
        up = _upper_of(p)
        assert up is not None
        return [_Comparator("<", up)]
    if op in ("~", "~>"):
        up = Version(p.major + 1, 0, 0, (0,)) if p.minor is None else Version(p.major, p.minor + 1, 0, (0,))
        return [_Comparator(">=", lo), _Comparator("<", up)]
    if op == "^":
        if p.major > 0 or p.minor is None:
            up = Version(p.major + 1, 0, 0, (0,))
        elif p.minor > 0 or p.patch is None:
            up = Version(0, p.minor + 1, 0, (0,))
        else:
            up = Version(0, 0, (p.patch or 0) + 1, (0,))
        return [_Comparator(">=", lo), _Comparator("<", up)]
    raise VersionSpecError(f"unknown operator {op!r}")


def _parse_set(text: str) -> tuple[tuple[_Comparator, ...], set[tuple[int, int, int]]]:
    """One ``||`` alternative: space-separated comparators, or a hyphen range.

    Returns the comparators and the version cores written with a prerelease.
    """
    text = text.strip()
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        lo, hi = _parse_partial(hyphen.group(1)), _parse_partial(hyphen.group(2))
        return tuple(_expand(">=", lo) + _expand("<=", hi)), {p.floor().core for p in (lo, hi) if p.pre}
    # Allow "> = 3" style spacing between operator and version, as npm does.
    tokens = re.findall(r"(>=|<=|~>|[<>=^~])?\s*([^\s<>=^~]+)", text)
    if not tokens and text:
        raise VersionSpecError(f"not a version spec: {text!r}")
    comps: list[_Comparator] = []
    cores: set[tuple[int, int, int]] = set()
    for op, ver in tokens:
        partial = _parse_partial(ver)
        if partial.pre:
            cores.add(partial.floor().core)
        comps.extend(_expand(op, partial))
    return tuple(comps), cores


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """A parsed spec. Use :meth:`parse`, then :meth:`matches` / :meth:`best`."""

    text: str
    alternatives: tuple[tuple[_Comparator, ...], ...] = ()
    # Version cores whose prereleases may match (see _allows_prerelease).
    prerelease_cores: frozenset[tuple[int, int, int]] = frozenset()
    dev_minors: frozenset[tuple[int, int, int]] = frozenset()
    # "latest" / "lts" / "lts-1": chosen among candidates, not a fixed range.
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> VersionSpec:
        raw = str(text).strip()
        if not raw:
            raise VersionSpecError("empty version spec")
        low = raw.lower()
        if low in ("latest", "node", "current", "stable"):
            return cls(raw, alias="latest")
        if low.startswith("lts/"):
            name = low[4:]
            if name == "*":
                return cls(raw, alias="lts")
            if re.fullmatch(r"-\d+", name):
                return cls(raw, alias=f"lts{name}")
            if name in NODE_LTS_CODENAMES:
                major = NODE_LTS_CODENAMES[name]
                return cls(raw, alternatives=(tuple(_expand("", _Partial(major, None, None, ()))),))
            raise VersionSpecError(f"unknown Node LTS codename in {raw!r}")
        # Python: "3.13-dev" allows prereleases of 3.13.
        dev = re.fullmatch(r"(\d+\.\d+)-dev", low)
        if dev:
            partial = _parse_partial(dev.group(1))
            return cls(
                raw,
                alternatives=((_Comparator(">=", Version(*partial.floor().core, (0,))), *_expand("<=", partial)),),
                dev_minors=frozenset({partial.floor().core}),
            )
        alternatives = []
        pre_cores: set[tuple[int, int, int]] = set()
        for part in raw.split("||"):
            comps, cores = _parse_set(part)
            alternatives.append(comps)
            pre_cores |= cores
        return cls(raw, tuple(alternatives), prerelease_cores=frozenset(pre_cores))

    def matches(self, version: Version | str) -> bool:
        """Whether ``version`` satisfies the range (aliases match every release)."""
        v = parse_version(version) if isinstance(version, str) else version
        if v.prerelease and not self._allows_prerelease(v):
            return False
        if self.alias is not None:
            return True
        return any(all(c.test(v) for c in comps) for comps in self.alternatives)

    def _allows_prerelease(self, v: Version) -> bool:
        # As semver: only prereleases of a version the spec itself names with
        # a prerelease tag (``>=3.13.0-rc.1``), or of ``X.Y`` for ``X.Y-dev``.
        return v.core in self.prerelease_cores or v.core[:2] in {c[:2] for c in self.dev_minors}

    def best(self, candidates: Iterable[Version | str]) -> Version | None:
        """The highest candidate that satisfies the spec, or None."""
        parsed: list[Version] = []
        for c in candidates:
            try:
                parsed.append(parse_version(c) if isinstance(c, str) else c)
            except VersionSpecError:
                continue
        if self.alias == "latest":
            releases = [v for v in parsed if not v.prerelease]
            return max(releases, default=None)
        if self.alias is not None and self.alias.startswith("lts"):
            back = int(self.alias[4:] or 0) if self.alias != "lts" else 0
            lts_majors = sorted({v.major for v in parsed if v.major % 2 == 0 and not v.prerelease}, reverse=True)
            if back >= len(lts_majors):
                return None
            major = lts_majors[back]
            return max((v for v in parsed if v.major == major and not v.prerelease), default=None)
        return max((v for v in parsed if self.matches(v)), default=None)


def choose_version(spec: str, candidates: Iterable[Version | str]) -> Version | None:
    """The highest of ``candidates`` satisfying ``spec`` (see module docstring)."""
    return VersionSpec.parse(spec).best(candidates)


# --- version files ----------------------------------------------------------


def node_version_from_file(name: str, text: str) -> str:
    """The version spec in a ``node-version-file`` (``.nvmrc``, ``.node-version``,
    ``.tool-versions`` or ``package.json``), as setup-node reads it.

    ``package.json``: ``volta.node``, then ``devEngines.runtime`` (name node),
    then ``engines.node``. Raises :class:`VersionSpecError` when none is found.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VersionSpecError(f"{name}: invalid JSON: {exc.msg}") from None
        if isinstance(data, dict):
            volta = data.get("volta")
            if isinstance(volta, dict) and isinstance(volta.get("node"), str):
                return str(volta["node"])
            dev = data.get("devEngines")
            runtime = dev.get("runtime") if isinstance(dev, dict) else None
            if isinstance(runtime, dict) and runtime.get("name") == "node" and isinstance(runtime.get("version"), str):
                return str(runtime["version"])
            engines = data.get("engines")
            if isinstance(engines, dict) and isinstance(engines.get("node"), str):
                return str(engines["node"])
        raise VersionSpecError(f"{name}: no node version (volta.node or engines.node)")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if base == ".tool-versions" or line.startswith(("nodejs ", "node ")):
            parts = line.split()
            if parts[0] in ("nodejs", "node") and len(parts) > 1:
                return parts[1]
            continue
        return line
    raise VersionSpecError(f"{name}: no node version found")


def python_version_from_file(name: str, text: str) -> list[str]:
    """The version specs in a ``python-version-file``, as setup-python reads it.

    ``.python-version`` / ``.tool-versions``: one spec per non-comment line
    (setup-python installs each; the last becomes the default).
    ``pyproject.toml``: ``project.requires-python``, else
    ``tool.poetry.dependencies.python``. Raises :class:`VersionSpecError`.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise VersionSpecError(f"{name}: invalid TOML: {exc}") from None
        project = data.get("project")
        if isinstance(project, dict) and isinstance(project.get("requires-python"), str):
            return [_pep440_to_npm(project["requires-python"])]
        tool = data.get("tool")
        poetry = tool.get("poetry") if isinstance(tool, dict) else None
        deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
        if isinstance(deps, dict) and isinstance(deps.get("python"), str):
            return [_pep440_to_npm(deps["python"])]
        raise VersionSpecError(f"{name}: no requires-python")
    specs: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if base == ".tool-versions":
            parts = line.split()
            if parts[0] == "python":
                specs.extend(parts[1:])
            continue
        specs.append(line)
    if not specs:
        raise VersionSpecError(f"{name}: no python version found")
    return specs


def _pep440_to_npm(spec: str) -> str:
    """``>=3.9,<3.13`` → ``>=3.9 <3.13``; ``~=3.10`` → ``>=3.10 <4``; ``==3.11.*`` → ``3.11``."""
    parts: list[str] = []
    for raw in spec.split(","):
        item = raw.strip().replace(" ", "")
        if not item:
            continue
        if item.startswith("~="):
            ver = item[2:]
            nums = ver.split(".")
            upper = ".".join(nums[:-1]) if len(nums) > 1 else nums[0]
            parts.append(f">={ver} <{_bump(upper)}")
        elif item.startswith("=="):
            parts.append(item[2:].removesuffix(".*"))
        elif item.startswith("!="):
            continue  # no exclusions in npm ranges; best effort
        else:
            parts.append(item)
    return " ".join(parts) or "*"


def _bump(prefix: str) -> str:
    nums = [int(n) for n in prefix.split(".")]
    nums[-1] += 1
    return ".".join(str(n) for n in nums)
