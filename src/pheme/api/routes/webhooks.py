"""``POST /webhooks/github``: GitHub's push and pull_request deliveries (HMAC-signed).

Authentication is the signature, not a token. The body is read with a hard
cap (413 past ``max_body_bytes``, counted while streaming, so a lying or
missing Content-Length cannot make the server buffer more).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

router = APIRouter(tags=["webhooks"])

EventHeader = Annotated[str | None, Header(alias="X-GitHub-Event", max_length=64)]
DeliveryHeader = Annotated[str | None, Header(alias="X-GitHub-Delivery", max_length=255)]
SignatureHeader = Annotated[str | None, Header(alias="X-Hub-Signature-256", max_length=128)]


@router.post(
    "/webhooks/github",
    responses={
        200: {"description": "a repeated delivery (no new run)"},
        201: {"description": "runs queued"},
        202: {"description": "accepted, nothing to run"},
        400: {"description": "bad headers or JSON"},
        401: {"description": "bad or missing signature"},
        404: {"description": "unknown repository"},
        413: {"description": "body too large"},
    },
)
async def github_webhook(
    request: Request,
    x_github_event: EventHeader = None,
    x_github_delivery: DeliveryHeader = None,
    x_hub_signature_256: SignatureHeader = None,
) -> Any:
    from pheme.services.intake import handle_github_webhook

    server = request.app.state.server
    limit = server.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return JSONResponse({"error": f"payload larger than {limit} bytes"}, status_code=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return JSONResponse({"error": f"payload larger than {limit} bytes"}, status_code=413)
        chunks.append(chunk)
    headers = {
        "x-github-event": x_github_event or "",
        "x-github-delivery": x_github_delivery or "",
    }
    if x_hub_signature_256:
        headers["x-hub-signature-256"] = x_hub_signature_256
    result = await run_in_threadpool(handle_github_webhook, server, headers, b"".join(chunks))
    return JSONResponse(result.body, status_code=result.status)
