"""Reads GitHub's workflow-parser reader cases (actions/languageservices testdata/reader).

Each file holds YAML documents separated by ``---`` lines: options, the
workflow (read as ``.github/workflows/<file name>``), for ``*reusable*`` files
pairs of (called workflow reference, content), and last the expected JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pheme.core.workflow import LoadOptions, validate_workflow
from pheme.errors import Problem

_SEP = re.compile(r"^---[ \t]*$", re.M)
_WITH_POS = re.compile(r"^(\S+) \(Line: (\d+), Col: (\d+)\): (.*)\Z", re.S)
_WITH_FILE = re.compile(r"^(\S+\.ya?ml(?:@\S+)?): (.*)\Z", re.S)


@dataclass
class Expected:
    file: str | None
    line: int | None
    col: int | None
    message: str

    def matches(self, p: Problem) -> bool:
        if self.file is not None and p.file != self.file:
            return False
        if self.line is not None and p.line != self.line:
            return False
        if self.message.endswith("[...]"):
            # GitHub truncates "<file> (Line..): <message>" to 500 characters.
            return p.message.startswith(self.message[:-5])
        return p.message == self.message


@dataclass
class Case:
    name: str
    options: dict[str, Any]
    workflow: str
    called: dict[str, str] = field(default_factory=dict)
    errors: list[Expected] | None = None  # None = expects success

    @property
    def path(self) -> str:
        return f".github/workflows/{self.name}"

    def load_options(self) -> LoadOptions:
        o = self.options
        policy = {"LimitedRead": "limited-read", "Write": "write"}.get(
            o.get("permissions-policy", ""), "write"
        )
        called = self.called
        return LoadOptions(
            max_depth=o.get("max-depth", 50),
            max_file_size=o.get("max-file-size"),
            max_jobs=o.get("max-job-limit"),
            max_nested_workflows=o.get("max-nested-reusable-workflows-depth", 4),
            allow_background_steps=bool((o.get("experimental-features") or {}).get("allowBackgroundSteps")),
            # These cases exercise GitHub's parser; "No steps defined" is checked later, when a run starts.
            require_steps=False,
            permissions_policy=policy,  # type: ignore[arg-type]
            resolve_workflow=called.get if called else None,
        )

    def run(self) -> list[Problem]:
        return validate_workflow(self.workflow, self.path, options=self.load_options())[1]

    def missing(self, problems: list[Problem]) -> list[Expected]:
        """Expected errors not reported (all of them must be, at the same line)."""
        return [e for e in self.errors or [] if not any(e.matches(p) for p in problems)]


def _expected(message: str) -> Expected:
    m = _WITH_POS.match(message)
    if m:
        return Expected(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4))
    m = _WITH_FILE.match(message)
    if m:
        return Expected(m.group(1), None, None, m.group(2))
    return Expected(None, None, None, message)


def load_case(path: Path) -> Case:
    text = path.read_text(encoding="utf-8")
    docs = _SEP.split(text)
    # Each document after a separator starts right after its "---" line.
    docs = [docs[0]] + [d[1:] if d.startswith("\n") else d for d in docs[1:]]
    options = yaml.safe_load(docs[0]) or {}
    expected = json.loads(docs[-1])
    called = {}
    middle = docs[2:-1]
    for i in range(0, len(middle) - 1, 2):
        called[middle[i].strip()] = middle[i + 1]
    errors = [_expected(e["Message"]) for e in expected["errors"]] if "errors" in expected else None
    return Case(path.name, options, docs[1], called, errors)
