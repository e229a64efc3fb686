"""The ``pheme`` command line.

Kept thin: each command lives in its own module under ``pheme.cli`` and
imports what it needs inside the command function, so that ``pheme --version``
and ``pheme --help`` never pay for SQLAlchemy, the runner or Rich's live view.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        # Fast path: no framework import at all.
        from pheme import __version__

        sys.stdout.write(f"pheme {__version__}\n")
        raise SystemExit(0)

    from pheme.cli._app import run

    run(args)
