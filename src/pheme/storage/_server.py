"""The pipeline server's tables: repositories, API tokens, webhook deliveries,
the run queue, environments, secrets/variables, approvals and the audit log.

Why these live beside the run store rather than in it: the run history
(``runs``/``jobs``/``steps``/``log_chunks``) is shared by ``pheme run`` and the
server; everything here exists only for the server. :class:`ServerStore`
borrows the run store's connections (``store._conn``), so a webhook's delivery
record, its runs and their queue entries commit in ONE transaction inside
``store.batch()``: a run is never half-enqueued, and a repeated delivery id
(unique key) can never enqueue a second run, even when two copies race.

Secrets never reach these tables in clear: the caller passes already
encrypted bytes (``pheme.services.secretbox``) and tokens arrive as hashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from pheme.core.runs import Conclusion, RunRecord, Status, utc_now
from pheme.core.server import (
    ApprovalRecord,
    AuditRecord,
    DeliveryOutcome,
    EnvironmentRecord,
    EnvironmentRules,
    QueueEntry,
    RepoRecord,
    Role,
    TokenRecord,
    value_scope,
)
from pheme.errors import UsageError
from pheme.storage._errors import NotFoundError
from pheme.storage._orm import Base, Id, Json, UTCDateTime, _in, jobs, runs, steps

__all__ = ["NewRun", "ServerStore"]

ROLES = ("viewer", "developer", "deployer", "admin")
QUEUE_STATES = ("queued", "running", "done")
APPROVAL_STATES = ("pending", "approved", "rejected", "cancelled")
VALUE_KINDS = ("secret", "variable")


class ServerRepoRow(Base):
    __tablename__ = "server_repos"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    webhook_secret: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted
    github_token_env: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ServerTokenRow(Base):
    __tablename__ = "server_tokens"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ServerDeliveryRow(Base):
    """Webhook delivery ids already handled (GitHub's X-GitHub-Delivery)."""

    __tablename__ = "server_deliveries"

    delivery_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    repo_id: Mapped[int | None] = mapped_column(Id, ForeignKey("server_repos.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    run_ids: Mapped[list[int]] = mapped_column(Json, nullable=False)


class ServerQueueRow(Base):
    """The server's side of a run: what it needs to execute it, and its place in the queue."""

    __tablename__ = "server_queue"
    __table_args__ = (
        CheckConstraint(_in("state", QUEUE_STATES), name="state"),
        # The dispatcher takes queued runs in queue order (a re-run queues again, behind).
        Index(None, "state", "enqueued_at", "run_id"),
        Index(None, "repo_id", "run_id"),
        Index(None, "concurrency_group"),
    )

    run_id: Mapped[int] = mapped_column(Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    repo_id: Mapped[int] = mapped_column(Id, ForeignKey("server_repos.id", ondelete="CASCADE"), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)  # who started the latest attempt
    jobs: Mapped[list[str] | None] = mapped_column(Json)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    concurrency_group: Mapped[str | None] = mapped_column(String(1024))
    cancel_in_progress: Mapped[bool] = mapped_column(Boolean, nullable=False)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ServerEnvironmentRow(Base):
    """An environment of one repository, or (``repo_id`` NULL) a server-wide default.

    A default applies to every repository that has no environment of its name
    (see :meth:`ServerStore.find_environment`). The unique constraint keeps one
    environment per (repository, name); NULLs are distinct in it on both
    databases, so the partial unique index keeps one default per name.
    """

    __tablename__ = "server_environments"
    __table_args__ = (
        UniqueConstraint("repo_id", "name"),
        Index(
            None, "name", unique=True,
            sqlite_where=text("repo_id IS NULL"), postgresql_where=text("repo_id IS NULL"),
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    repo_id: Mapped[int | None] = mapped_column(Id, ForeignKey("server_repos.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    url: Mapped[str | None] = mapped_column(Text)
    rules: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ServerValueRow(Base):
    """A secret (encrypted) or variable; ``scope`` is ``global``, ``repo:<id>``,
    ``repo:<id>:env:<name>`` or ``env:<name>`` (a default environment): see
    :func:`pheme.core.server.value_scope`."""

    __tablename__ = "server_values"
    __table_args__ = (
        UniqueConstraint("kind", "scope", "name"),
        CheckConstraint(_in("kind", VALUE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    scope: Mapped[str] = mapped_column(String(300), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ServerApprovalRow(Base):
    __tablename__ = "server_approvals"
    __table_args__ = (
        CheckConstraint(_in("state", APPROVAL_STATES), name="state"),
        Index(None, "run_id"),
        Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(Id, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    job_key: Mapped[str] = mapped_column(String(255), nullable=False)
    job_name: Mapped[str] = mapped_column(String(1024), nullable=False)
    environment: Mapped[str] = mapped_column(String(255), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)


class ServerAuditRow(Base):
    __tablename__ = "server_audit"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(1024), nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)


repos_t = cast(Table, ServerRepoRow.__table__)
tokens_t = cast(Table, ServerTokenRow.__table__)
deliveries_t = cast(Table, ServerDeliveryRow.__table__)
queue_t = cast(Table, ServerQueueRow.__table__)
environments_t = cast(Table, ServerEnvironmentRow.__table__)
values_t = cast(Table, ServerValueRow.__table__)
approvals_t = cast(Table, ServerApprovalRow.__table__)
audit_t = cast(Table, ServerAuditRow.__table__)

# The webhook path's statements, built once: executed with parameters they skip
# SQLAlchemy's per-call statement construction and cache-key work.
_INSERT_QUEUE = insert(queue_t)
_INSERT_DELIVERY = insert(deliveries_t)
_SELECT_DELIVERY = select(deliveries_t.c.run_ids).where(deliveries_t.c.delivery_id == bindparam("delivery_id"))


class NewRun:
    """One run to create and enqueue (see :meth:`ServerStore.enqueue`)."""

    __slots__ = (
        "actor", "cancel_in_progress", "concurrency_group", "event", "file", "inputs", "jobs",
        "payload", "queue_max", "ref", "repo_id", "sha", "workflow",
    )  # fmt: skip

    def __init__(
        self,
        *,
        repo_id: int,
        workflow: str,
        file: str,
        event: str,
        ref: str,
        sha: str,
        actor: str,
        payload: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        jobs: Sequence[str] | None = None,
        concurrency_group: str | None = None,
        cancel_in_progress: bool = False,
        queue_max: bool = False,
    ) -> None:
        # ``queue_max`` (concurrency ``queue: max``) is applied when the run is admitted,
        # not stored: later runs of the group only look at who is already waiting.
        self.queue_max = queue_max
        self.repo_id = repo_id
        self.workflow = workflow
        self.file = file
        self.event = event
        self.ref = ref
        self.sha = sha
        self.actor = actor
        self.payload = dict(payload)
        self.inputs = dict(inputs or {})
        self.jobs = list(jobs) if jobs is not None else None
        self.concurrency_group = concurrency_group
        self.cancel_in_progress = cancel_in_progress


class ServerStore:
    """The server's tables, on the same database (and transactions) as a run :class:`Store`."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def _conn(self, *, write: bool) -> Any:
        return self.store._conn(write=write)

    # ------------------------------------------------------------------ repos

    def add_repo(
        self, name: str, source: str, *, webhook_secret: bytes | None, github_token_env: str | None
    ) -> RepoRecord:
        now = utc_now()
        try:
            with self._conn(write=True) as conn:
                repo_id = conn.execute(
                    insert(repos_t)
                    .values(
                        name=name,
                        source=source,
                        webhook_secret=webhook_secret,
                        github_token_env=github_token_env,
                        created_at=now,
                    )
                    .returning(repos_t.c.id)
                ).scalar_one()
        except IntegrityError:
            raise UsageError(f"repository {name} is already registered") from None
        except Exception as exc:
            if _is_integrity(exc):
                raise UsageError(f"repository {name} is already registered") from None
            raise
        return RepoRecord(repo_id, name, source, webhook_secret is not None, github_token_env, now)

    def update_repo(
        self,
        name: str,
        *,
        source: str | None = None,
        webhook_secret: bytes | None = None,
        github_token_env: str | None = None,
    ) -> RepoRecord:
        values: dict[str, Any] = {}
        if source is not None:
            values["source"] = source
        if webhook_secret is not None:
            values["webhook_secret"] = webhook_secret
        if github_token_env is not None:
            values["github_token_env"] = github_token_env or None
        if values:
            with self._conn(write=True) as conn:
                if conn.execute(update(repos_t).where(repos_t.c.name == name).values(**values)).rowcount != 1:
                    raise NotFoundError(f"repository {name} not found")
        return self.get_repo(name)

    def delete_repo(self, name: str) -> None:
        """Unregister a repository; its environments (foreign key) and its secrets and
        variables, its environments' included, go with it: SQLite may hand its id to
        the next repository added, which must not inherit them."""
        with self._conn(write=True) as conn:
            repo_id = conn.execute(select(repos_t.c.id).where(repos_t.c.name == name)).scalar()
            if repo_id is None or conn.execute(delete(repos_t).where(repos_t.c.id == repo_id)).rowcount != 1:
                raise NotFoundError(f"repository {name} not found")
            scope = value_scope(repo_id)
            conn.execute(
                delete(values_t).where(
                    or_(values_t.c.scope == scope, values_t.c.scope.startswith(scope + ":", autoescape=True))
                )
            )

    def get_repo(self, name_or_id: str | int) -> RepoRecord:
        column = repos_t.c.id if isinstance(name_or_id, int) else repos_t.c.name
        with self._conn(write=False) as conn:
            row = conn.execute(select(repos_t).where(column == name_or_id)).first()
        if row is None:
            raise NotFoundError(f"repository {name_or_id} not found")
        return _repo(row)

    def repo_secret(self, repo_id: int) -> bytes | None:
        """The repository's encrypted webhook secret (decrypt with the server's secret box)."""
        with self._conn(write=False) as conn:
            value = conn.execute(select(repos_t.c.webhook_secret).where(repos_t.c.id == repo_id)).scalar()
        return cast(bytes | None, value)

    def list_repos(self) -> list[RepoRecord]:
        with self._conn(write=False) as conn:
            rows = conn.execute(select(repos_t).order_by(repos_t.c.name)).all()
        return [_repo(r) for r in rows]

    # ----------------------------------------------------------------- tokens

    def add_token(self, name: str, role: Role, token_hash: str) -> TokenRecord:
        now = utc_now()
        with self._conn(write=True) as conn:
            token_id = conn.execute(
                insert(tokens_t)
                .values(name=name, role=role.label, token_hash=token_hash, created_at=now)
                .returning(tokens_t.c.id)
            ).scalar_one()
        return TokenRecord(token_id, name, role, now)

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The live (not revoked) token with this hash, or None."""
        with self._conn(write=False) as conn:
            row = conn.execute(
                select(tokens_t).where(tokens_t.c.token_hash == token_hash, tokens_t.c.revoked_at.is_(None))
            ).first()
        return None if row is None else _token(row)

    def touch_token(self, token_id: int, at: datetime) -> None:
        with self._conn(write=True) as conn:
            conn.execute(update(tokens_t).where(tokens_t.c.id == token_id).values(last_used_at=at))

    def list_tokens(self) -> list[TokenRecord]:
        with self._conn(write=False) as conn:
            rows = conn.execute(select(tokens_t).order_by(tokens_t.c.id)).all()
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: int) -> TokenRecord:
        with self._conn(write=True) as conn:
            done = conn.execute(
                update(tokens_t)
                .where(tokens_t.c.id == token_id, tokens_t.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            ).rowcount
            row = conn.execute(select(tokens_t).where(tokens_t.c.id == token_id)).first()
        if row is None or (done == 0 and row.revoked_at is None):
            raise NotFoundError(f"token {token_id} not found")
        return _token(row)

    # ------------------------------------------------------- intake and queue

    def enqueue(self, new_runs: Iterable[NewRun], *, delivery: tuple[str, str, int | None] | None = None) -> DeliveryOutcome:
        """Create the runs and their queue entries in one transaction.

        With ``delivery=(id, event, repo_id)`` the delivery is recorded in the
        same transaction; if its id was already recorded nothing is created
        and the outcome says ``duplicate`` (with the runs the first copy made).
        """
        store = self.store
        now = utc_now()
        try:
            with store.batch():
                created: list[int] = []
                for new in new_runs:
                    record = store.create_run(
                        new.workflow, new.file, new.event, new.ref, new.sha, inputs=new.inputs, created_at=now
                    )
                    created.append(record.id)
                    with self._conn(write=True) as conn:
                        conn.execute(
                            _INSERT_QUEUE,
                            {
                                "run_id": record.id,
                                "repo_id": new.repo_id,
                                "state": "queued",
                                "actor": new.actor,
                                "jobs": new.jobs,
                                "payload": new.payload,
                                "concurrency_group": new.concurrency_group,
                                "cancel_in_progress": new.cancel_in_progress,
                                "cancel_requested": False,
                                "enqueued_at": now,
                            },
                        )
                if delivery is not None:
                    with self._conn(write=True) as conn:
                        conn.execute(
                            _INSERT_DELIVERY,
                            {
                                "delivery_id": delivery[0],
                                "event": delivery[1],
                                "repo_id": delivery[2],
                                "received_at": now,
                                "run_ids": created,
                            },
                        )
        except Exception as exc:
            if delivery is not None and _is_integrity(exc):
                with self._conn(write=False) as conn:
                    seen = conn.execute(
                        select(deliveries_t.c.run_ids).where(deliveries_t.c.delivery_id == delivery[0])
                    ).first()
                if seen is not None:
                    return DeliveryOutcome(True, tuple(seen.run_ids or ()))
            raise
        return DeliveryOutcome(False, tuple(created))

    def delivery_runs(self, delivery_id: str) -> tuple[int, ...] | None:
        """The runs a delivery id created, or None if it was never seen."""
        with self._conn(write=False) as conn:
            seen = conn.execute(_SELECT_DELIVERY, {"delivery_id": delivery_id}).first()
        return None if seen is None else tuple(seen.run_ids or ())

    def requeue(
        self,
        run_id: int,
        *,
        actor: str,
        reuse: Sequence[int] = (),
        concurrency_group: str | None = None,
        cancel_in_progress: bool = False,
    ) -> RunRecord:
        """A re-run: the run's next attempt (:meth:`Store.new_attempt`) and its queue
        entry queued again for ``actor``, in one transaction. Refuses (UsageError)
        a run that is not completed or is not a server run."""
        now = utc_now()
        with self.store.batch(), self._conn(write=True) as conn:
            entry = conn.execute(select(queue_t.c.actor, queue_t.c.state).where(queue_t.c.run_id == run_id)).first()
            if entry is None:
                raise NotFoundError(f"run {run_id} is not a server run")
            # Only once the executor is done with the entry (the run completes a moment before).
            requeued = conn.execute(
                update(queue_t)
                .where(queue_t.c.run_id == run_id, queue_t.c.state == "done")
                .values(
                    state="queued", actor=actor, concurrency_group=concurrency_group,
                    cancel_in_progress=cancel_in_progress, cancel_requested=False, enqueued_at=now,
                    claimed_by=None, claimed_at=None,
                )
            ).rowcount
            record: RunRecord = self.store.new_attempt(run_id, reuse=reuse, actor=entry.actor)
            if requeued != 1:
                raise UsageError(f"run {run_id} is still being finished by the executor: try again in a moment")
        return record

    def queue_entry(self, run_id: int) -> QueueEntry:
        with self._conn(write=False) as conn:
            row = conn.execute(select(queue_t).where(queue_t.c.run_id == run_id)).first()
        if row is None:
            raise NotFoundError(f"run {run_id} is not a server run")
        return _entry(row)

    def queued(self, *, limit: int = 100) -> list[QueueEntry]:
        """Entries waiting to start, first queued first (a re-run queues behind what waits already)."""
        with self._conn(write=False) as conn:
            rows = conn.execute(
                select(queue_t)
                .where(queue_t.c.state == "queued")
                .order_by(queue_t.c.enqueued_at, queue_t.c.run_id)
                .limit(limit)
            ).all()
        return [_entry(r) for r in rows]

    def entries(self, state: str, *, group: str | None = None) -> list[QueueEntry]:
        query = select(queue_t).where(queue_t.c.state == state).order_by(queue_t.c.run_id)
        if group is not None:
            query = query.where(queue_t.c.concurrency_group == group)
        with self._conn(write=False) as conn:
            rows = conn.execute(query).all()
        return [_entry(r) for r in rows]

    def queue_depth(self) -> int:
        with self._conn(write=False) as conn:
            return int(conn.execute(select(func.count()).where(queue_t.c.state == "queued")).scalar_one())

    def claim(self, run_id: int, owner: str) -> bool:
        """queued -> running for this owner; False if someone else got it (or it is gone)."""
        with self._conn(write=True) as conn:
            return bool(
                conn.execute(
                    update(queue_t)
                    .where(queue_t.c.run_id == run_id, queue_t.c.state == "queued")
                    .values(state="running", claimed_by=owner, claimed_at=utc_now())
                ).rowcount
                == 1
            )

    def finish_entry(self, run_id: int) -> None:
        with self._conn(write=True) as conn:
            conn.execute(update(queue_t).where(queue_t.c.run_id == run_id).values(state="done"))

    def request_cancel(self, run_id: int) -> None:
        with self._conn(write=True) as conn:
            conn.execute(update(queue_t).where(queue_t.c.run_id == run_id).values(cancel_requested=True))

    def cancel_queued(self, run_id: int, reason: str) -> bool:
        """End a run that has not started: queue entry done, run completed ``cancelled``.
        False if it had already been claimed (then cancel it through its executor)."""
        with self.store.batch():
            with self._conn(write=True) as conn:
                taken = conn.execute(
                    update(queue_t)
                    .where(queue_t.c.run_id == run_id, queue_t.c.state == "queued")
                    .values(state="done", cancel_requested=True)
                ).rowcount
            if taken != 1:
                return False
            self.store.update_run(run_id, Status.COMPLETED, conclusion=Conclusion.CANCELLED, error=reason)
        return True

    def interrupted(self, owner: str | None = None) -> list[QueueEntry]:
        """Entries left ``running`` (by ``owner``, or anyone): their server died mid-run."""
        query = select(queue_t).where(queue_t.c.state == "running").order_by(queue_t.c.run_id)
        if owner is not None:
            query = query.where(queue_t.c.claimed_by == owner)
        with self._conn(write=False) as conn:
            rows = conn.execute(query).all()
        return [_entry(r) for r in rows]

    def fail_interrupted_run(self, run_id: int, reason: str) -> list[int]:
        """End an interrupted run: unfinished jobs/steps conclude ``failure`` (started) or
        ``cancelled`` (never started), the run ``failure`` with ``reason``, its pending
        approvals ``cancelled``, its queue entry ``done``. Returns the ids of jobs that
        were running (each gets the reason in its log from the caller)."""
        now = utc_now()
        done = Status.COMPLETED.value
        with self.store.batch(), self._conn(write=True) as conn:
            started_jobs = list(
                conn.execute(
                    select(jobs.c.id).where(
                        jobs.c.run_id == run_id, jobs.c.status.in_((Status.IN_PROGRESS.value, Status.WAITING.value))
                    )
                ).scalars()
            )
            job_ids = select(jobs.c.id).where(jobs.c.run_id == run_id).scalar_subquery()
            for table, scope in ((steps, steps.c.job_id.in_(job_ids)), (jobs, jobs.c.run_id == run_id)):
                for was_started, conclusion in ((True, Conclusion.FAILURE), (False, Conclusion.CANCELLED)):
                    started = table.c.status.in_((Status.IN_PROGRESS.value, Status.WAITING.value))
                    values: dict[str, Any] = {"status": done, "conclusion": conclusion.value, "finished_at": now}
                    if table is steps:
                        values["outcome"] = conclusion.value
                    conn.execute(
                        update(table)
                        .where(scope, table.c.status != done, started if was_started else ~started)
                        .values(**values)
                    )
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status != done)
                .values(status=done, conclusion=Conclusion.FAILURE.value, finished_at=now, error=reason)
            )
            conn.execute(
                update(approvals_t)
                .where(approvals_t.c.run_id == run_id, approvals_t.c.state == "pending")
                .values(state="cancelled", decided_at=now, comment=reason)
            )
            conn.execute(update(queue_t).where(queue_t.c.run_id == run_id).values(state="done"))
        return started_jobs

    def list_runs(
        self,
        *,
        repo_id: int | None = None,
        workflow: str | None = None,
        status: str | None = None,
        conclusion: str | None = None,
        event: str | None = None,
        ref: str | None = None,
        sha: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[tuple[RunRecord, int | None, str | None]]:
        """Server runs, newest first, with their latest attempt's jobs and steps: ``(run, repo_id, actor)``."""
        from pheme.storage._store import _job, _run, _step, latest_attempt_jobs, run_filters

        query = (
            select(runs, queue_t.c.repo_id.label("q_repo_id"), queue_t.c.actor.label("q_actor"))
            .select_from(runs.outerjoin(queue_t, queue_t.c.run_id == runs.c.id))
            .order_by(runs.c.id.desc())
            .limit(max(0, limit))
        )
        if repo_id is not None:
            query = query.where(queue_t.c.repo_id == repo_id)
        query = query.where(
            *run_filters(workflow, status=status, conclusion=conclusion, event=event, ref=ref, sha=sha)
        )
        if before_id is not None:
            query = query.where(runs.c.id < before_id)
        with self._conn(write=False) as conn:
            rows = conn.execute(query).all()
            ids = [r.id for r in rows]
            job_rows = list(conn.execute(latest_attempt_jobs(ids))) if ids else []
            job_ids = [j.id for j in job_rows]
            step_rows = (
                list(conn.execute(select(steps).where(steps.c.job_id.in_(job_ids)).order_by(steps.c.job_id, steps.c.number)))
                if job_ids
                else []
            )
        by_job: dict[int, list[Any]] = {}
        for s in step_rows:
            by_job.setdefault(s.job_id, []).append(_step(s))
        by_run: dict[int, list[Any]] = {}
        for j in job_rows:
            by_run.setdefault(j.run_id, []).append(_job(j, tuple(by_job.get(j.id, ()))))
        return [(_run(r, tuple(by_run.get(r.id, ()))), r.q_repo_id, r.q_actor) for r in rows]

    def run_context(self, run_id: int) -> tuple[int | None, str | None]:
        """``(repo_id, actor)`` of a server run, ``(None, None)`` for a ``pheme run`` one."""
        with self._conn(write=False) as conn:
            row = conn.execute(select(queue_t.c.repo_id, queue_t.c.actor).where(queue_t.c.run_id == run_id)).first()
        return (None, None) if row is None else (row.repo_id, row.actor)

    def run_ids_in_states(self, statuses: Sequence[str]) -> list[int]:
        with self._conn(write=False) as conn:
            return list(conn.execute(select(runs.c.id).where(runs.c.status.in_(statuses))).scalars())

    # ------------------------------------------------------------ environments
    #
    # ``repo_id`` None means the server-wide defaults throughout.

    def put_environment(
        self, name: str, rules: EnvironmentRules, url: str | None = None, *, repo_id: int | None = None
    ) -> EnvironmentRecord:
        """Create or replace the environment ``name`` of a repository (or the default)."""
        now = utc_now()
        values = {"rules": rules.to_json(), "url": url, "updated_at": now}
        try:
            with self._conn(write=True) as conn:
                changed = conn.execute(update(environments_t).where(_env_where(repo_id, name)).values(**values)).rowcount
                if changed == 0:
                    conn.execute(insert(environments_t).values(repo_id=repo_id, name=name, **values))
        except Exception as exc:
            if repo_id is not None and not self._repo_exists(repo_id):  # the foreign key refused it
                raise NotFoundError(f"repository {repo_id} not found") from None
            if not _is_integrity(exc):
                raise
            # Another writer created it between our update and insert: update theirs (last write wins).
            with self._conn(write=True) as conn:
                conn.execute(update(environments_t).where(_env_where(repo_id, name)).values(**values))
        return self.get_environment(name, repo_id=repo_id)

    def get_environment(self, name: str, *, repo_id: int | None = None) -> EnvironmentRecord:
        """Exactly this repository's environment (or the default): no fallback."""
        with self._conn(write=False) as conn:
            row = conn.execute(_environments_query().where(_env_where(repo_id, name))).first()
            if row is None:
                where = ""
                if repo_id is not None:
                    repo = conn.execute(select(repos_t.c.name).where(repos_t.c.id == repo_id)).scalar()
                    where = f" in {repo or f'repository {repo_id}'}"
                raise NotFoundError(f"environment {name} not found{where}")
            values = conn.execute(_values_query().where(values_t.c.scope == value_scope(repo_id, name))).all()
        return _environment(row, values)

    def find_environment(self, repo_id: int | None, name: str) -> EnvironmentRecord | None:
        """The environment a job of repository ``repo_id`` deploying to ``name`` gets:
        the repository's own, else the server-wide default of that name, else None."""
        query = (
            _environments_query()
            .where(environments_t.c.name == name)
            .where(or_(environments_t.c.repo_id.is_(None), environments_t.c.repo_id == repo_id)
                   if repo_id is not None else environments_t.c.repo_id.is_(None))
            .order_by(environments_t.c.repo_id.is_(None))  # the repository's own first
            .limit(1)
        )  # fmt: skip
        with self._conn(write=False) as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            values = conn.execute(_values_query().where(values_t.c.scope == value_scope(row.repo_id, name))).all()
        return _environment(row, values)

    def list_environments(self, repo_id: int | None = None, *, all_repos: bool = False) -> list[EnvironmentRecord]:
        """A repository's environments (``repo_id``), the defaults (None), or with
        ``all_repos`` every environment: defaults first, then by repository and name."""
        query = _environments_query()
        values = _values_query().add_columns(values_t.c.scope)
        if all_repos:
            values = values.where(or_(values_t.c.scope.startswith("env:"), values_t.c.scope.like("repo:%:env:%")))
        elif repo_id is None:
            query = query.where(environments_t.c.repo_id.is_(None))
            values = values.where(values_t.c.scope.startswith("env:"))
        else:
            query = query.where(environments_t.c.repo_id == repo_id)
            values = values.where(values_t.c.scope.startswith(f"repo:{repo_id}:env:", autoescape=True))
        query = query.order_by(environments_t.c.repo_id.is_not(None), repos_t.c.name, environments_t.c.name)
        with self._conn(write=False) as conn:
            rows = conn.execute(query).all()
            found = conn.execute(values).all()
        by_scope: dict[str, list[Any]] = {}
        for v in found:
            by_scope.setdefault(v.scope, []).append(v)
        return [_environment(r, by_scope.get(value_scope(r.repo_id, r.name), [])) for r in rows]

    def delete_environment(self, name: str, *, repo_id: int | None = None) -> None:
        """Remove an environment with its secrets and variables."""
        with self._conn(write=True) as conn:
            if conn.execute(delete(environments_t).where(_env_where(repo_id, name))).rowcount != 1:
                where = ""
                if repo_id is not None:
                    repo = conn.execute(select(repos_t.c.name).where(repos_t.c.id == repo_id)).scalar()
                    where = f" in {repo or f'repository {repo_id}'}"
                raise NotFoundError(f"environment {name} not found{where}")
            conn.execute(delete(values_t).where(values_t.c.scope == value_scope(repo_id, name)))

    def _repo_exists(self, repo_id: int) -> bool:
        with self._conn(write=False) as conn:
            return conn.execute(select(repos_t.c.id).where(repos_t.c.id == repo_id)).first() is not None

    # ------------------------------------------------------ secrets, variables

    def put_value(self, kind: str, scope: str, name: str, value: bytes) -> None:
        now = utc_now()
        with self._conn(write=True) as conn:
            where = and_(values_t.c.kind == kind, values_t.c.scope == scope, values_t.c.name == name)
            if conn.execute(update(values_t).where(where).values(value=value, updated_at=now)).rowcount == 0:
                conn.execute(insert(values_t).values(kind=kind, scope=scope, name=name, value=value, updated_at=now))

    def delete_value(self, kind: str, scope: str, name: str) -> None:
        with self._conn(write=True) as conn:
            where = and_(values_t.c.kind == kind, values_t.c.scope == scope, values_t.c.name == name)
            if conn.execute(delete(values_t).where(where)).rowcount != 1:
                raise NotFoundError(f"{kind} {name} not found")

    def values(self, kind: str, scope: str) -> dict[str, bytes]:
        """name -> stored bytes (encrypted for secrets, UTF-8 for variables)."""
        with self._conn(write=False) as conn:
            rows = conn.execute(
                select(values_t.c.name, values_t.c.value).where(values_t.c.kind == kind, values_t.c.scope == scope)
            ).all()
        return {r.name: bytes(r.value) for r in rows}

    # --------------------------------------------------------------- approvals

    def add_approval(self, run_id: int, job_key: str, job_name: str, environment: str, actor: str) -> ApprovalRecord:
        now = utc_now()
        with self._conn(write=True) as conn:
            approval_id = conn.execute(
                insert(approvals_t)
                .values(run_id=run_id, job_key=job_key, job_name=job_name, environment=environment,
                        state="pending", actor=actor, requested_at=now)
                .returning(approvals_t.c.id)
            ).scalar_one()
        return self.get_approval(approval_id)

    def decide_approval(
        self, approval_id: int, state: str, by: str | None, comment: str | None
    ) -> ApprovalRecord | None:
        """pending -> ``state``; None if it was not pending any more (someone decided first)."""
        now = utc_now()
        with self._conn(write=True) as conn:
            changed = conn.execute(
                update(approvals_t)
                .where(approvals_t.c.id == approval_id, approvals_t.c.state == "pending")
                .values(state=state, decided_at=now, decided_by=by, comment=comment)
            ).rowcount
        return self.get_approval(approval_id) if changed == 1 else None

    def get_approval(self, approval_id: int) -> ApprovalRecord:
        with self._conn(write=False) as conn:
            row = conn.execute(_approvals_query().where(approvals_t.c.id == approval_id)).first()
        if row is None:
            raise NotFoundError(f"approval {approval_id} not found")
        return _approval(row)

    def list_approvals(self, *, state: str | None = None, run_id: int | None = None, limit: int = 200) -> list[ApprovalRecord]:
        query = _approvals_query().order_by(approvals_t.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(approvals_t.c.state == state)
        if run_id is not None:
            query = query.where(approvals_t.c.run_id == run_id)
        with self._conn(write=False) as conn:
            rows = conn.execute(query).all()
        return [_approval(r) for r in rows]

    def cancel_pending_approvals(self, reason: str) -> int:
        with self._conn(write=True) as conn:
            return int(
                conn.execute(
                    update(approvals_t)
                    .where(approvals_t.c.state == "pending")
                    .values(state="cancelled", decided_at=utc_now(), comment=reason)
                ).rowcount
            )

    # --------------------------------------------------------------- audit log

    def audit(self, actor: str, action: str, target: str, detail: Mapping[str, Any] | None = None) -> AuditRecord:
        now = utc_now()
        with self._conn(write=True) as conn:
            audit_id = conn.execute(
                insert(audit_t)
                .values(at=now, actor=actor, action=action, target=target, detail=dict(detail or {}))
                .returning(audit_t.c.id)
            ).scalar_one()
        return AuditRecord(audit_id, now, actor, action, target, dict(detail or {}))

    def list_audit(self, *, before_id: int | None = None, limit: int = 100, action: str | None = None) -> list[AuditRecord]:
        query = select(audit_t).order_by(audit_t.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(audit_t.c.id < before_id)
        if action is not None:
            query = query.where(audit_t.c.action == action)
        with self._conn(write=False) as conn:
            rows = conn.execute(query).all()
        return [AuditRecord(r.id, r.at, r.actor, r.action, r.target, r.detail or {}) for r in rows]


# ------------------------------------------------------------------ queries


def _env_where(repo_id: int | None, name: str) -> Any:
    same_repo = environments_t.c.repo_id.is_(None) if repo_id is None else environments_t.c.repo_id == repo_id
    return and_(same_repo, environments_t.c.name == name)


def _environments_query() -> Any:
    """Environments with their repository's name (None for the defaults)."""
    return select(environments_t, repos_t.c.name.label("repository")).select_from(
        environments_t.outerjoin(repos_t, repos_t.c.id == environments_t.c.repo_id)
    )


def _values_query() -> Any:
    return select(values_t.c.kind, values_t.c.name, values_t.c.value).order_by(values_t.c.name)


def _approvals_query() -> Any:
    """Approvals with their run's repository (through the run's queue entry)."""
    return select(
        approvals_t, queue_t.c.repo_id.label("repo_id"), repos_t.c.name.label("repository")
    ).select_from(
        approvals_t.outerjoin(queue_t, queue_t.c.run_id == approvals_t.c.run_id).outerjoin(
            repos_t, repos_t.c.id == queue_t.c.repo_id
        )
    )


# ------------------------------------------------------------------ row → record


def _is_integrity(exc: BaseException) -> bool:
    """Unique violations arrive as IntegrityError, or already translated to StorageError."""
    if isinstance(exc, IntegrityError):
        return True
    text = str(exc).lower()
    return "unique" in text or "duplicate key" in text


def _repo(row: Any) -> RepoRecord:
    return RepoRecord(row.id, row.name, row.source, row.webhook_secret is not None, row.github_token_env, row.created_at)


def _token(row: Any) -> TokenRecord:
    return TokenRecord(row.id, row.name, Role[row.role.upper()], row.created_at, row.last_used_at, row.revoked_at is not None)


def _entry(row: Any) -> QueueEntry:
    return QueueEntry(
        run_id=row.run_id,
        repo_id=row.repo_id,
        state=row.state,
        actor=row.actor,
        jobs=tuple(row.jobs) if row.jobs is not None else None,
        payload=row.payload or {},
        concurrency_group=row.concurrency_group,
        cancel_in_progress=bool(row.cancel_in_progress),
        cancel_requested=bool(row.cancel_requested),
        enqueued_at=row.enqueued_at,
        claimed_by=row.claimed_by,
    )


def _environment(row: Any, values: Sequence[Any]) -> EnvironmentRecord:
    return EnvironmentRecord(
        id=row.id,
        name=row.name,
        rules=EnvironmentRules.from_json(row.rules or {}),
        url=row.url,
        secret_names=tuple(v.name for v in values if v.kind == "secret"),
        variables={v.name: bytes(v.value).decode("utf-8") for v in values if v.kind == "variable"},
        repo_id=row.repo_id,
        repository=row.repository,
    )


def _approval(row: Any) -> ApprovalRecord:
    return ApprovalRecord(
        id=row.id,
        run_id=row.run_id,
        job_key=row.job_key,
        job_name=row.job_name,
        environment=row.environment,
        state=row.state,
        actor=row.actor,
        requested_at=row.requested_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        comment=row.comment,
        repo_id=row.repo_id,
        repository=row.repository,
    )
