"""Who may do what on the server: four cumulative roles.

    viewer     read everything (runs, logs, artifacts, environments, audit log)
    developer  + start runs (dispatch), cancel, re-run
    deployer   + approve or reject deployments to protected environments
    admin      + manage repositories, tokens, environments, secrets and variables

Why cumulative ranks rather than permission sets per role: the issue defines
the roles as a ladder, and a ladder cannot drift (a deployer who cannot read
would be a bug). One table maps each permission to the lowest role holding it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from pheme.errors import UsageError

__all__ = ["Permission", "Role", "allows", "parse_role"]


class Role(IntEnum):
    VIEWER = 1
    DEVELOPER = 2
    DEPLOYER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class Permission(StrEnum):
    READ = "read"
    RUN = "run"  # dispatch, cancel, re-run
    APPROVE = "approve"
    ADMIN = "admin"  # repos, tokens, environments, secrets, variables


_LOWEST: dict[Permission, Role] = {
    Permission.READ: Role.VIEWER,
    Permission.RUN: Role.DEVELOPER,
    Permission.APPROVE: Role.DEPLOYER,
    Permission.ADMIN: Role.ADMIN,
}


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission`` (roles include everything below them)."""
    return role >= _LOWEST[permission]


def parse_role(text: str) -> Role:
    """``viewer|developer|deployer|admin`` (case-insensitive); UsageError otherwise."""
    try:
        return Role[text.strip().upper()]
    except KeyError:
        raise UsageError(f"unknown role {text!r} (expected viewer, developer, deployer or admin)") from None
