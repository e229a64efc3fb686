"""The pipeline server's HTTP API (FastAPI): ``create_app(settings) -> FastAPI``.

Layout (thin: validation and HTTP here, the use cases in :mod:`pheme.services.server`):

    app.py        create_app, error handlers (one-line JSON errors), metrics + JSON access log
    auth.py       bearer tokens -> Principal; ``require(Permission.X)`` dependencies
    schemas.py    pydantic bodies and responses
    routes/       ops (healthz, readyz, metrics), webhooks, repos, tokens, runs (attempts, jobs,
                  logs, artifacts, cancel, re-run, dispatch), approvals, environments, audit

UI pages live in :mod:`pheme.web` (registered by ``create_app`` when present).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from pheme.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
