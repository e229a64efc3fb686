"""Repositories: listed by viewers, managed by admins; their secrets and variables."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from pheme.api.auth import Principal, require
from pheme.api.schemas import RepoBody, ValueBody
from pheme.core.server import Permission
from pheme.services.server import repo_json

router = APIRouter(prefix="/api/v1", tags=["repos"])

Owner = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
ValueName = Annotated[str, Path(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


@router.get("/repos")
def list_repos(request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return {"repos": [repo_json(r) for r in request.app.state.server.sstore.list_repos()]}


@router.post("/repos", status_code=201)
def add_repo(body: RepoBody, request: Request, who: Principal = Depends(require(Permission.ADMIN))) -> dict[str, Any]:
    server = request.app.state.server
    repo = server.add_repo(
        body.name, body.source, webhook_secret=body.webhook_secret, github_token_env=body.github_token_env, actor=who.name
    )
    return repo_json(repo)


@router.get("/repos/{owner}/{name}")
def get_repo(owner: Owner, name: Name, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return repo_json(request.app.state.server.sstore.get_repo(f"{owner}/{name}"))


@router.delete("/repos/{owner}/{name}", status_code=204)
def delete_repo(owner: Owner, name: Name, request: Request, who: Principal = Depends(require(Permission.ADMIN))) -> Response:
    request.app.state.server.remove_repo(f"{owner}/{name}", actor=who.name)
    return Response(status_code=204)


@router.get("/repos/{owner}/{name}/secrets")
def list_repo_secrets(owner: Owner, name: Name, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    server = request.app.state.server
    repo = server.sstore.get_repo(f"{owner}/{name}")
    return {"secrets": sorted(server.sstore.values("secret", server.scope_of(repo)))}


@router.put("/repos/{owner}/{name}/secrets/{secret}", status_code=204)
def put_repo_secret(
    owner: Owner, name: Name, secret: ValueName, body: ValueBody, request: Request,
    who: Principal = Depends(require(Permission.ADMIN)),
) -> Response:  # fmt: skip
    server = request.app.state.server
    repo = server.sstore.get_repo(f"{owner}/{name}")
    server.put_secret(server.scope_of(repo), secret, body.value, actor=who.name)
    return Response(status_code=204)


@router.delete("/repos/{owner}/{name}/secrets/{secret}", status_code=204)
def delete_repo_secret(
    owner: Owner, name: Name, secret: ValueName, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> Response:
    server = request.app.state.server
    repo = server.sstore.get_repo(f"{owner}/{name}")
    server.delete_value("secret", server.scope_of(repo), secret, actor=who.name)
    return Response(status_code=204)


@router.get("/repos/{owner}/{name}/variables")
def list_repo_variables(owner: Owner, name: Name, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    server = request.app.state.server
    repo = server.sstore.get_repo(f"{owner}/{name}")
    return {"variables": server.variables_for(server.scope_of(repo))}


@router.put("/repos/{owner}/{name}/variables/{variable}", status_code=204)
def put_repo_variable(
    owner: Owner, name: Name, variable: ValueName, body: ValueBody, request: Request,
    who: Principal = Depends(require(Permission.ADMIN)),
) -> Response:  # fmt: skip
    server = request.app.state.server
    repo = server.sstore.get_repo(f"{owner}/{name}")
    server.put_variable(server.scope_of(repo), variable, body.value, actor=who.name)
    return Response(status_code=204)
