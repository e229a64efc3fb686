"""Bearer tokens: missing, malformed, unknown and revoked tokens are refused; the token is stored hashed."""

from __future__ import annotations

from typing import Any

import pytest


def test_requests_without_a_token_get_401_with_a_one_line_json_error(api: Any) -> None:
    response = api.get("/api/v1/repos", role=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert set(response.json()) == {"error"} and "\n" not in response.json()["error"]


@pytest.mark.parametrize("header", ["Bearer nope", "Basic abc", "Bearer phm_" + "x" * 43, "Bearer"])
def test_bad_tokens_get_401(api: Any, header: str) -> None:
    response = api.client.get("/api/v1/repos", headers={"Authorization": header})
    assert response.status_code == 401


def test_a_revoked_token_stops_working(api: Any) -> None:
    created = api.post("/api/v1/tokens", json={"role": "viewer", "name": "temp"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert api.client.get("/api/v1/repos", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert api.request("DELETE", f"/api/v1/tokens/{created.json()['id']}").json()["revoked"] is True
    assert api.client.get("/api/v1/repos", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tokens_are_stored_only_as_hashes_and_never_listed(api: Any, tmp_path: Any) -> None:
    created = api.post("/api/v1/tokens", json={"role": "developer", "name": "ci-bot"}).json()
    listed = api.get("/api/v1/tokens").json()["tokens"]
    assert all("token" not in t for t in listed)
    assert {"name": "ci-bot", "role": "developer"}.items() <= next(t for t in listed if t["name"] == "ci-bot").items()
    raw = (tmp_path / "server.db").read_bytes()
    assert created["token"].encode() not in raw


def test_the_cookie_is_accepted_for_reads_only(api: Any) -> None:
    api.client.cookies.set("pheme_token", api.tokens["admin"])
    try:
        assert api.client.get("/api/v1/repos").status_code == 200
        assert api.client.post("/api/v1/tokens", json={"role": "viewer"}).status_code == 401
    finally:
        api.client.cookies.clear()


def test_whoami_names_the_token_and_its_role(api: Any) -> None:
    assert api.get("/api/v1/whoami", role="deployer").json() == {"name": "deployer-user", "role": "deployer"}
