"""Analysis runs and their measurements: what was asked, what came back, and the verdict.

Two tables: ``analysis_runs`` (one per template run against one version) and
``analysis_measurements`` (append-only, one per interval). The repository
returns :mod:`pheme.core.monitoring.records` dataclasses, never rows.

JSON has no NaN or infinities (PostgreSQL's JSONB refuses them), yet "the
query returned NaN" is exactly what a user needs to see; such values are
stored as the strings ``"NaN"``, ``"+Inf"``, ``"-Inf"`` and read back as floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from pheme.core.monitoring.records import AnalysisRun
from pheme.core.monitoring.verdict import Measurement, Phase, Verdict
from pheme.core.runs import utc_now
from pheme.storage._errors import NotFoundError
from pheme.storage._orm import Base, Id, Json, UTCDateTime, _in

__all__ = ["AnalysisRepo"]

VERDICTS = tuple(v.value for v in Verdict)
PHASES = tuple(p.value for p in Phase)


class AnalysisRunRow(Base):
    __tablename__ = "analysis_runs"
    __table_args__ = (
        CheckConstraint(_in("verdict", VERDICTS), name="verdict"),
        Index(None, "deployment"),
        Index(None, "service", "environment", "started_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    deployment: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(255), nullable=False)
    environment: Mapped[str] = mapped_column(String(255), nullable=False)
    version: Mapped[str] = mapped_column(String(255), nullable=False)
    revision: Mapped[int | None] = mapped_column(Integer)
    track: Mapped[str] = mapped_column(String(32), nullable=False)
    baseline_version: Mapped[str | None] = mapped_column(String(255))
    template: Mapped[str] = mapped_column(String(255), nullable=False)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AnalysisMeasurementRow(Base):
    __tablename__ = "analysis_measurements"
    __table_args__ = (
        CheckConstraint(_in("phase", PHASES), name="phase"),
        Index(None, "run_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        Id, ForeignKey("analysis_runs.id", ondelete="CASCADE"), nullable=False
    )
    metric: Mapped[str] = mapped_column(String(255), nullable=False)
    phase: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    query: Mapped[str] = mapped_column(Text, nullable=False)
    value: Mapped[Any] = mapped_column(Json, nullable=True)
    samples: Mapped[float | None] = mapped_column(Float)
    baseline: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


runs_t = cast(Table, AnalysisRunRow.__table__)
measurements_t = cast(Table, AnalysisMeasurementRow.__table__)

_SPECIAL = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _from_json_number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _SPECIAL.get(value, math.nan)
    return float(value)


def _value(value: Any) -> float | list[float] | None:
    if isinstance(value, list):
        return [x if (x := _from_json_number(v)) is not None else math.nan for v in value]
    return _from_json_number(value)


class AnalysisRepo:
    """Analysis runs and measurements on the same database (and transactions) as a run :class:`Store`."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def _conn(self, *, write: bool) -> Any:
        return self.store._conn(write=write)

    def start_run(
        self,
        *,
        service: str,
        environment: str,
        version: str,
        track: str,
        template: str,
        deployment: str | None = None,
        revision: int | None = None,
        baseline_version: str | None = None,
        at: datetime | None = None,
    ) -> AnalysisRun:
        now = at or utc_now()
        values = {
            "deployment": deployment,
            "service": service,
            "environment": environment,
            "version": version,
            "revision": revision,
            "track": track,
            "baseline_version": baseline_version,
            "template": template,
            "verdict": Verdict.RUNNING.value,
            "reason": "",
            "started_at": now,
        }
        with self._conn(write=True) as conn:
            run_id = conn.execute(insert(runs_t).values(**values).returning(runs_t.c.id)).scalar_one()
        return self.get_run(run_id)

    def add_measurement(self, run_id: int, m: Measurement) -> None:
        with self._conn(write=True) as conn:
            conn.execute(
                insert(measurements_t).values(
                    run_id=run_id,
                    metric=m.metric,
                    phase=m.phase.value,
                    reason=m.reason,
                    query=m.query,
                    value=_json_safe(m.value),
                    samples=_finite(m.samples),
                    baseline=_finite(m.baseline),
                    p_value=_finite(m.p_value),
                    raw=_json_safe(dict(m.raw)),
                    started_at=m.started_at,
                    finished_at=m.finished_at,
                )
            )

    def finish_run(
        self, run_id: int, verdict: Verdict, reason: str, *, at: datetime | None = None
    ) -> AnalysisRun:
        with self._conn(write=True) as conn:
            done = conn.execute(
                update(runs_t)
                .where(runs_t.c.id == run_id)
                .values(verdict=verdict.value, reason=reason, finished_at=at or utc_now())
            )
            if done.rowcount == 0:
                raise NotFoundError(f"analysis {run_id} not found")
        return self.get_run(run_id)

    def get_run(self, run_id: int) -> AnalysisRun:
        with self._conn(write=False) as conn:
            row = conn.execute(select(runs_t).where(runs_t.c.id == run_id)).first()
            if row is None:
                raise NotFoundError(f"analysis {run_id} not found")
            ms = conn.execute(
                select(measurements_t).where(measurements_t.c.run_id == run_id).order_by(measurements_t.c.id)
            ).all()
        return _run(row, tuple(_measurement(m) for m in ms))

    def list_runs(
        self,
        *,
        deployment: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        limit: int = 50,
        with_measurements: bool = True,
    ) -> list[AnalysisRun]:
        """Newest first."""
        q = select(runs_t)
        if deployment is not None:
            q = q.where(runs_t.c.deployment == deployment)
        if service is not None:
            q = q.where(runs_t.c.service == service)
        if environment is not None:
            q = q.where(runs_t.c.environment == environment)
        q = q.order_by(runs_t.c.id.desc()).limit(limit)
        with self._conn(write=False) as conn:
            rows = conn.execute(q).all()
            by_run: dict[int, list[Measurement]] = {r.id: [] for r in rows}
            if with_measurements and rows:
                ms = conn.execute(
                    select(measurements_t)
                    .where(measurements_t.c.run_id.in_(list(by_run)))
                    .order_by(measurements_t.c.id)
                ).all()
                for m in ms:
                    by_run[m.run_id].append(_measurement(m))
        return [_run(r, tuple(by_run[r.id])) for r in rows]

    def interrupted(self, reason: str) -> Sequence[int]:
        """Mark runs left ``running`` by a process that died as inconclusive; their ids."""
        with self._conn(write=True) as conn:
            ids = [r.id for r in conn.execute(select(runs_t.c.id).where(runs_t.c.verdict == "running")).all()]
            if ids:
                conn.execute(
                    update(runs_t)
                    .where(runs_t.c.id.in_(ids))
                    .values(verdict=Verdict.INCONCLUSIVE.value, reason=reason, finished_at=utc_now())
                )
        return ids


def _run(row: Any, measurements: tuple[Measurement, ...]) -> AnalysisRun:
    return AnalysisRun(
        id=row.id,
        service=row.service,
        environment=row.environment,
        version=row.version,
        track=row.track,
        template=row.template,
        verdict=Verdict(row.verdict),
        reason=row.reason,
        started_at=row.started_at,
        finished_at=row.finished_at,
        deployment=row.deployment,
        revision=row.revision,
        baseline_version=row.baseline_version,
        measurements=measurements,
    )


def _measurement(row: Any) -> Measurement:
    return Measurement(
        metric=row.metric,
        phase=Phase(row.phase),
        reason=row.reason,
        query=row.query,
        value=_value(row.value),
        samples=row.samples,
        baseline=row.baseline,
        p_value=row.p_value,
        raw=row.raw or {},
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
