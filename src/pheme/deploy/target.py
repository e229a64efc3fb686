"""The Target interface: where the versions of one service in one environment run.

A strategy (:mod:`pheme.core.deploy.strategies`) decides *what* happens; the
executor (:mod:`pheme.deploy.executor`) turns each action into one call on a
:class:`Target`, which is the only place that touches processes, proxies or a
cluster. One ``Target`` object serves one (service, environment) pair and is
created by the factory registered for its kind in :data:`TARGET_FACTORIES`.

How the actions map onto a target::

    StartVersion(rev, version, n, role)  -> await target.start(rev, version, n, role)
    ScaleVersion(rev, n)                 -> await target.scale(rev, n)
    WaitReady(rev, n, timeout)           -> await target.wait_ready(rev, n, timeout)
    SetTraffic({rev: percent})           -> await target.set_traffic(weights)
    StopVersion(rev, delay)              -> await target.stop(rev, delay)
    RunCheck(rev, http check)            -> GET target.revision_url(rev) + path   (by the executor)
    RunCheck(rev, command), RunAnalysis  -> run by the executor, not the target
    Pause                                -> handled by the executor

Every method raises :class:`pheme.errors.DeployError` with ONE line a user can
act on ("nginx -t refused the configuration: ...", "cluster unreachable: ...");
the executor records it as the step's failure and hands it to the strategy.

Contract each target must keep (tests in ``tests/deploy`` check the local one):

* ``revision`` is an int counted per (service, environment) by Pheme. A target
  maps it to its own objects: the local target to supervised processes on
  free ports; the Kubernetes target to a Deployment per revision (labelled
  ``pheme.dev/revision``), a Service whose selector names the serving
  revision (blue-green switch = selector patch), and for split weights an
  ingress-nginx canary Ingress (``nginx.ingress.kubernetes.io/canary: "true"``
  and ``canary-weight``) in front of the second revision.
* ``role`` says what a revision is for ("stable", "preview" for a blue-green
  preview, "canary"); a target may use it for names or labels (blue/green
  colour, canary track) but must not make routing decisions from it: only
  ``set_traffic`` moves traffic.
* ``set_traffic`` must refuse (raise) a positive weight for a revision that
  has no ready replica: that backs the strategies' rule that traffic never
  goes to an unhealthy version. It returns once new requests follow the new
  weights (in-flight ones may finish where they started). An empty mapping
  means "route nothing" (the service answers 503).
* ``stop(rev, delay)`` with ``delay > 0`` returns at once and removes the
  revision later (scaleDownDelay); until then the revision stays warm and
  ``state()`` lists it with ``remove_at``. A ``start``/``set_traffic`` of that
  revision before then cancels the removal (that is how a rollback reuses it).
* ``state()`` is the truth after a restart of the agent: the executor never
  assumes that what it did before is still so.
* ``wait_ready`` probes afresh (it must not trust a stale "ready" flag) so a
  rollback re-verifies its destination.

Adding a target: write ``pheme/deploy/<kind>.py`` with a factory
``def open_target(ctx: TargetContext) -> Target`` and add one line to
:data:`TARGET_FACTORIES`. ``pheme.core.deploy._load.TARGET_KINDS`` lists the
kinds the deploy file accepts; ``TargetSpec.options`` carries the target's
own keys from ``deploy.yml`` (``namespace``, ``context``, ... for kubernetes).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pheme.core.deploy.actions import Role
from pheme.core.deploy.model import EnvironmentSpec, ServiceSpec
from pheme.errors import DeployError

__all__ = [
    "TARGET_FACTORIES",
    "RevisionState",
    "Target",
    "TargetContext",
    "TargetState",
    "open_target",
]


@dataclass(frozen=True, slots=True)
class TargetContext:
    """What a target factory gets.

    ``home`` is ``PHEME_HOME`` (a target keeps its own files under
    ``home/deploy/``). ``workdir`` is the repository checkout the deployment
    was started from (artifacts are copied from it; check commands run in
    it). ``runtime`` holds the deploy agent's shared objects (the local
    target's process supervisor and routers); other targets may ignore it.
    """

    home: Path
    workdir: Path
    service: ServiceSpec
    environment: EnvironmentSpec
    runtime: Any = None


@dataclass(frozen=True, slots=True)
class RevisionState:
    """One revision as the target sees it now."""

    revision: int
    version: str
    role: Role
    replicas: int
    ready: int
    endpoints: tuple[str, ...] = ()  # direct URLs of the replicas (local) or pod/Service names
    remove_at: float | None = None  # epoch seconds of a scheduled removal (scaleDownDelay)


@dataclass(frozen=True, slots=True)
class TargetState:
    """The service in one environment: its public URL, the traffic split, its revisions."""

    service: str
    environment: str
    kind: str
    url: str | None
    weights: Mapping[int, int] = field(default_factory=dict)
    revisions: tuple[RevisionState, ...] = ()
    router: str = ""

    def revision(self, number: int) -> RevisionState | None:
        return next((r for r in self.revisions if r.revision == number), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "environment": self.environment,
            "kind": self.kind,
            "router": self.router,
            "url": self.url,
            "weights": {str(k): v for k, v in sorted(self.weights.items())},
            "revisions": [
                {
                    "revision": r.revision,
                    "version": r.version,
                    "role": r.role,
                    "replicas": r.replicas,
                    "ready": r.ready,
                    "endpoints": list(r.endpoints),
                    "remove_at": r.remove_at,
                }
                for r in self.revisions
            ],
        }


@runtime_checkable
class Target(Protocol):
    """One service in one environment on some platform. All methods raise DeployError on failure."""

    kind: str

    async def check_reachable(self) -> None:
        """Raise if the platform cannot be reached or used (nginx missing, cluster down, ...)."""

    async def check_version(self, version: str) -> None:
        """Raise if ``version`` does not exist (no artifact, no image tag)."""

    async def start(self, revision: int, version: str, replicas: int, role: Role) -> None:
        """Create ``revision`` running ``version`` with ``replicas`` replicas, without traffic."""

    async def scale(self, revision: int, replicas: int) -> None:
        """Run exactly ``replicas`` replicas of a started revision."""

    async def wait_ready(self, revision: int, replicas: int, timeout: float) -> None:
        """Return when ``replicas`` replicas pass the health check (probed afresh); raise after ``timeout``."""

    async def set_traffic(self, weights: Mapping[int, int]) -> None:
        """Route new requests by ``weights`` (percent per revision); refuse unready revisions."""

    async def stop(self, revision: int, delay: float = 0.0) -> None:
        """Remove ``revision`` now, or after ``delay`` seconds (kept warm meanwhile)."""

    async def state(self) -> TargetState:
        """What runs now, and where the traffic goes."""

    def revision_url(self, revision: int) -> str | None:
        """A URL that reaches ``revision`` directly (its preview), for HTTP checks; None if none."""

    async def logs(self, revision: int, tail: int = 50) -> list[str]:
        """The last ``tail`` lines of the revision's output (for ``pheme rollout status``)."""

    async def close(self) -> None:
        """Release connections; running versions and routing stay as they are."""


# kind -> "module:factory". The factory takes a TargetContext and returns a Target.
TARGET_FACTORIES: dict[str, str] = {
    "local": "pheme.deploy.local:open_target",
    "kubernetes": "pheme.deploy.kubernetes:open_target",
}


def open_target(ctx: TargetContext) -> Target:
    """The target for ``ctx.environment.target.kind`` (DeployError if that kind is not available)."""
    kind = ctx.environment.target.kind
    spec = TARGET_FACTORIES.get(kind)
    if spec is None:
        raise DeployError(f"no target of kind '{kind}' (available: {', '.join(sorted(TARGET_FACTORIES))})")
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise DeployError(f"the '{kind}' target is not available in this Pheme ({module_name} missing)") from None
        raise
    factory = getattr(module, attr)
    target: Target = factory(ctx)
    return target


def weights_json(weights: Mapping[int, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in weights.items()}


def weights_from_json(raw: Mapping[str, Any]) -> dict[int, int]:
    return {int(k): int(v) for k, v in raw.items()}
