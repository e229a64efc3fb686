"""The immutable model of ``.pheme/deploy.yml``: services, environments, strategies.

Everything here is a frozen dataclass built once by :func:`pheme.core.deploy.parse_deploy`
and shared by the planner, the executor and every target. Nothing in it knows
how a version is run: a service names both an ``image`` (container targets)
and a ``command`` (the local target) so one file serves every target.

Strategy names follow Argo Rollouts where the concept is the same
(``blueGreen.autoPromotionEnabled``, ``scaleDownDelaySeconds``, canary
``steps`` with ``setWeight``/``pause``/``analysis``), so a reader who knows
Argo recognises them; the differences are documented on each class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pheme.errors import UsageError

__all__ = [
    "STRATEGY_KINDS",
    "Analysis",
    "BlueGreen",
    "Canary",
    "CanaryStep",
    "Check",
    "DeployConfig",
    "EnvironmentSpec",
    "Health",
    "PauseStep",
    "Recreate",
    "RollingUpdate",
    "ServiceSpec",
    "SetWeight",
    "Strategy",
    "TargetSpec",
]

# The names a user writes (deploy.yml keys, --strategy, the action's `strategy` input).
STRATEGY_KINDS = ("recreate", "rollingUpdate", "blueGreen", "canary")


@dataclass(frozen=True, slots=True)
class Health:
    """An HTTP readiness check: ``GET path`` answered 2xx within ``timeout`` seconds.

    ``port`` is the container port for container targets; the local target
    always probes the port it gave the process (``{port}``).
    """

    path: str = "/health"
    port: int | None = None
    period: float = 1.0
    timeout: float = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    """A smoke test run against one revision: an HTTP request or a shell command.

    ``http``: ``GET`` the path on the revision (not through the router), pass
    on ``expect`` (default: any 2xx). ``command``: run in the repository with
    ``PHEME_URL``, ``PHEME_VERSION`` and ``PHEME_REVISION`` set, pass on exit 0.
    ``{url}`` and ``{version}`` in the command are replaced too.
    """

    name: str
    kind: Literal["http", "command"]
    target: str
    expect: int | None = None
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class Analysis:
    """An analysis step: ask the monitoring ``AnalysisRunner`` about named templates.

    Until a runner is installed, ``command`` stands in (exit 0 = pass). With
    neither templates nor a command the step is refused at load time.
    """

    templates: tuple[str, ...] = ()
    command: str | None = None
    timeout: float = 300.0


@dataclass(frozen=True, slots=True)
class Recreate:
    """Stop every old replica, then start the new version (downtime by design)."""

    kind: Literal["recreate"] = "recreate"


@dataclass(frozen=True, slots=True)
class RollingUpdate:
    """Replace replicas in batches: at most ``max_surge`` extra, ``max_unavailable`` missing.

    Both are replica counts or percentages of ``replicas`` (Kubernetes rounds
    surge up and unavailable down; so do we). They may not both be 0.
    """

    max_surge: int | str = "25%"
    max_unavailable: int | str = 0
    kind: Literal["rollingUpdate"] = "rollingUpdate"

    def resolve(self, replicas: int) -> tuple[int, int]:
        """``(surge, unavailable)`` as replica counts for ``replicas`` replicas."""
        surge = _count(self.max_surge, replicas, round_up=True)
        unavailable = _count(self.max_unavailable, replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            surge = 1  # only reachable through percentages of tiny replica counts
        return surge, min(unavailable, replicas)


@dataclass(frozen=True, slots=True)
class BlueGreen:
    """Start the new version beside the old one, check it, switch all traffic at once.

    ``pre_promotion`` checks run against the preview (the new revision, before
    it gets traffic); ``post_promotion`` ones after the switch, and a failure
    switches back to the old revision, which is why that one is kept warm for
    ``scale_down_delay`` seconds (Argo's ``scaleDownDelaySeconds``, default
    600). Without ``auto_promotion`` the rollout pauses before the switch
    until ``pheme rollout promote``.
    """

    auto_promotion: bool = True
    pre_promotion: tuple[Check, ...] = ()
    post_promotion: tuple[Check, ...] = ()
    pre_promotion_analysis: Analysis | None = None
    post_promotion_analysis: Analysis | None = None
    scale_down_delay: float = 600.0
    kind: Literal["blueGreen"] = "blueGreen"


@dataclass(frozen=True, slots=True)
class SetWeight:
    weight: int


@dataclass(frozen=True, slots=True)
class PauseStep:
    """Pause for ``duration`` seconds, or (``None``) until ``pheme rollout promote``."""

    duration: float | None = None


CanaryStep = SetWeight | PauseStep | Analysis


@dataclass(frozen=True, slots=True)
class Canary:
    """Send a growing share of traffic to the new version, step by step.

    After the last step the new version gets 100% and the old one is removed
    after ``scale_down_delay`` seconds (Argo's default for traffic-routed
    canaries is 30). An abort sends 0% to the canary at once.
    """

    steps: tuple[CanaryStep, ...] = (SetWeight(20), PauseStep(30.0), SetWeight(50), PauseStep(30.0))
    scale_down_delay: float = 30.0
    kind: Literal["canary"] = "canary"


Strategy = Recreate | RollingUpdate | BlueGreen | Canary


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One deployable service.

    ``command`` is a template for the local target (``{port}``, ``{version}``,
    ``{artifact}``, ``{release}``); ``artifact`` a path template in the
    repository (``dist/app-{version}.pyz``) whose existence says the version
    exists, and which the local target copies aside so the running version
    outlives the workspace. ``image`` (``registry/app:{version}``) is for
    container targets. ``env`` values take the same placeholders.
    """

    name: str
    image: str | None = None
    command: str | None = None
    artifact: str | None = None
    ports: tuple[int, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    health: Health = field(default_factory=Health)
    replicas: int = 1
    line: int = 0
    col: int = 0


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """Where an environment runs: ``local`` or another registered kind (``kubernetes``).

    ``options`` keeps every other key of the ``target:`` mapping as written,
    for the target to interpret (the local target reads ``router`` and
    ``port``; the kubernetes target reads its own).
    """

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def router(self) -> str:
        return str(self.options.get("router", "builtin"))

    @property
    def port(self) -> int:
        return int(self.options.get("port", 0))


@dataclass(frozen=True, slots=True)
class EnvironmentSpec:
    """An environment: its target, its strategies (the first is the default), its deadline.

    ``progress_deadline`` (Argo's ``progressDeadlineSeconds``) bounds how long a
    new revision may take to become ready before the deployment fails.
    """

    name: str
    target: TargetSpec
    strategies: tuple[Strategy, ...] = (BlueGreen(),)
    progress_deadline: float = 600.0
    line: int = 0
    col: int = 0

    @property
    def strategy(self) -> Strategy:
        return self.strategies[0]

    def pick_strategy(self, name: str | None) -> Strategy:
        """The named strategy (this environment's settings for it, else defaults)."""
        if not name:
            return self.strategy
        kind = _canonical_kind(name)
        for s in self.strategies:
            if s.kind == kind:
                return s
        defaults: dict[str, Strategy] = {
            "recreate": Recreate(),
            "rollingUpdate": RollingUpdate(),
            "blueGreen": BlueGreen(),
            "canary": Canary(),
        }
        return defaults[kind]


@dataclass(frozen=True, slots=True)
class DeployConfig:
    path: str
    services: Mapping[str, ServiceSpec]
    environments: Mapping[str, EnvironmentSpec]

    def service(self, name: str) -> ServiceSpec:
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services)) or "none"
            raise UsageError(f"unknown service '{name}' (services in {self.path}: {known})") from None

    def environment(self, name: str) -> EnvironmentSpec:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise UsageError(f"unknown environment '{name}' (environments in {self.path}: {known})") from None


_KIND_ALIASES = {
    "recreate": "recreate",
    "rolling": "rollingUpdate",
    "rollingupdate": "rollingUpdate",
    "rolling-update": "rollingUpdate",
    "bluegreen": "blueGreen",
    "blue-green": "blueGreen",
    "blue_green": "blueGreen",
    "canary": "canary",
}


def _canonical_kind(name: str) -> str:
    kind = _KIND_ALIASES.get(name.strip().lower())
    if kind is None:
        raise UsageError(f"unknown strategy '{name}' (use one of: recreate, rolling, blue-green, canary)")
    return kind


def canonical_strategy(name: str) -> str:
    """``blue-green``/``bluegreen``/``blueGreen`` → ``blueGreen`` (UsageError if unknown)."""
    return _canonical_kind(name)


def _count(value: int | str, replicas: int, *, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    pct = int(value.rstrip("%"))
    scaled = pct * replicas
    return -(-scaled // 100) if round_up else scaled // 100
