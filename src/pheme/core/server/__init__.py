"""The pipeline server's domain, pure: roles and permissions, and the records its store returns.

Import from here: ``from pheme.core.server import Role, Permission, RepoRecord, ...``.
"""

from pheme.core.server.records import (
    ApprovalRecord,
    AuditRecord,
    DeliveryOutcome,
    EnvironmentRecord,
    EnvironmentRules,
    QueueEntry,
    RepoRecord,
    TokenRecord,
    value_scope,
)
from pheme.core.server.roles import Permission, Role, allows, parse_role

__all__ = [
    "ApprovalRecord",
    "AuditRecord",
    "DeliveryOutcome",
    "EnvironmentRecord",
    "EnvironmentRules",
    "Permission",
    "QueueEntry",
    "RepoRecord",
    "Role",
    "TokenRecord",
    "allows",
    "parse_role",
    "value_scope",
]
