"""``create_app(settings) -> FastAPI``: the pipeline server's HTTP application.

Errors always leave as ONE line of JSON, ``{"error": "..."}``, with the status
that fits (400 bad input, 401/403 auth, 404 unknown, 409 conflict, 413 too
large, 422 invalid body, 503 database unavailable); a traceback never reaches
a client. Every request is counted in ``http_requests_total{status}`` and
``http_request_duration_seconds`` by route template (never the raw path, so
ids do not explode the label space) and logged as one JSON line without
headers or query strings (tokens never reach the log).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pheme.errors import ConfigError, PhemeError, StorageError, UsageError
from pheme.services.server_settings import ServerSettings

__all__ = ["create_app"]

log = logging.getLogger("pheme.server.http")


def create_app(
    settings: ServerSettings | None = None, *, server: Any = None, workers: bool = True
) -> FastAPI:
    """The FastAPI app. Builds a :class:`~pheme.services.server.PipelineServer` from
    ``settings`` unless one is given; its workers start and stop with the app's lifespan."""
    from pheme import __version__
    from pheme.services.server import PipelineServer
    from pheme.services.server_settings import load_settings

    if server is None:
        server = PipelineServer(settings or load_settings(), workers=workers)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.start()
        try:
            yield
        finally:
            server.stop()

    app = FastAPI(
        title="Pheme",
        version=__version__,
        description="Pheme's pipeline server: webhooks, runs, logs, approvals.",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.server = server
    _error_handlers(app)

    from pheme.api.routes import approvals, environments, monitoring, ops, repos, runs, tokens, webhooks

    app.include_router(ops.router)
    app.include_router(webhooks.router)
    for module in (repos, runs, approvals, environments, tokens, monitoring):
        # Routers declare prefix="/api/v1" themselves (so metrics see full route templates).
        app.include_router(module.router, prefix="" if module.router.prefix else "/api/v1")
    monitoring.install(app, server)
    if importlib.util.find_spec("pheme.web") is not None:
        web = importlib.import_module("pheme.web")
        register = getattr(web, "register", None)
        if register is not None:
            register(app, server)
    app.add_middleware(_HttpMetrics, metrics=server.metrics)
    return app


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    text = " ".join(str(message).split()) or "error"
    return JSONResponse({"error": text}, status_code=status, headers=headers)


def _error_handlers(app: FastAPI) -> None:
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from pheme.core.runs import TransitionError
    from pheme.storage import NotFoundError

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
            message = f"invalid {where}: {first.get('msg', 'invalid value')}"
        else:
            message = "invalid request"
        return error_response(422, message)

    @app.exception_handler(PhemeError)
    async def pheme_error(request: Request, exc: PhemeError) -> JSONResponse:
        if isinstance(exc, NotFoundError):
            status = 404
        elif isinstance(exc, TransitionError):
            status = 409
        elif isinstance(exc, StorageError):
            status = 503
        elif isinstance(exc, UsageError | ConfigError):
            status = 400
        else:
            status = 400
        return error_response(status, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"route": _route(request.scope), "error": type(exc).__name__})
        return error_response(500, "internal error")


def _route(scope: Scope) -> str:
    """The matched route's template (``/api/v1/runs/{run_id}``), never the raw path."""
    effective = scope.get("effective_route_context")
    path = getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)
    return str(path) if path else "unmatched"


class _HttpMetrics:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware): metrics and one JSON log line."""

    def __init__(self, app: ASGIApp, metrics: Any) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = _route(scope)
            method = scope.get("method", "GET")
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_duration.labels(method, route).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={"method": method, "route": route, "status": status, "ms": round(elapsed * 1000, 2)},
                )


__all__ += ["error_response"]
