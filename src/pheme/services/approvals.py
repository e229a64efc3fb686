"""Deciding on protected jobs: who may approve, the audit trail, waking the waiting job.

Rules (GitHub's environment protection, with Pheme's users being token names):

- The caller needs the ``deployer`` role (checked by the API) AND, when the
  environment lists ``reviewers`` or ``reviewer_roles``, to be one of the
  reviewers or hold one of those roles. The environment is the run's
  repository's (else the server-wide default of that name), as for the gate.
- With ``prevent_self_review`` the user who triggered the run may not decide.
- A decision is taken once: the first one wins (atomic ``pending ->``), a
  second gets a conflict.
- Every decision goes to the audit log with who, when and the comment.
"""

from __future__ import annotations

from typing import Any, Literal

from pheme.core.server import ApprovalRecord, Role
from pheme.errors import PhemeError

__all__ = ["ApprovalConflict", "ApprovalForbidden", "decide"]


class ApprovalForbidden(PhemeError):
    """The caller may not decide on this approval (not a reviewer, or self-review)."""


class ApprovalConflict(PhemeError):
    """The approval was already decided (or its run ended)."""


def decide(
    server: Any,
    approval_id: int,
    decision: Literal["approve", "reject"],
    *,
    user: str,
    role: Role,
    comment: str | None = None,
) -> ApprovalRecord:
    approval = server.sstore.get_approval(approval_id)
    if approval.state != "pending":
        raise ApprovalConflict(f"approval {approval_id} is already {approval.state}")
    # The rules the job was held by: its repository's environment, else the default.
    env = server.environment_for(approval.repo_id, approval.environment)
    rules = None if env is None else env.rules
    if rules is not None:
        listed = bool(rules.reviewers or rules.reviewer_roles)
        if listed and user not in rules.reviewers and role.label not in rules.reviewer_roles:
            raise ApprovalForbidden(f"{user} is not a required reviewer of environment {approval.environment}")
        if rules.prevent_self_review and user == approval.actor:
            raise ApprovalForbidden(
                f"{user} triggered this run and environment {approval.environment} prevents self-review"
            )
    state = "approved" if decision == "approve" else "rejected"
    decided: ApprovalRecord | None = server.sstore.decide_approval(approval_id, state, user, comment)
    if decided is None:
        raise ApprovalConflict(f"approval {approval_id} was decided by someone else first")
    repo = f"{approval.repository} " if approval.repository else ""
    server.sstore.audit(
        user,
        f"approval.{decision}",
        f"{repo}run {approval.run_id} job {approval.job_name} environment {approval.environment}",
        {"approval": approval_id, "run": approval.run_id, "repository": approval.repository,
         "environment": approval.environment, "comment": comment},
    )  # fmt: skip
    if server.dispatcher is not None:
        server.dispatcher.resolve_approval(approval_id, state, user, comment)
    return decided
