"""Bearer-token authentication and role checks.

Every API route depends on ``require(Permission.X)``: no token (or an unknown
or revoked one) is 401, a token whose role is too low is 403. The UI may send
the same token in the ``pheme_token`` cookie; the API accepts the cookie for
reads only (GET/HEAD), so a cross-site form can never act with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request

from pheme.core.server import Permission, Role, allows

__all__ = ["COOKIE_NAME", "Principal", "current_principal", "require"]

COOKIE_NAME = "pheme_token"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name is the user name (audit log, reviewers)."""

    name: str
    role: Role
    token_id: int

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)


def _token_from(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    if request.method in ("GET", "HEAD"):
        return request.cookies.get(COOKIE_NAME)
    return None


def current_principal(request: Request) -> Principal:
    token = _token_from(request)
    if not token:
        raise HTTPException(401, "authentication required: send Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    server = request.app.state.server
    record = server.authenticate(token)
    if record is None:
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return Principal(record.name, record.role, record.id)


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency: the caller's Principal if its role holds ``permission``, else 403."""

    def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.can(permission):
            raise HTTPException(403, f"the {principal.role.label} role may not do this (needs {permission.value})")
        return principal

    dependency.__name__ = f"require_{permission.value}"
    return dependency
