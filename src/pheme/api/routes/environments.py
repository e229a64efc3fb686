"""Environments: protection rules, environment-scoped secrets and variables (admins write, viewers read).

An environment belongs to a repository, as on GitHub:
``/api/v1/repos/{owner}/{repo}/environments/{environment}`` (``production``
of acme/a and of acme/b are two environments with their own rules and
secrets). ``/api/v1/environments/{name}`` manages the server-wide DEFAULTS:
a default applies to every repository that has no environment of its name
(server.toml's ``[environments.*]`` are seeded there, and migration 0006 put
every earlier environment there). Secret values are never returned.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from pheme.api.auth import Principal, require
from pheme.api.schemas import EnvironmentBody, ValueBody
from pheme.core.server import EnvironmentRules, Permission, RepoRecord
from pheme.services.server import environment_json

router = APIRouter(prefix="/api/v1", tags=["environments"])

EnvName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,255}$")]
ValueName = Annotated[str, Path(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Owner = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]

REPO_ENV = "/repos/{owner}/{name}/environments/{environment}"


def _rules(body: EnvironmentBody) -> EnvironmentRules:
    return EnvironmentRules(
        reviewers=tuple(body.reviewers),
        reviewer_roles=tuple(body.reviewer_roles),
        prevent_self_review=body.prevent_self_review,
        wait_timer=body.wait_timer,
        branches=tuple(body.branches) if body.branches is not None else None,
    )


def _repo(request: Request, owner: str, name: str) -> RepoRecord:
    repo: RepoRecord = request.app.state.server.sstore.get_repo(f"{owner}/{name}")
    return repo


def _repo_environment(request: Request, owner: str, name: str, environment: str) -> Any:
    """A repository's own environment (404 for an unknown repository or environment)."""
    repo = _repo(request, owner, name)
    return request.app.state.server.sstore.get_environment(environment, repo_id=repo.id)


# ------------------------------------------------------- a repository's environments


@router.get("/repos/{owner}/{name}/environments")
def list_repo_environments(
    owner: Owner, name: Name, request: Request, _: Principal = Depends(require(Permission.READ))
) -> dict[str, Any]:
    """The repository's environments, and the defaults that apply to it (those it does not replace)."""
    sstore = request.app.state.server.sstore
    repo = _repo(request, owner, name)
    own = sstore.list_environments(repo.id)
    names = {e.name for e in own}
    defaults = [e for e in sstore.list_environments() if e.name not in names]
    return {"total_count": len(own), "environments": [environment_json(e) for e in own],
            "defaults": [environment_json(e) for e in defaults]}  # fmt: skip


@router.get(REPO_ENV)
def get_repo_environment(
    owner: Owner, name: Name, environment: EnvName, request: Request, _: Principal = Depends(require(Permission.READ))
) -> dict[str, Any]:
    return environment_json(_repo_environment(request, owner, name, environment))


@router.put(REPO_ENV)
def put_repo_environment(
    owner: Owner, name: Name, environment: EnvName, body: EnvironmentBody, request: Request,
    who: Principal = Depends(require(Permission.ADMIN)),
) -> dict[str, Any]:  # fmt: skip
    repo = _repo(request, owner, name)
    server = request.app.state.server
    return environment_json(server.put_environment(environment, _rules(body), body.url, actor=who.name, repo=repo))


@router.delete(REPO_ENV, status_code=204)
def delete_repo_environment(
    owner: Owner, name: Name, environment: EnvName, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> Response:
    repo = _repo(request, owner, name)
    request.app.state.server.delete_environment(environment, actor=who.name, repo=repo)
    return Response(status_code=204)


@router.get(REPO_ENV + "/secrets")
def list_repo_environment_secrets(
    owner: Owner, name: Name, environment: EnvName, request: Request, _: Principal = Depends(require(Permission.READ))
) -> dict[str, Any]:
    env = _repo_environment(request, owner, name, environment)
    return {"secrets": list(env.secret_names)}


@router.put(REPO_ENV + "/secrets/{secret}", status_code=204)
def put_repo_environment_secret(
    owner: Owner, name: Name, environment: EnvName, secret: ValueName, body: ValueBody, request: Request,
    who: Principal = Depends(require(Permission.ADMIN)),
) -> Response:  # fmt: skip
    server = request.app.state.server
    env = _repo_environment(request, owner, name, environment)
    server.put_secret(env.scope, secret, body.value, actor=who.name)
    return Response(status_code=204)


@router.delete(REPO_ENV + "/secrets/{secret}", status_code=204)
def delete_repo_environment_secret(
    owner: Owner, name: Name, environment: EnvName, secret: ValueName, request: Request,
    who: Principal = Depends(require(Permission.ADMIN)),
) -> Response:  # fmt: skip
    server = request.app.state.server
    env = _repo_environment(request, owner, name, environment)
    server.delete_value("secret", env.scope, secret, actor=who.name)
    return Response(status_code=204)


@router.get(REPO_ENV + "/variables")
def list_repo_environment_variables(
    owner: Owner, name: Name, environment: EnvName, request: Request, _: Principal = Depends(require(Permission.READ))
) -> dict[str, Any]:
    env = _repo_environment(request, owner, name, environment)
    return {"variables": dict(env.variables)}


@router.put(REPO_ENV + "/variables/{variable}", status_code=204)
def put_repo_environment_variable(
    owner: Owner, name: Name, environment: EnvName, variable: ValueName, body: ValueBody, request: Request,
    who: Principal = Depends(require(Permission.ADMIN)),
) -> Response:  # fmt: skip
    server = request.app.state.server
    env = _repo_environment(request, owner, name, environment)
    server.put_variable(env.scope, variable, body.value, actor=who.name)
    return Response(status_code=204)


@router.delete(REPO_ENV + "/variables/{variable}", status_code=204)
def delete_repo_environment_variable(
    owner: Owner, name: Name, environment: EnvName, variable: ValueName, request: Request,
    who: Principal = Depends(require(Permission.ADMIN)),
) -> Response:  # fmt: skip
    server = request.app.state.server
    env = _repo_environment(request, owner, name, environment)
    server.delete_value("variable", env.scope, variable, actor=who.name)
    return Response(status_code=204)


# ------------------------------------------------------------ server-wide defaults


@router.get("/environments")
def list_environments(request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    """The server-wide default environments."""
    return {"environments": [environment_json(e) for e in request.app.state.server.sstore.list_environments()]}


@router.get("/environments/{name}")
def get_environment(name: EnvName, request: Request, _: Principal = Depends(require(Permission.READ))) -> dict[str, Any]:
    return environment_json(request.app.state.server.sstore.get_environment(name))


@router.put("/environments/{name}")
def put_environment(
    name: EnvName, body: EnvironmentBody, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> dict[str, Any]:
    return environment_json(request.app.state.server.put_environment(name, _rules(body), body.url, actor=who.name))


@router.delete("/environments/{name}", status_code=204)
def delete_environment(name: EnvName, request: Request, who: Principal = Depends(require(Permission.ADMIN))) -> Response:
    request.app.state.server.delete_environment(name, actor=who.name)
    return Response(status_code=204)


@router.put("/environments/{name}/secrets/{secret}", status_code=204)
def put_environment_secret(
    name: EnvName, secret: ValueName, body: ValueBody, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> Response:
    server = request.app.state.server
    env = server.sstore.get_environment(name)
    server.put_secret(env.scope, secret, body.value, actor=who.name)
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
    env = server.sstore.get_environment(name)
    server.put_variable(env.scope, variable, body.value, actor=who.name)
    return Response(status_code=204)


@router.delete("/environments/{name}/variables/{variable}", status_code=204)
def delete_environment_variable(
    name: EnvName, variable: ValueName, request: Request, who: Principal = Depends(require(Permission.ADMIN))
) -> Response:
    server = request.app.state.server
    server.delete_value("variable", server.scope_of(environment=name), variable, actor=who.name)
    return Response(status_code=204)
