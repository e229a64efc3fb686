"""Where analysis templates come from: the built-ins and a repository's ``.pheme/analysis/*.yml``.

A deployment step names templates (``analysis: {templates: [success-rate]}``);
the name is looked up in the repository first, so a team can replace a
built-in by writing a template of the same name, then among the built-ins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pheme.core.monitoring.builtin import BUILTIN_NAMES, builtin_template
from pheme.core.monitoring.templates import AnalysisTemplate, load_template
from pheme.errors import Problem, UsageError, WorkflowError

__all__ = ["TEMPLATE_DIR", "TemplateLibrary"]

TEMPLATE_DIR = Path(".pheme") / "analysis"


@dataclass
class TemplateLibrary:
    """Templates by name: files found under ``root/.pheme/analysis`` and the built-ins."""

    root: Path | None = None
    _files: dict[str, AnalysisTemplate] | None = field(default=None, repr=False)

    def _load(self) -> dict[str, AnalysisTemplate]:
        if self._files is not None:
            return self._files
        found: dict[str, AnalysisTemplate] = {}
        directory = (self.root / TEMPLATE_DIR) if self.root is not None else None
        if directory is not None and directory.is_dir():
            problems: list[Problem] = []
            for path in sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]):
                shown = str(path.relative_to(self.root)) if self.root is not None else str(path)
                try:
                    text = path.read_text(encoding="utf-8")
                except OSError as exc:
                    raise UsageError(f"{shown}: cannot read: {exc.strerror}") from None
                try:
                    template = load_template(text, shown)
                except WorkflowError as exc:
                    problems.extend(exc.problems)
                    continue
                if template.name in found:
                    problems.append(
                        Problem(
                            shown,
                            1,
                            1,
                            f"template '{template.name}' is also defined in {found[template.name].source}",
                        )
                    )
                found[template.name] = template
            if problems:
                raise WorkflowError(problems)
        self._files = found
        return found

    def names(self) -> list[str]:
        return sorted(set(self._load()) | set(BUILTIN_NAMES))

    def get(self, name: str) -> AnalysisTemplate:
        """The template called ``name``; :class:`UsageError` naming the known ones if there is none."""
        files = self._load()
        if name in files:
            return files[name]
        if name in BUILTIN_NAMES:
            return builtin_template(name)
        raise UsageError(f"unknown analysis template '{name}' (known: {', '.join(self.names())})")
