"""``.pheme/deploy.yml`` text → :class:`~pheme.core.deploy.model.DeployConfig`, with every problem.

Read with the positions-keeping YAML reader (:mod:`pheme.core.yamlpos`), so a
problem points at ``file:line:col`` like a workflow problem does. Checking is
strict (an unknown key is an error naming the valid ones): a typo such as
``scaleDownDelay`` silently ignored would keep a broken version warm for the
default 10 minutes, or not at all.

The file's shape::

    services:
      api:
        command: python3 {artifact}          # local target; {port} {version} {artifact} {release}
        artifact: dist/pheme-api-{version}.pyz
        image: registry.example/api:{version}  # container targets
        ports: [8000]
        env: {APP_VERSION: "{version}"}
        health: {path: /health, periodSeconds: 1, timeoutSeconds: 2}   # or just: /health
        replicas: 2
    environments:
      staging:
        target: local                        # or {kind: local, router: nginx, port: 8080}
        strategy: blueGreen                  # or a mapping of one or more strategies (first = default)
        progressDeadlineSeconds: 120
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pheme.core.deploy.model import (
    Analysis,
    BlueGreen,
    Canary,
    CanaryStep,
    Check,
    DeployConfig,
    EnvironmentSpec,
    Health,
    PauseStep,
    Recreate,
    RollingUpdate,
    ServiceSpec,
    SetWeight,
    Strategy,
    TargetSpec,
)
from pheme.core.yamlpos import (
    BOOL,
    FLOAT,
    INT,
    KIND_NAMES,
    MAP,
    NULL,
    SEQ,
    STR,
    Node,
    YamlError,
    compose,
    to_string,
)
from pheme.errors import Problem, WorkflowError

__all__ = ["parse_deploy", "validate_deploy"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?\Z")
_PERCENT = re.compile(r"(\d{1,3})%\Z")
_PLACEHOLDERS = frozenset(("port", "version", "artifact", "release", "revision", "service"))
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

# The one place target kinds are known to the pure core: others are refused with a clear message.
TARGET_KINDS = ("local", "kubernetes")
LOCAL_ROUTERS = ("builtin", "nginx")
KUBERNETES_KEYS = ("namespace", "context", "kubeconfig", "service", "image", "containerPort", "ingress", "manifest", "revisionUrl")
KUBERNETES_INGRESS_KEYS = ("host", "class", "path")


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def err(self, node: Node, message: str) -> None:
        self.problems.append(Problem(self.path, node.line, node.col, message))

    # ---------------------------------------------------------------- helpers

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[Node, Node]]:
        """The pairs of a mapping, keyed by name; unknown or repeated keys are problems."""
        if node.kind != MAP:
            self.err(node, f"{what} must be a mapping, not {KIND_NAMES[node.kind]}")
            return {}
        out: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            name = to_string(key)
            if allowed and name not in allowed:
                self.err(key, f"unknown key '{name}' in {what} (expected one of: {', '.join(allowed)})")
                continue
            if name in out:
                self.err(key, f"'{name}' is repeated in {what}")
                continue
            out[name] = (key, value)
        return out

    def string(self, node: Node, what: str) -> str | None:
        if node.kind in (MAP, SEQ, NULL):
            self.err(node, f"{what} must be a string, not {KIND_NAMES[node.kind]}")
            return None
        return to_string(node)

    def integer(self, node: Node, what: str, *, low: int = 0, high: int | None = None) -> int | None:
        if node.kind != INT:
            self.err(node, f"{what} must be a whole number, not {KIND_NAMES[node.kind]}")
            return None
        value = int(node.value)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.err(node, f"{what} must be {bound}, not {value}")
            return None
        return value

    def boolean(self, node: Node, what: str) -> bool | None:
        if node.kind != BOOL:
            self.err(node, f"{what} must be true or false, not {KIND_NAMES[node.kind]}")
            return None
        return bool(node.value)

    def seconds(self, node: Node, what: str) -> float | None:
        """A duration: a number of seconds or ``1h2m3s`` / ``500ms`` (Argo's pause syntax)."""
        if node.kind in (INT, FLOAT) and node.value >= 0:
            return float(node.value)
        if node.kind == STR:
            text = str(node.value).strip()
            m = _DURATION.match(text)
            if text and m and any(m.groups()):
                h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
                return h * 3600 + mi * 60 + s + ms / 1000
        self.err(node, f"{what} must be a duration such as 30, '30s', '10m' or '1h', not '{to_string(node)}'")
        return None

    def template(self, node: Node, what: str) -> str | None:
        text = self.string(node, what)
        if text is None:
            return None
        for name in _PLACEHOLDER.findall(text):
            if name not in _PLACEHOLDERS:
                self.err(node, f"{what}: unknown placeholder '{{{name}}}' (known: {', '.join(sorted(_PLACEHOLDERS))})")
        return text

    def name(self, node: Node, what: str) -> str | None:
        text = to_string(node)
        if node.kind != STR or not _NAME.match(text):
            self.err(node, f"{what} name '{text}' is invalid: use letters, digits, '-', '_' or '.'")
            return None
        return text

    # ------------------------------------------------------------------- root

    def config(self, root: Node) -> DeployConfig | None:
        top = self.mapping(root, "the deploy file", ("services", "environments"))
        services: dict[str, ServiceSpec] = {}
        environments: dict[str, EnvironmentSpec] = {}
        if "services" not in top and root.kind == MAP:
            self.err(root, "the deploy file needs 'services'")
        if "environments" not in top and root.kind == MAP:
            self.err(root, "the deploy file needs 'environments'")
        if "services" in top:
            for key, value in self.mapping(top["services"][1], "services", ()).values():
                name = self.name(key, "service")
                svc = self.service(name or "?", key, value)
                if name and svc:
                    services[name] = svc
        if "environments" in top:
            for key, value in self.mapping(top["environments"][1], "environments", ()).values():
                name = self.name(key, "environment")
                env = self.environment(name or "?", key, value)
                if name and env:
                    environments[name] = env
        if self.problems:
            return None
        return DeployConfig(self.path, services, environments)

    # --------------------------------------------------------------- services

    def service(self, name: str, key: Node, node: Node) -> ServiceSpec | None:
        what = f"service '{name}'"
        keys = ("image", "command", "artifact", "ports", "env", "health", "replicas")
        m = self.mapping(node, what, keys)
        if node.kind != MAP:
            return None
        fields: dict[str, Any] = {}
        for field in ("image", "command", "artifact"):
            if field in m:
                fields[field] = self.template(m[field][1], f"{what} {field}")
        if "image" not in m and "command" not in m:
            self.err(key, f"{what} needs an 'image' or a 'command'")
        if "ports" in m:
            ports_node = m["ports"][1]
            items = ports_node.value if ports_node.kind == SEQ else [ports_node]
            ports = [self.integer(p, f"{what} port", low=1, high=65535) for p in items]
            fields["ports"] = tuple(p for p in ports if p is not None)
        if "env" in m:
            env: dict[str, str] = {}
            for k, v in self.mapping(m["env"][1], f"{what} env", ()).values():
                text = self.template(v, f"{what} env {to_string(k)}")
                if text is not None:
                    env[to_string(k)] = text
            fields["env"] = env
        if "health" in m:
            fields["health"] = self.health(m["health"][1], what)
        if "replicas" in m:
            fields["replicas"] = self.integer(m["replicas"][1], f"{what} replicas", low=1, high=100) or 1
        return ServiceSpec(name=name, line=key.line, col=key.col, **{k: v for k, v in fields.items() if v is not None})

    def health(self, node: Node, owner: str) -> Health | None:
        what = f"{owner} health"
        if node.kind == STR:
            path = str(node.value)
            if not path.startswith("/"):
                self.err(node, f"{what} path must start with '/'")
            return Health(path=path)
        m = self.mapping(node, what, ("path", "port", "periodSeconds", "timeoutSeconds"))
        fields: dict[str, Any] = {}
        if "path" in m:
            given = self.string(m["path"][1], f"{what} path")
            if given is not None and not given.startswith("/"):
                self.err(m["path"][1], f"{what} path must start with '/'")
            fields["path"] = given
        if "port" in m:
            fields["port"] = self.integer(m["port"][1], f"{what} port", low=1, high=65535)
        if "periodSeconds" in m:
            fields["period"] = self.seconds(m["periodSeconds"][1], f"{what} periodSeconds")
        if "timeoutSeconds" in m:
            fields["timeout"] = self.seconds(m["timeoutSeconds"][1], f"{what} timeoutSeconds")
        return Health(**{k: v for k, v in fields.items() if v is not None})

    # ----------------------------------------------------------- environments

    def environment(self, name: str, key: Node, node: Node) -> EnvironmentSpec | None:
        what = f"environment '{name}'"
        m = self.mapping(node, what, ("target", "strategy", "progressDeadlineSeconds"))
        if node.kind != MAP:
            return None
        target = self.target(m["target"][1], what) if "target" in m else None
        if "target" not in m:
            self.err(key, f"{what} needs a 'target' (local or kubernetes)")
        strategies: tuple[Strategy, ...] = (BlueGreen(),)
        if "strategy" in m:
            strategies = self.strategies(m["strategy"][1], what) or strategies
        deadline = 600.0
        if "progressDeadlineSeconds" in m:
            deadline = self.seconds(m["progressDeadlineSeconds"][1], f"{what} progressDeadlineSeconds") or deadline
        if target is None:
            return None
        return EnvironmentSpec(name, target, strategies, deadline, key.line, key.col)

    def target(self, node: Node, owner: str) -> TargetSpec | None:
        what = f"{owner} target"
        if node.kind == STR:
            kind_node, options_nodes = node, {}
        elif node.kind == MAP:
            options_nodes = self.mapping(node, what, ())
            if "kind" not in options_nodes:
                self.err(node, f"{what} needs a 'kind' ({' or '.join(TARGET_KINDS)})")
                return None
            kind_node = options_nodes.pop("kind")[1]
        else:
            self.err(node, f"{what} must be a target kind ({' or '.join(TARGET_KINDS)}) or a mapping with 'kind'")
            return None
        kind = to_string(kind_node)
        if kind not in TARGET_KINDS:
            self.err(kind_node, f"unknown target kind '{kind}' in {owner} (expected one of: {', '.join(TARGET_KINDS)})")
            return None
        options = {k: v.to_python() for k, (_, v) in options_nodes.items()}
        if kind == "local":
            for k, (knode, v) in options_nodes.items():
                if k == "router":
                    if to_string(v) not in LOCAL_ROUTERS:
                        self.err(v, f"{what} router must be one of: {', '.join(LOCAL_ROUTERS)}")
                elif k == "port":
                    self.integer(v, f"{what} port", low=0, high=65535)
                elif k == "host":
                    self.string(v, f"{what} host")
                else:
                    self.err(knode, f"unknown key '{k}' in {what} (expected one of: kind, router, port, host)")
        elif kind == "kubernetes":
            self.kubernetes(options_nodes, what)
        return TargetSpec(kind, options)

    def kubernetes(self, options: dict[str, tuple[Node, Node]], what: str) -> None:
        """The kubernetes target's keys (interpreted by pheme.deploy.kubernetes; checked here for file:line:col)."""
        for k, (knode, v) in options.items():
            if k == "containerPort":
                self.integer(v, f"{what} containerPort", low=1, high=65535)
            elif k == "image":
                self.template(v, f"{what} image")
            elif k == "ingress" and v.kind == MAP:
                im = self.mapping(v, f"{what} ingress", KUBERNETES_INGRESS_KEYS)
                if "host" not in im:
                    self.err(v, f"{what} ingress needs a 'host'")
                for ik, (_, iv) in im.items():
                    self.string(iv, f"{what} ingress {ik}")
            elif k in KUBERNETES_KEYS:
                self.string(v, f"{what} {k}")
            else:
                self.err(knode, f"unknown key '{k}' in {what} (expected one of: kind, {', '.join(KUBERNETES_KEYS)})")

    # ------------------------------------------------------------- strategies

    def strategies(self, node: Node, owner: str) -> tuple[Strategy, ...] | None:
        what = f"{owner} strategy"
        builders: dict[str, Callable[[Node, str], Strategy | None]] = {
            "recreate": self.recreate,
            "rollingUpdate": self.rolling,
            "blueGreen": self.blue_green,
            "canary": self.canary,
        }
        if node.kind == STR:
            kind = str(node.value)
            if kind not in builders:
                self.err(node, f"unknown {what} '{kind}' (expected one of: {', '.join(builders)})")
                return None
            empty = Node(MAP, [], node.line, node.col)
            built = builders[kind](empty, what)
            return (built,) if built else None
        m = self.mapping(node, what, tuple(builders))
        if node.kind == MAP and not m and not self.problems:
            self.err(node, f"{what} must name one of: {', '.join(builders)}")
        out: list[Strategy] = []
        for kind, (_, value) in m.items():
            built = builders[kind](value, f"{what} {kind}")
            if built:
                out.append(built)
        return tuple(out) or None

    def _settings(self, node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[Node, Node]]:
        if node.kind == NULL:
            return {}
        return self.mapping(node, what, allowed)

    def recreate(self, node: Node, what: str) -> Strategy | None:
        self._settings(node, what, ())
        return Recreate()

    def rolling(self, node: Node, what: str) -> Strategy | None:
        m = self._settings(node, what, ("maxSurge", "maxUnavailable"))
        values: dict[str, int | str] = {}
        for key, field in (("maxSurge", "max_surge"), ("maxUnavailable", "max_unavailable")):
            if key in m:
                v = m[key][1]
                if v.kind == INT and v.value >= 0:
                    values[field] = int(v.value)
                elif v.kind == STR and _PERCENT.match(str(v.value)) and int(str(v.value)[:-1]) <= 100:
                    values[field] = str(v.value)
                else:
                    self.err(v, f"{what} {key} must be a replica count or a percentage such as '25%'")
        strategy = RollingUpdate(**values)  # type: ignore[arg-type]
        if strategy.max_surge in (0, "0%") and strategy.max_unavailable in (0, "0%"):
            self.err(node, f"{what}: maxSurge and maxUnavailable cannot both be 0")
        return strategy

    def checks(self, node: Node, what: str) -> tuple[Check, ...]:
        if node.kind != SEQ:
            self.err(node, f"{what} must be a sequence of checks")
            return ()
        out: list[Check] = []
        for i, item in enumerate(node.value, 1):
            m = self.mapping(item, f"{what} item {i}", ("name", "http", "run", "expect", "timeoutSeconds"))
            if item.kind != MAP:
                continue
            if ("http" in m) == ("run" in m):
                self.err(item, f"{what} item {i} needs exactly one of 'http' (a path) or 'run' (a command)")
                continue
            kind = "http" if "http" in m else "command"
            target = self.string(m["http" if kind == "http" else "run"][1], f"{what} item {i}") or ""
            if kind == "http" and not target.startswith("/"):
                self.err(m["http"][1], f"{what} item {i}: the http path must start with '/'")
            expect = self.integer(m["expect"][1], f"{what} item {i} expect", low=100, high=599) if "expect" in m else None
            timeout = self.seconds(m["timeoutSeconds"][1], f"{what} item {i} timeoutSeconds") if "timeoutSeconds" in m else None
            name = self.string(m["name"][1], f"{what} item {i} name") if "name" in m else None
            out.append(Check(name or f"{kind} {target}", kind, target, expect, timeout or 30.0))  # type: ignore[arg-type]
        return tuple(out)

    def analysis(self, node: Node, what: str) -> Analysis | None:
        m = self.mapping(node, what, ("templates", "run", "timeoutSeconds"))
        if node.kind != MAP:
            return None
        templates: list[str] = []
        if "templates" in m:
            tnode = m["templates"][1]
            items = tnode.value if tnode.kind == SEQ else [tnode]
            for t in items:
                if t.kind == MAP:  # Argo's form: {templateName: success-rate}
                    tm = self.mapping(t, f"{what} template", ("templateName",))
                    if "templateName" in tm:
                        name = self.string(tm["templateName"][1], f"{what} templateName")
                        if name:
                            templates.append(name)
                else:
                    name = self.string(t, f"{what} template")
                    if name:
                        templates.append(name)
        command = self.string(m["run"][1], f"{what} run") if "run" in m else None
        if not templates and not command:
            self.err(node, f"{what} needs 'templates' (monitoring analysis) or 'run' (a command, exit 0 = pass)")
            return None
        timeout = self.seconds(m["timeoutSeconds"][1], f"{what} timeoutSeconds") if "timeoutSeconds" in m else None
        return Analysis(tuple(templates), command, timeout or 300.0)

    def blue_green(self, node: Node, what: str) -> Strategy | None:
        m = self._settings(
            node,
            what,
            (
                "autoPromotionEnabled",
                "prePromotionChecks",
                "postPromotionChecks",
                "prePromotionAnalysis",
                "postPromotionAnalysis",
                "scaleDownDelaySeconds",
            ),
        )
        fields: dict[str, Any] = {}
        if "autoPromotionEnabled" in m:
            fields["auto_promotion"] = self.boolean(m["autoPromotionEnabled"][1], f"{what} autoPromotionEnabled")
        if "prePromotionChecks" in m:
            fields["pre_promotion"] = self.checks(m["prePromotionChecks"][1], f"{what} prePromotionChecks")
        if "postPromotionChecks" in m:
            fields["post_promotion"] = self.checks(m["postPromotionChecks"][1], f"{what} postPromotionChecks")
        if "prePromotionAnalysis" in m:
            fields["pre_promotion_analysis"] = self.analysis(m["prePromotionAnalysis"][1], f"{what} prePromotionAnalysis")
        if "postPromotionAnalysis" in m:
            fields["post_promotion_analysis"] = self.analysis(m["postPromotionAnalysis"][1], f"{what} postPromotionAnalysis")
        if "scaleDownDelaySeconds" in m:
            fields["scale_down_delay"] = self.seconds(m["scaleDownDelaySeconds"][1], f"{what} scaleDownDelaySeconds")
        return BlueGreen(**{k: v for k, v in fields.items() if v is not None})

    def canary(self, node: Node, what: str) -> Strategy | None:
        m = self._settings(node, what, ("steps", "scaleDownDelaySeconds"))
        fields: dict[str, Any] = {}
        if "steps" in m:
            snode = m["steps"][1]
            if snode.kind != SEQ:
                self.err(snode, f"{what} steps must be a sequence")
            else:
                steps: list[CanaryStep] = []
                for i, item in enumerate(snode.value, 1):
                    step = self.canary_step(item, f"{what} step {i}")
                    if step is not None:
                        steps.append(step)
                fields["steps"] = tuple(steps)
        if "scaleDownDelaySeconds" in m:
            fields["scale_down_delay"] = self.seconds(m["scaleDownDelaySeconds"][1], f"{what} scaleDownDelaySeconds")
        return Canary(**{k: v for k, v in fields.items() if v is not None})

    def canary_step(self, node: Node, what: str) -> CanaryStep | None:
        m = self.mapping(node, what, ("setWeight", "pause", "analysis"))
        if node.kind != MAP:
            return None
        if len(m) != 1:
            if not self.problems or m:
                self.err(node, f"{what} must have exactly one of: setWeight, pause, analysis")
            return None
        kind, (_, value) = next(iter(m.items()))
        if kind == "setWeight":
            weight = self.integer(value, f"{what} setWeight", low=0, high=100)
            return SetWeight(weight) if weight is not None else None
        if kind == "pause":
            pm = self._settings(value, f"{what} pause", ("duration",))
            if "duration" not in pm:
                return PauseStep(None)
            return PauseStep(self.seconds(pm["duration"][1], f"{what} pause duration"))
        return self.analysis(value, f"{what} analysis")


def validate_deploy(text: str, path: str) -> tuple[DeployConfig | None, list[Problem]]:
    """Every problem in the deploy file ``text`` (shown as ``path``), and the model if there are none."""
    reader = _Reader(path)
    try:
        root = compose(text)
    except YamlError as exc:
        return None, [Problem(path, exc.line or 1, exc.col or 1, exc.message)]
    if root is None:
        return None, [Problem(path, 1, 1, "the deploy file is empty: it needs 'services' and 'environments'")]
    config = reader.config(root)
    problems = sorted(reader.problems, key=lambda p: (p.line, p.col))
    return (None if problems else config), problems


def parse_deploy(text: str, path: str) -> DeployConfig:
    """The model of a valid deploy file; raises :class:`~pheme.errors.WorkflowError` listing every problem."""
    config, problems = validate_deploy(text, path)
    if config is None:
        raise WorkflowError(problems or [Problem(path, 1, 1, "invalid deploy file")])
    return config
