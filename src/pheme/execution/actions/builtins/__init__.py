"""Built-in implementations of well-known actions, for offline runs.

Each behaves as the real action wherever a workflow can observe it (inputs,
outputs, files, environment, exit status) and logs that Pheme's built-in
ran. ``BUILTINS`` maps the action's name (``owner/repo[/path]``, lower case,
without ref) to a factory ``(uses, step, services) -> StepImpl``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pheme.execution.actions.builtins._services import BuiltinServices

if TYPE_CHECKING:
    from pheme.core.workflow.model import Step
    from pheme.execution._steps import StepImpl

__all__ = ["BUILTINS", "BuiltinServices", "builtin_name"]

Factory = Callable[[str, "Step", BuiltinServices], "StepImpl"]

_TABLE = {
    "actions/checkout": ("checkout", "Checkout"),
    "actions/setup-node": ("setup_node", "SetupNode"),
    "actions/setup-python": ("setup_python", "SetupPython"),
    "actions/cache": ("cache", "Cache"),
    "actions/cache/restore": ("cache", "CacheRestore"),
    "actions/cache/save": ("cache", "CacheSave"),
    "actions/upload-artifact": ("artifacts", "UploadArtifact"),
    "actions/download-artifact": ("artifacts", "DownloadArtifact"),
    "aws-actions/configure-aws-credentials": ("aws", "ConfigureAwsCredentials"),
    "snyk/actions/*": ("snyk", "Snyk"),
    "pheme/deploy": ("deploy", "Deploy"),
}


def _factory(module: str, cls: str) -> Factory:
    def make(uses: str, step: Step, services: BuiltinServices) -> StepImpl:
        mod = importlib.import_module(f"pheme.execution.actions.builtins.{module}")
        impl: Any = getattr(mod, cls)(uses, step, services)
        return impl  # type: ignore[no-any-return]

    return make


BUILTINS: dict[str, Factory] = {name: _factory(m, c) for name, (m, c) in _TABLE.items()}


def builtin_name(name: str) -> str:
    """The ``BUILTINS`` key for ``owner/repo[/path]`` (``snyk/actions/node`` → ``snyk/actions/*``)."""
    low = name.lower().strip("/")
    if low.startswith("snyk/actions/"):
        return "snyk/actions/*"
    return low
