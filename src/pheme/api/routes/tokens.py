"""API tokens (admin only). The token itself is returned once, at creation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from pheme.api.auth import Principal, require
from pheme.api.schemas import TokenBody
from pheme.core.server import Permission, parse_role
from pheme.services.server import token_json

router = APIRouter(prefix="/api/v1", tags=["tokens"])


@router.get("/tokens")
def list_tokens(request: Request, _: Principal = Depends(require(Permission.ADMIN))) -> dict[str, Any]:
    return {"tokens": [token_json(t) for t in request.app.state.server.sstore.list_tokens()]}


@router.post("/tokens", status_code=201)
def create_token(body: TokenBody, request: Request, who: Principal = Depends(require(Permission.ADMIN))) -> dict[str, Any]:
    record, token = request.app.state.server.create_token(parse_role(body.role), body.name, actor=who.name)
    return {**token_json(record), "token": token}


@router.delete("/tokens/{token_id}")
def revoke_token(
    token_id: Annotated[int, Path(ge=1)], request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> dict[str, Any]:
    return token_json(request.app.state.server.revoke_token(token_id, actor=who.name))


@router.get("/whoami")
def whoami(who: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return {"name": who.name, "role": who.role.label}
