"""Request bodies and responses of the API (pydantic; unknown fields are refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApprovalDecision",
    "DispatchBody",
    "EnvironmentBody",
    "RepoBody",
    "RerunBody",
    "TokenBody",
    "ValueBody",
]

RoleName = Literal["viewer", "developer", "deployer", "admin"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=65536)


class RepoBody(_Body):
    name: str = Field(min_length=3, max_length=201, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    source: str = Field(min_length=1, max_length=4096)
    webhook_secret: str | None = Field(default=None, min_length=1, max_length=1024)
    github_token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class TokenBody(_Body):
    role: RoleName
    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


class DispatchBody(_Body):
    workflow: str = Field(min_length=1, max_length=1024, description="file path, base name or workflow name")
    ref: str = Field(default="main", min_length=1, max_length=1024)
    inputs: dict[str, str | bool | int | float] = Field(default_factory=dict, max_length=100)


class RerunBody(_Body):
    failed_only: bool = False


class ApprovalDecision(_Body):
    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=4000)


class EnvironmentBody(_Body):
    reviewers: list[str] = Field(default_factory=list, max_length=100)
    reviewer_roles: list[RoleName] = Field(default_factory=list)
    prevent_self_review: bool = False
    wait_timer: int = Field(default=0, ge=0, le=30 * 24 * 3600)
    branches: list[str] | None = Field(default=None, max_length=100)
    url: str | None = Field(default=None, max_length=2048)


class ValueBody(_Body):
    value: str = Field(max_length=48 * 1024)


def page(items_key: str, items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {items_key: items, "next": next_cursor}
