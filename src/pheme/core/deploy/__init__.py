"""Deployments, the pure part: the deploy file's model, rollout strategies, records.

    parse_deploy(text, path) -> DeployConfig        # raises WorkflowError (file:line:col problems)
    validate_deploy(text, path) -> (DeployConfig | None, [Problem])
    plan(Rollout(...)) -> Flow                      # a strategy: Generator[Action, ActionResult, Outcome]
    abort(rollout), rollback(service, current, to, warm=...)

Strategies yield the actions of :mod:`pheme.core.deploy.actions`; the I/O
(executor, targets, routers, the local agent) is in :mod:`pheme.deploy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pheme.core.deploy.actions import (
    Action,
    ActionResult,
    Outcome,
    Pause,
    Release,
    RunAnalysis,
    RunCheck,
    ScaleVersion,
    SetTraffic,
    StartVersion,
    StopVersion,
    WaitReady,
    describe,
)
from pheme.core.deploy.model import DeployConfig, EnvironmentSpec, ServiceSpec, canonical_strategy
from pheme.core.deploy.records import DeploymentRecord, DeployStepRecord
from pheme.core.deploy.strategies import Flow, Rollout, abort, plan, rollback

if TYPE_CHECKING:
    from pheme.core.deploy._load import parse_deploy, validate_deploy

__all__ = [
    "Action",
    "ActionResult",
    "DeployConfig",
    "DeployStepRecord",
    "DeploymentRecord",
    "EnvironmentSpec",
    "Flow",
    "Outcome",
    "Pause",
    "Release",
    "Rollout",
    "RunAnalysis",
    "RunCheck",
    "ScaleVersion",
    "ServiceSpec",
    "SetTraffic",
    "StartVersion",
    "StopVersion",
    "WaitReady",
    "abort",
    "canonical_strategy",
    "describe",
    "parse_deploy",
    "plan",
    "rollback",
    "validate_deploy",
]


def __getattr__(name: str) -> Any:
    # The loader pulls in the YAML reader (a quarter of a second): only when a file is read,
    # so `pheme rollback`, which reads none, starts fast.
    if name in ("parse_deploy", "validate_deploy"):
        from pheme.core.deploy import _load

        return getattr(_load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
