"""Every API route, for every role (and without a token): who is let through and who gets 403.

Roles are cumulative: viewer reads; developer also runs, cancels and re-runs;
deployer also approves deployments; admin also manages repositories, tokens,
environments (a repository's and the server-wide defaults), secrets and variables.
The environments, secrets and variables the environment routes name exist,
so there an allowed role must get a success (not, say, a 404 from a route
that looked in the wrong repository). The table below must list every route
of the OpenAPI schema (a test checks it), so a new route cannot skip this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pheme.core.server import EnvironmentRules

RANK = {"viewer": 1, "developer": 2, "deployer": 3, "admin": 4}
NEEDS = {"read": 1, "run": 2, "approve": 3, "admin": 4}

# (method, path, permission, json body)
ROUTES: list[tuple[str, str, str, Any]] = [
    ("GET", "/api/v1/repos", "read", None),
    ("POST", "/api/v1/repos", "admin", {"name": "acme/other", "source": "https://example.com/acme/other.git"}),
    ("GET", "/api/v1/repos/{owner}/{name}", "read", None),
    ("DELETE", "/api/v1/repos/{owner}/{name}", "admin", None),
    ("GET", "/api/v1/repos/{owner}/{name}/secrets", "read", None),
    ("PUT", "/api/v1/repos/{owner}/{name}/secrets/{secret}", "admin", {"value": "v"}),
    ("DELETE", "/api/v1/repos/{owner}/{name}/secrets/{secret}", "admin", None),
    ("GET", "/api/v1/repos/{owner}/{name}/variables", "read", None),
    ("PUT", "/api/v1/repos/{owner}/{name}/variables/{variable}", "admin", {"value": "v"}),
    ("POST", "/api/v1/repos/{owner}/{name}/dispatch", "run", {"workflow": "ci.yml", "ref": "main"}),
    ("GET", "/api/v1/runs", "read", None),
    ("GET", "/api/v1/runs/{run_id}", "read", None),
    ("GET", "/api/v1/runs/{run_id}/attempts/{attempt}", "read", None),
    ("GET", "/api/v1/runs/{run_id}/jobs", "read", None),
    ("GET", "/api/v1/runs/{run_id}/jobs/{job_id}", "read", None),
    ("GET", "/api/v1/runs/{run_id}/jobs/{job_id}/steps", "read", None),
    ("GET", "/api/v1/runs/{run_id}/jobs/{job_id}/logs", "read", None),
    ("GET", "/api/v1/runs/{run_id}/artifacts", "read", None),
    ("GET", "/api/v1/runs/{run_id}/artifacts/{name}", "read", None),
    ("POST", "/api/v1/runs/{run_id}/cancel", "run", None),
    ("POST", "/api/v1/runs/{run_id}/rerun", "run", {"failed_only": False}),
    ("GET", "/api/v1/approvals", "read", None),
    ("GET", "/api/v1/approvals/{approval_id}", "read", None),
    ("POST", "/api/v1/approvals/{approval_id}", "approve", {"decision": "approve", "comment": "ok"}),
    ("GET", "/api/v1/audit", "read", None),
    ("GET", "/api/v1/repos/{owner}/{name}/environments", "read", None),
    ("GET", "/api/v1/repos/{owner}/{name}/environments/{environment}", "read", None),
    ("PUT", "/api/v1/repos/{owner}/{name}/environments/{environment}", "admin", {"reviewers": ["alice"]}),
    ("DELETE", "/api/v1/repos/{owner}/{name}/environments/{environment}", "admin", None),
    ("GET", "/api/v1/repos/{owner}/{name}/environments/{environment}/secrets", "read", None),
    ("PUT", "/api/v1/repos/{owner}/{name}/environments/{environment}/secrets/{secret}", "admin", {"value": "v"}),
    ("DELETE", "/api/v1/repos/{owner}/{name}/environments/{environment}/secrets/{secret}", "admin", None),
    ("GET", "/api/v1/repos/{owner}/{name}/environments/{environment}/variables", "read", None),
    ("PUT", "/api/v1/repos/{owner}/{name}/environments/{environment}/variables/{variable}", "admin", {"value": "v"}),
    ("DELETE", "/api/v1/repos/{owner}/{name}/environments/{environment}/variables/{variable}", "admin", None),
    ("GET", "/api/v1/environments", "read", None),
    ("GET", "/api/v1/environments/{name}", "read", None),
    ("PUT", "/api/v1/environments/{name}", "admin", {"reviewers": ["alice"]}),
    ("DELETE", "/api/v1/environments/{name}", "admin", None),
    ("PUT", "/api/v1/environments/{name}/secrets/{secret}", "admin", {"value": "v"}),
    ("DELETE", "/api/v1/environments/{name}/secrets/{secret}", "admin", None),
    ("PUT", "/api/v1/environments/{name}/variables/{variable}", "admin", {"value": "v"}),
    ("DELETE", "/api/v1/environments/{name}/variables/{variable}", "admin", None),
    ("GET", "/api/v1/tokens", "admin", None),
    ("POST", "/api/v1/tokens", "admin", {"role": "viewer", "name": "new-one"}),
    ("DELETE", "/api/v1/tokens/{token_id}", "admin", None),
    ("GET", "/api/v1/whoami", "read", None),
    ("GET", "/api/v1/analyses", "read", None),
    ("GET", "/api/v1/analyses/{analysis_id}", "read", None),
    ("GET", "/api/v1/deployments/{deployment_id}/analyses", "read", None),
    ("GET", "/api/v1/dora", "read", None),
    ("POST", "/api/v1/alerts/alertmanager", "approve", {"version": "4", "status": "firing", "alerts": []}),
]

VALUES = {
    "{owner}/{name}": "acme/proj", "{run_id}": "1", "{job_id}": "1", "{approval_id}": "1", "{token_id}": "1",
    "{name}": "staging", "{environment}": "production", "{secret}": "API_KEY", "{variable}": "LEVEL",
    "{analysis_id}": "1", "{deployment_id}": "1", "{attempt}": "1",
}  # fmt: skip


def concrete(path: str) -> str:
    for key, value in VALUES.items():
        path = path.replace(key, value)
    return path


@pytest.fixture
def populated(api: Any, tmp_path: Path) -> Any:
    (tmp_path / "src").mkdir()
    repo = api.server.add_repo("acme/proj", str(tmp_path / "src"))
    api.server.sstore.put_environment("staging", EnvironmentRules())  # a server-wide default
    api.server.sstore.put_environment("production", EnvironmentRules(), repo_id=repo.id)  # acme/proj's
    for scope in (api.server.scope_of(environment="staging"), api.server.scope_of(repo, "production")):
        api.server.put_secret(scope, "API_KEY", "s", actor="test")
        api.server.put_variable(scope, "LEVEL", "v", actor="test")
    return api


def _id(route: tuple[str, str, str, Any]) -> str:
    return f"{route[0]} {route[1]}"


@pytest.mark.parametrize("role", ["anonymous", *RANK])
@pytest.mark.parametrize("route", ROUTES, ids=_id)
def test_each_role_is_allowed_or_denied_on_each_route(populated: Any, route: tuple[str, str, str, Any], role: str) -> None:
    method, path, permission, body = route
    kwargs = {"json": body} if body is not None else {}
    response = populated.request(method, concrete(path), None if role == "anonymous" else role, **kwargs)
    if role == "anonymous":
        assert response.status_code == 401, response.text
    elif RANK[role] >= NEEDS[permission]:
        assert response.status_code not in (401, 403), f"{role} denied: {response.text}"
        if "/environments" in path:
            assert response.status_code < 300, response.text
    else:
        assert response.status_code == 403, f"{role} let through: {response.status_code} {response.text}"
        assert permission in response.json()["error"]


def test_the_table_covers_every_api_route(api: Any) -> None:
    schema = api.client.get("/api/v1/openapi.json").json()
    served = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops if p.startswith("/api/v1/")}
    listed = {(m, p) for m, p, _, _ in ROUTES}
    assert served == listed


def test_probes_and_metrics_need_no_token(api: Any) -> None:
    assert api.get("/healthz", role=None).json() == {"status": "ok"}
    assert api.get("/readyz", role=None).json() == {"status": "ready"}
    assert "http_requests_total" in api.get("/metrics", role=None).text
