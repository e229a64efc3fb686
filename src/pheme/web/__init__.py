"""Server-rendered UI pages (Jinja2, a few lines of own JavaScript, no build step).

``pheme.api.create_app`` calls :func:`register` when this package defines it:
the pages mount under ``/`` and the static files under ``/static``. The pages
call the same services as the API (never HTTP to itself); see
:mod:`pheme.web.pages` for the routes (:mod:`pheme.web.deployments` for deployments,
analyses and DORA) and :mod:`pheme.web.session` for login
and CSRF protection.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(app: Any, server: Any) -> None:
    """Add the UI's routes and static files to ``app`` (the server is ``app.state.server``)."""
    from pheme.web import deployments
    from pheme.web.pages import register_static, router

    app.include_router(router)
    app.include_router(deployments.router)
    register_static(app)
