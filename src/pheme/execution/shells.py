"""How a ``run:`` step's ``shell:`` becomes a command line, as GitHub's runner does it.

=================  ==========================================  =========
``shell:``         command                                      script
=================  ==========================================  =========
(none)             ``bash -e {0}`` (``sh -e {0}`` without bash) ``.sh``
``bash``           ``bash --noprofile --norc -eo pipefail {0}`` ``.sh``
``sh``             ``sh -e {0}``                                ``.sh``
``python``         ``python {0}``                               ``.py``
``pwsh``           ``pwsh -command ". '{0}'"``                  ``.ps1``
``powershell``     ``powershell -command ". '{0}'"``            ``.ps1``
``cmd``            Windows only: an error here
custom             ``prog args {0} ...`` (must contain ``{0}``)  by prog
=================  ==========================================  =========

The program is looked up on the step's own ``PATH`` (so ``GITHUB_PATH``
additions count); a missing one is an :class:`~pheme.errors.ExecutionError`
with one clear line. PowerShell scripts get GitHub's prologue/epilogue so a
failing command fails the step.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass

from pheme.errors import ExecutionError

__all__ = ["ShellCommand", "resolve_shell"]

_BUILTIN = {
    "bash": "bash --noprofile --norc -eo pipefail {0}",
    "sh": "sh -e {0}",
    "python": "python {0}",
    "pwsh": "pwsh -command \". '{0}'\"",
    "powershell": "powershell -command \". '{0}'\"",
}
_EXTENSIONS = {
    "bash": ".sh",
    "sh": ".sh",
    "python": ".py",
    "pwsh": ".ps1",
    "powershell": ".ps1",
    "cmd": ".cmd",
}

_which_cache: dict[tuple[str, str], str | None] = {}


def _which(program: str, path: str) -> str | None:
    key = (program, path)
    if key not in _which_cache:
        if len(_which_cache) > 256:
            _which_cache.clear()
        _which_cache[key] = shutil.which(program, path=path)
    return _which_cache[key]


@dataclass(frozen=True, slots=True)
class ShellCommand:
    """A resolved shell: ``display`` is what GitHub prints (``shell: …``)."""

    program: str  # absolute path
    args_template: tuple[str, ...]  # arguments, with {0} placeholders
    extension: str
    display: str
    kind: str  # bash, sh, python, pwsh, powershell, or custom

    def argv(self, script_path: str) -> list[str]:
        return [self.program, *(a.replace("{0}", script_path) for a in self.args_template)]

    def script_text(self, script: str) -> str:
        if self.kind in ("pwsh", "powershell"):
            return (
                "$ErrorActionPreference = 'stop'\n"
                + script
                + "\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }\n"
            )
        return script


def resolve_shell(shell: str | None, path: str) -> ShellCommand:
    """The command for ``shell`` (None = the default), looked up on ``path``."""
    if not shell or not shell.strip():
        bash = _which("bash", path)
        if bash:
            return ShellCommand(bash, ("-e", "{0}"), ".sh", f"{bash} -e {{0}}", "bash")
        sh = _which("sh", path)
        if sh:
            return ShellCommand(sh, ("-e", "{0}"), ".sh", f"{sh} -e {{0}}", "sh")
        raise ExecutionError("shell 'bash' not found on PATH (nor 'sh')")
    shell = shell.strip()
    if shell == "cmd":
        raise ExecutionError("shell 'cmd' is only available on Windows runners")
    template = _BUILTIN.get(shell)
    if template is None:
        if "{0}" not in shell:
            raise ExecutionError(
                f"invalid shell option '{shell}': a custom shell must contain '{{0}}' for the script path"
            )
        template = shell
    try:
        parts = shlex.split(template)
    except ValueError as exc:
        raise ExecutionError(f"invalid shell option '{shell}': {exc}") from None
    if not parts:
        raise ExecutionError(f"invalid shell option '{shell}'")
    name = parts[0]
    program = _which(name, path)
    if program is None:
        raise ExecutionError(f"shell '{name}' not found on PATH")
    kind = shell if shell in _BUILTIN else "custom"
    base = name.rsplit("/", 1)[-1]
    extension = _EXTENSIONS.get(kind if kind != "custom" else base, "")
    display = template.replace(name, program, 1) if shell in _BUILTIN else template
    return ShellCommand(program, tuple(parts[1:]), extension, display, kind)
