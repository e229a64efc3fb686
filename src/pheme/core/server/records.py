"""Immutable records of the server's own tables (repos, tokens, queue, approvals, audit).

What the server store returns: plain frozen dataclasses, never ORM rows.
Secrets never appear in them: a repository says *whether* it has a webhook
secret, a token record carries no token (only the server ever sees a token,
once, when it is created).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pheme.core.server.roles import Role

__all__ = [
    "ApprovalRecord",
    "AuditRecord",
    "DeliveryOutcome",
    "EnvironmentRecord",
    "EnvironmentRules",
    "QueueEntry",
    "RepoRecord",
    "TokenRecord",
    "value_scope",
]

ApprovalState = Literal["pending", "approved", "rejected", "cancelled"]
QueueState = Literal["queued", "running", "done"]


@dataclass(frozen=True, slots=True)
class RepoRecord:
    """A repository the server builds. ``name`` is ``owner/repo`` (GitHub's full_name)."""

    id: int
    name: str
    source: str
    has_webhook_secret: bool
    github_token_env: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What an intake transaction did: ``duplicate`` when the delivery id was seen before."""

    duplicate: bool
    run_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A run as the server's queue sees it (the run itself lives in the run store).

    One entry per run, for its latest attempt: a re-run queues the same entry
    again (the attempt number is the run's, :attr:`RunRecord.attempt`).
    ``actor`` started the latest attempt; ``jobs`` limits the jobs to run;
    ``payload`` is the ``github.event`` the run sees.
    """

    run_id: int
    repo_id: int
    state: QueueState
    actor: str
    jobs: tuple[str, ...] | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    concurrency_group: str | None = None
    cancel_in_progress: bool = False
    cancel_requested: bool = False
    enqueued_at: datetime | None = None
    claimed_by: str | None = None


@dataclass(frozen=True, slots=True)
class EnvironmentRules:
    """Protection rules of an environment (GitHub's, as configuration).

    ``reviewers`` are user names (token names), ``reviewer_roles`` roles whose
    holders may approve; with neither, no approval is needed. ``wait_timer``
    delays the job (seconds) after it is approved (or at once, without
    reviewers). ``branches`` are filter patterns the run's branch must match
    (None: any branch).
    """

    reviewers: tuple[str, ...] = ()
    reviewer_roles: tuple[str, ...] = ()
    prevent_self_review: bool = False
    wait_timer: int = 0
    branches: tuple[str, ...] | None = None

    @property
    def needs_approval(self) -> bool:
        return bool(self.reviewers or self.reviewer_roles)

    def to_json(self) -> dict[str, Any]:
        return {
            "reviewers": list(self.reviewers),
            "reviewer_roles": list(self.reviewer_roles),
            "prevent_self_review": self.prevent_self_review,
            "wait_timer": self.wait_timer,
            "branches": None if self.branches is None else list(self.branches),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EnvironmentRules:
        branches = data.get("branches")
        return cls(
            reviewers=tuple(str(r) for r in data.get("reviewers") or ()),
            reviewer_roles=tuple(str(r) for r in data.get("reviewer_roles") or ()),
            prevent_self_review=bool(data.get("prevent_self_review", False)),
            wait_timer=int(data.get("wait_timer") or 0),
            branches=None if branches is None else tuple(str(b) for b in branches),
        )


@dataclass(frozen=True, slots=True)
class EnvironmentRecord:
    """An environment of one repository (``repo_id``/``repository`` set), or a server-wide
    default (both None) that applies to every repository without an environment of that name."""

    id: int
    name: str
    rules: EnvironmentRules
    url: str | None = None
    secret_names: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    repo_id: int | None = None
    repository: str | None = None

    @property
    def is_default(self) -> bool:
        return self.repo_id is None

    @property
    def scope(self) -> str:
        """Where its secrets and variables are stored (see :func:`value_scope`)."""
        return value_scope(self.repo_id, self.name)


def value_scope(repo_id: int | None = None, environment: str | None = None) -> str:
    """The scope key of stored secrets and variables.

    ``global`` (every job), ``repo:<id>`` (a repository's jobs),
    ``repo:<id>:env:<name>`` (jobs of that repository deploying to its
    environment ``name``) and ``env:<name>`` (a server-wide default
    environment). Environment names never contain ``:``, so the forms cannot
    collide; the repository is named by id, so renaming never moves secrets.
    """
    if environment is not None:
        return f"env:{environment}" if repo_id is None else f"repo:{repo_id}:env:{environment}"
    return "global" if repo_id is None else f"repo:{repo_id}"


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """A protected job waiting for (or past) a review."""

    id: int
    run_id: int
    job_key: str
    job_name: str
    environment: str
    state: ApprovalState
    actor: str  # who triggered the run (for prevent_self_review)
    requested_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    comment: str | None = None
    repo_id: int | None = None  # the run's repository (None once it is unregistered)
    repository: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: Mapping[str, Any] = field(default_factory=dict)
