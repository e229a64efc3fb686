"""``uses:`` for offline runs: resolution, built-ins, JavaScript and composite actions.

Use :func:`make_resolver` (or :class:`~pheme.execution.actions.resolver.Resolver`)
as the ``action_resolver`` of a run request. Kept light: modules load on use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pheme.execution.actions.builtins import BuiltinServices
    from pheme.execution.actions.resolver import Resolver

__all__ = ["make_resolver"]


def make_resolver(
    services: BuiltinServices | None = None, *, search: list[Path] | None = None
) -> Resolver:
    """The resolver for one run: local actions, built-ins, then PHEME_ACTIONS_PATH."""
    from pheme.execution.actions.resolver import Resolver

    return Resolver(services, search=search)
