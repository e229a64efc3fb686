"""The local runner (see :mod:`pheme.execution.runner`).

Kept light: importing ``pheme.execution.events`` must not pull in the engine,
so the public names are loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunRequest", "RunResult", "execute", "run_workflow"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pheme.execution import runner

        return getattr(runner, name)
    raise AttributeError(name)
