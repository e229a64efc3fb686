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
    if args[:1] == ["rollback"]:
        # Fast path: a rollback's deadline includes this command's start (see deploy_cmd.fast_rollback).
        from pheme.cli.deploy_cmd import fast_rollback

        fast_rollback(args[1:])

    import gc

    # Start-up creates a few hundred thousand long-lived objects (modules, classes,
    # the workflow); at the default threshold (700) the collector walks them over
    # and over for nothing: ~0.1 s of a `pheme run`. Cycles are still collected.
    gc.set_threshold(50_000, 20, 50)
    from pheme.cli._app import run

    try:
        run(args)
    finally:
        if argv is None:
            # The process ends with this command. Its last garbage collection, at
            # interpreter exit, walks every object left (~50,000 after a run): ~20 ms
            # of a `pheme run`. Freezing them skips that walk; atexit handlers, flushing
            # and module teardown still happen. Not when called with an argv (tests,
            # embedding programs), whose process goes on.
            gc.freeze()
