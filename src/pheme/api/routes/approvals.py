"""Pending deployments (approve/reject, deployers) and the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from pheme.api.auth import Principal, require
from pheme.api.schemas import ApprovalDecision
from pheme.core.server import ApprovalRecord, AuditRecord, Permission

router = APIRouter(prefix="/api/v1", tags=["approvals"])


def approval_json(a: ApprovalRecord) -> dict[str, Any]:
    from pheme.services.runs import iso

    return {
        "id": a.id,
        "run_id": a.run_id,
        "repository": a.repository,
        "job": a.job_key,
        "job_name": a.job_name,
        "environment": a.environment,
        "state": a.state,
        "requested_by": a.actor,
        "requested_at": iso(a.requested_at),
        "decided_by": a.decided_by,
        "decided_at": iso(a.decided_at),
        "comment": a.comment,
    }


def audit_json(a: AuditRecord) -> dict[str, Any]:
    from pheme.services.runs import iso

    return {"id": a.id, "at": iso(a.at), "actor": a.actor, "action": a.action, "target": a.target, "detail": dict(a.detail)}


@router.get("/approvals")
def list_approvals(
    request: Request,
    _: Principal = Depends(require(Permission.READ)),
    state: Literal["pending", "approved", "rejected", "cancelled"] | None = None,
    run_id: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    records = request.app.state.server.sstore.list_approvals(state=state, run_id=run_id)
    return {"approvals": [approval_json(a) for a in records]}


@router.get("/approvals/{approval_id}")
def get_approval(
    approval_id: Annotated[int, Path(ge=1)], request: Request, _: Principal = Depends(require(Permission.READ))
) -> dict[str, Any]:
    return approval_json(request.app.state.server.sstore.get_approval(approval_id))


@router.post("/approvals/{approval_id}")
def decide_approval(
    approval_id: Annotated[int, Path(ge=1)],
    body: ApprovalDecision,
    request: Request,
    who: Principal = Depends(require(Permission.APPROVE)),
) -> dict[str, Any]:
    from pheme.services.approvals import ApprovalConflict, ApprovalForbidden, decide

    try:
        record = decide(request.app.state.server, approval_id, body.decision, user=who.name, role=who.role,
                        comment=body.comment)  # fmt: skip
    except ApprovalForbidden as exc:
        raise HTTPException(403, str(exc)) from None
    except ApprovalConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return approval_json(record)


@router.get("/audit")
def list_audit(
    request: Request,
    _: Principal = Depends(require(Permission.READ)),
    action: Annotated[str | None, Query(pattern=r"^[a-z_.]{1,64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    records = request.app.state.server.sstore.list_audit(before_id=cursor, limit=limit + 1, action=action)
    more = len(records) > limit
    records = records[:limit]
    return {"entries": [audit_json(a) for a in records], "next": records[-1].id if more and records else None}
