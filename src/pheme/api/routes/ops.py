"""Health, readiness and Prometheus metrics (no authentication: for probes and scrapers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Any:
    """The database answers and the workers run."""
    if request.app.state.server.ready():
        return {"status": "ready"}
    return JSONResponse({"error": "not ready"}, status_code=503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    from pheme.services.server_metrics import CONTENT_TYPE_LATEST

    return Response(request.app.state.server.metrics.render(), media_type=CONTENT_TYPE_LATEST)
