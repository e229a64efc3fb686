"""Deployment history, steps and the per-(service, environment) deployment lock.

Three tables: ``deployments`` (one row per deploy or rollback),
``deployment_steps`` (one per action the executor carried out) and
``deployment_locks`` (at most one row per service and environment: whoever
inserted it may deploy there). The lock is a row, not a process-local mutex,
so it holds across processes and machines sharing a database; the primary
key makes the insert itself the atomic test-and-set. A lock whose holder
process is gone can be taken over (:meth:`DeploymentRepo.acquire_lock`
with ``stale``), so a crash never blocks deployments forever.

:class:`DeploymentRepo` returns :mod:`pheme.core.deploy.records` dataclasses only.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Update,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from pheme.core.deploy.records import DEPLOYMENT_STATUSES, STEP_OUTCOMES, DeploymentRecord, DeployStepRecord
from pheme.core.runs import utc_now
from pheme.storage._errors import NotFoundError
from pheme.storage._orm import Base, Id, UTCDateTime, _in

__all__ = ["DeploymentRepo", "LockHeld"]

KINDS = ("deploy", "rollback")


class DeploymentRow(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(_in("status", DEPLOYMENT_STATUSES), name="status"),
        CheckConstraint(_in("kind", KINDS), name="kind"),
        Index(None, "service", "environment", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service: Mapped[str] = mapped_column(String(255), nullable=False)
    environment: Mapped[str] = mapped_column(String(255), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    previous_revision: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(255), nullable=False)
    strategy: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    commit_sha: Mapped[str] = mapped_column(String(64), nullable=False)
    triggered_by: Mapped[str] = mapped_column(String(255), nullable=False)
    target: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeploymentStepRow(Base):
    __tablename__ = "deployment_steps"
    __table_args__ = (CheckConstraint(_in("outcome", STEP_OUTCOMES), name="outcome"),)

    deployment_id: Mapped[int] = mapped_column(
        Id, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeploymentLockRow(Base):
    __tablename__ = "deployment_locks"

    service: Mapped[str] = mapped_column(String(255), primary_key=True)
    environment: Mapped[str] = mapped_column(String(255), primary_key=True)
    deployment_id: Mapped[int | None] = mapped_column(Id)
    holder: Mapped[str] = mapped_column(String(255), nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


deployments = cast(Table, DeploymentRow.__table__)
deployment_steps = cast(Table, DeploymentStepRow.__table__)
deployment_locks = cast(Table, DeploymentLockRow.__table__)


class LockHeld(Exception):
    """Someone else deploys this service to this environment: ``holder`` and ``deployment_id`` say who."""

    def __init__(self, holder: str, deployment_id: int | None, acquired_at: datetime) -> None:
        super().__init__(holder)
        self.holder = holder
        self.deployment_id = deployment_id
        self.acquired_at = acquired_at


class DeploymentRepo:
    """Deployments in the store. ``DeploymentRepo(store)``; thread-safe like the store."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def _conn(self, *, write: bool) -> Any:
        return self._store._conn(write=write)

    # -------------------------------------------------------------- locks

    def acquire_lock(
        self, service: str, environment: str, holder: str, *, stale: Callable[[str], bool] | None = None
    ) -> None:
        """Take the lock or raise :class:`LockHeld`. ``stale(holder)`` True lets a dead holder's lock go."""
        row = {"service": service, "environment": environment, "holder": holder, "acquired_at": utc_now()}
        for _ in range(2):
            with self._conn(write=True) as conn:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                # RETURNING, not rowcount: psycopg reports -1 for an upsert that did nothing.
                taken = conn.execute(
                    dialect.insert(deployment_locks)
                    .values(**row)
                    .on_conflict_do_nothing()
                    .returning(deployment_locks.c.holder)
                ).first()
            if taken is not None:
                return
            current = self.lock(service, environment)
            if current is None:
                continue
            held_by, dep_id, since = current
            if stale is not None and stale(held_by):
                with self._conn(write=True) as conn:
                    conn.execute(
                        delete(deployment_locks).where(
                            deployment_locks.c.service == service,
                            deployment_locks.c.environment == environment,
                            deployment_locks.c.holder == held_by,
                        )
                    )
                continue
            raise LockHeld(held_by, dep_id, since)
        current = self.lock(service, environment)
        raise LockHeld(*(current or (holder, None, utc_now())))

    def lock(self, service: str, environment: str) -> tuple[str, int | None, datetime] | None:
        with self._conn(write=False) as conn:
            row = conn.execute(
                select(deployment_locks.c.holder, deployment_locks.c.deployment_id, deployment_locks.c.acquired_at).where(
                    deployment_locks.c.service == service, deployment_locks.c.environment == environment
                )
            ).first()
        return (row[0], row[1], row[2]) if row else None

    def attach_lock(self, service: str, environment: str, holder: str, deployment_id: int) -> None:
        with self._conn(write=True) as conn:
            conn.execute(
                update(deployment_locks)
                .where(
                    deployment_locks.c.service == service,
                    deployment_locks.c.environment == environment,
                    deployment_locks.c.holder == holder,
                )
                .values(deployment_id=deployment_id)
            )

    def release_lock(self, service: str, environment: str, holder: str) -> None:
        with self._conn(write=True) as conn:
            conn.execute(
                delete(deployment_locks).where(
                    deployment_locks.c.service == service,
                    deployment_locks.c.environment == environment,
                    deployment_locks.c.holder == holder,
                )
            )

    def locks_held_by(self, holder_prefix: str) -> list[tuple[str, str, str]]:
        with self._conn(write=False) as conn:
            rows = conn.execute(
                select(deployment_locks.c.service, deployment_locks.c.environment, deployment_locks.c.holder).where(
                    deployment_locks.c.holder.startswith(holder_prefix)
                )
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    # -------------------------------------------------------- deployments

    def next_revision(self, service: str, environment: str) -> int:
        """One more than the highest revision recorded (call while holding the lock)."""
        with self._conn(write=False) as conn:
            top = conn.execute(
                select(func.max(deployments.c.revision)).where(
                    deployments.c.service == service, deployments.c.environment == environment
                )
            ).scalar()
        return int(top or 0) + 1

    def create(
        self,
        *,
        service: str,
        environment: str,
        kind: str,
        revision: int,
        version: str,
        strategy: str,
        commit: str = "",
        triggered_by: str = "",
        target: str = "",
        previous_revision: int | None = None,
        status: str = "in_progress",
    ) -> DeploymentRecord:
        now = utc_now()
        with self._conn(write=True) as conn:
            new_id = conn.execute(
                insert(deployments)
                .values(
                    service=service,
                    environment=environment,
                    kind=kind,
                    revision=revision,
                    previous_revision=previous_revision,
                    version=version,
                    strategy=strategy,
                    status=status,
                    commit_sha=commit[:64],
                    triggered_by=triggered_by[:255],
                    target=target[:64],
                    reason="",
                    created_at=now,
                )
                .returning(deployments.c.id)
            ).scalar_one()
        return self.get(int(new_id))

    def set_status(self, deployment_id: int, status: str, reason: str | None = None) -> None:
        with self._conn(write=True) as conn:
            conn.execute(self._status_update(deployment_id, status, reason))

    def finish(
        self, deployment_id: int, status: str, reason: str | None, *, service: str, environment: str, holder: str
    ) -> None:
        """Record the final status and release the lock in ONE transaction.

        Why: a client that sees the deployment finished may deploy again at
        once; with two transactions it could find the lock still held."""
        with self._conn(write=True) as conn:
            conn.execute(self._status_update(deployment_id, status, reason))
            conn.execute(
                delete(deployment_locks).where(
                    deployment_locks.c.service == service,
                    deployment_locks.c.environment == environment,
                    deployment_locks.c.holder == holder,
                )
            )

    @staticmethod
    def _status_update(deployment_id: int, status: str, reason: str | None) -> Update:
        values: dict[str, Any] = {"status": status}
        if reason is not None:
            values["reason"] = reason
        if status in ("succeeded", "failed", "aborted"):
            values["finished_at"] = utc_now()
        return update(deployments).where(deployments.c.id == deployment_id).values(**values)

    def add_step(self, deployment_id: int, number: int, action: str, description: str) -> None:
        with self._conn(write=True) as conn:
            conn.execute(
                insert(deployment_steps).values(
                    deployment_id=deployment_id,
                    number=number,
                    action=action,
                    description=description,
                    outcome="running",
                    detail="",
                    started_at=utc_now(),
                )
            )

    def finish_step(self, deployment_id: int, number: int, outcome: str, detail: str = "") -> None:
        with self._conn(write=True) as conn:
            conn.execute(
                update(deployment_steps)
                .where(deployment_steps.c.deployment_id == deployment_id, deployment_steps.c.number == number)
                .values(outcome=outcome, detail=detail, finished_at=utc_now())
            )

    def get(self, deployment_id: int) -> DeploymentRecord:
        with self._conn(write=False) as conn:
            row = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).first()
            if row is None:
                raise NotFoundError(f"no deployment #{deployment_id}")
            steps = conn.execute(
                select(deployment_steps)
                .where(deployment_steps.c.deployment_id == deployment_id)
                .order_by(deployment_steps.c.number)
            ).all()
        return _record(row, tuple(_step(s) for s in steps))

    def list(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[DeploymentRecord]:
        """Newest first, without steps."""
        query = select(deployments).order_by(deployments.c.id.desc()).limit(limit)
        if service:
            query = query.where(deployments.c.service == service)
        if environment:
            query = query.where(deployments.c.environment == environment)
        if status:
            query = query.where(deployments.c.status == status)
        with self._conn(write=False) as conn:
            rows = conn.execute(query).all()
        return [_record(r, ()) for r in rows]

    # ``builtins.list``: inside the class body ``list`` now names the method above.
    def fail_unfinished(self, reason: str, *, ids: builtins.list[int] | None = None) -> builtins.list[int]:
        """Mark in-progress/paused deployments failed (after a crash). Returns their ids."""
        query = select(deployments.c.id).where(deployments.c.status.in_(("in_progress", "paused")))
        if ids is not None:
            query = query.where(deployments.c.id.in_(ids))
        with self._conn(write=True) as conn:
            found = [int(r[0]) for r in conn.execute(query).all()]
            if found:
                conn.execute(
                    update(deployments)
                    .where(deployments.c.id.in_(found))
                    .values(status="failed", reason=reason, finished_at=utc_now())
                )
                conn.execute(
                    update(deployment_steps)
                    .where(deployment_steps.c.deployment_id.in_(found), deployment_steps.c.outcome == "running")
                    .values(outcome="cancelled", detail=reason, finished_at=utc_now())
                )
        return found


def _record(row: Any, steps: tuple[DeployStepRecord, ...]) -> DeploymentRecord:
    m = row._mapping
    return DeploymentRecord(
        id=int(m["id"]),
        service=m["service"],
        environment=m["environment"],
        kind=m["kind"],
        revision=int(m["revision"]),
        version=m["version"],
        strategy=m["strategy"],
        status=m["status"],
        commit=m["commit_sha"],
        triggered_by=m["triggered_by"],
        target=m["target"],
        reason=m["reason"],
        previous_revision=m["previous_revision"],
        created_at=m["created_at"],
        finished_at=m["finished_at"],
        steps=steps,
    )


def _step(row: Any) -> DeployStepRecord:
    m = row._mapping
    return DeployStepRecord(
        number=int(m["number"]),
        action=m["action"],
        description=m["description"],
        outcome=m["outcome"],
        detail=m["detail"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
    )
