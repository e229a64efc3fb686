"""Environments: protection rules, environment-scoped secrets and variables (admin writes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from pheme.api.auth import Principal, require
from pheme.api.schemas import EnvironmentBody, ValueBody
from pheme.core.server import EnvironmentRecord, EnvironmentRules, Permission

router = APIRouter(prefix="/api/v1", tags=["environments"])

EnvName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,255}$")]
ValueName = Annotated[str, Path(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


def environment_json(env: EnvironmentRecord) -> dict[str, Any]:
    return {"name": env.name, "url": env.url, **env.rules.to_json(), "secrets": list(env.secret_names),
            "variables": dict(env.variables)}  # fmt: skip


@router.get("/environments")
def list_environments(request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return {"environments": [environment_json(e) for e in request.app.state.server.sstore.list_environments()]}


@router.get("/environments/{name}")
def get_environment(name: EnvName, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return environment_json(request.app.state.server.sstore.get_environment(name))


@router.put("/environments/{name}")
def put_environment(
    name: EnvName, body: EnvironmentBody, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> dict[str, Any]:
    rules = EnvironmentRules(
        reviewers=tuple(body.reviewers),
        reviewer_roles=tuple(body.reviewer_roles),
        prevent_self_review=body.prevent_self_review,
        wait_timer=body.wait_timer,
        branches=tuple(body.branches) if body.branches is not None else None,
    )
    return environment_json(request.app.state.server.put_environment(name, rules, body.url, actor=who.name))


@router.delete("/environments/{name}", status_code=204)
def delete_environment(name: EnvName, request: Request, who: Principal = Depends(require(Permission.ADMIN))) -> Response:
    request.app.state.server.delete_environment(name, actor=who.name)
    return Response(status_code=204)


@router.put("/environments/{name}/secrets/{secret}", status_code=204)
def put_environment_secret(
    name: EnvName, secret: ValueName, body: ValueBody, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> Response:
    server = request.app.state.server
    server.sstore.get_environment(name)
    server.put_secret(server.scope_of(environment=name), secret, body.value, actor=who.name)
    return Response(status_code=204)


@router.delete("/environments/{name}/secrets/{secret}", status_code=204)
def delete_environment_secret(
    name: EnvName, secret: ValueName, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> Response:
    server = request.app.state.server
    server.delete_value("secret", server.scope_of(environment=name), secret, actor=who.name)
    return Response(status_code=204)


@router.put("/environments/{name}/variables/{variable}", status_code=204)
def put_environment_variable(
    name: EnvName, variable: ValueName, body: ValueBody, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> Response:
    server = request.app.state.server
    server.sstore.get_environment(name)
    server.put_variable(server.scope_of(environment=name), variable, body.value, actor=who.name)
    return Response(status_code=204)
