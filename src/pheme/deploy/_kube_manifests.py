"""What the kubernetes target sends, decided without talking to a cluster.

Everything here is plain data in, plain data out (manifests are dicts), so the
exact objects and patches can be read in one place and tested without a
server:

* :class:`KubeOptions` — the ``target:`` keys of ``.pheme/deploy.yml``;
* the manifests: a Deployment per colour (``<service>-blue`` /
  ``<service>-green``, selected by ``version: <colour>`` like the classic
  ``kubectl patch service ... {"selector":{"version":"green"}}``), a Service
  per colour (the canary Ingress's backend and a revision's own address), the
  main Service whose selector is the blue-green switch, the main Ingress and
  the ingress-nginx canary Ingress;
* :func:`validate` — offline schema checks with the official client's models
  (pydantic, ``extra="forbid"``, strict types), reported by JSON path, and
  :func:`load_user_manifest` — the same for a user's Deployment file, reported
  as ``file:line:col``;
* :func:`rollout_status` — ``kubectl rollout status`` for one Deployment;
* :func:`undo_patch` — ``kubectl rollout undo``: the JSON patch that puts a
  Deployment's template back to an earlier ReplicaSet's.

Why colours rather than a Deployment per revision: a slot's Deployment keeps
its ReplicaSet history, so a rollback to a version that is no longer running
is a ``rollout undo`` of the slot (the exact pod template that ran before),
and the Service/Ingress objects never have to be recreated.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pheme.core.deploy._load import KUBERNETES_INGRESS_KEYS, KUBERNETES_KEYS
from pheme.core.deploy.model import EnvironmentSpec, ServiceSpec
from pheme.errors import DeployError, Problem, WorkflowError

__all__ = [
    "ANN_REMOVE_AT",
    "ANN_REVISION",
    "ANN_ROLE",
    "ANN_VERSION",
    "CANARY",
    "CANARY_WEIGHT",
    "COLOURS",
    "K8S_REVISION",
    "LABEL_COLOUR",
    "LABEL_REVISION",
    "OPTION_KEYS",
    "KubeOptions",
    "colour_service_manifest",
    "deployment_manifest",
    "ingress_manifest",
    "load_user_manifest",
    "main_service_manifest",
    "parse_options",
    "rollout_status",
    "undo_patch",
    "validate",
]

COLOURS = ("blue", "green")
LABEL_APP = "app"
LABEL_COLOUR = "version"  # the label the blue-green switch selects on (as in `kubectl patch service`)
LABEL_SERVICE = "pheme.dev/service"
LABEL_REVISION = "pheme.dev/revision"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
ANN_REVISION = "pheme.dev/revision"
ANN_VERSION = "pheme.dev/version"
ANN_ROLE = "pheme.dev/role"
ANN_REMOVE_AT = "pheme.dev/remove-at"
CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
K8S_REVISION = "deployment.kubernetes.io/revision"
NO_COLOUR = "none"  # selector value no pod carries: "route nothing"

OPTION_KEYS = KUBERNETES_KEYS  # checked with file:line:col by the deploy file loader, again here
INGRESS_KEYS = KUBERNETES_INGRESS_KEYS
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
# Annotations `kubectl rollout undo` leaves to the Deployment instead of copying them from the ReplicaSet.
_UNDO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        K8S_REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def dns_name(name: str) -> str:
    """``My_API.v2`` → ``my-api-v2``: a valid Kubernetes object name from a deploy.yml name."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return out[:50] or "app"


@dataclass(frozen=True, slots=True)
class KubeOptions:
    """The kubernetes target's settings for one (service, environment)."""

    environment: str
    base: str  # prefix of every object name: <base>-blue, <base>-canary, ...
    service: str  # the main Service (the blue-green switch)
    image: str  # template, {version} {revision} {service}
    container_port: int
    namespace: str | None = None  # None: the kubeconfig context's namespace, else "default"
    context: str | None = None
    kubeconfig: str | None = None
    ingress_host: str | None = None
    ingress_class: str | None = None
    ingress_path: str = "/"
    manifest: str | None = None
    revision_url: str | None = None  # template, {name} {colour} {namespace} {port} {revision}
    progress_deadline: int = 600

    def deployment(self, colour: str) -> str:
        return f"{self.base}-{colour}"

    def colour_service(self, colour: str) -> str:
        return f"{self.base}-{colour}"

    @property
    def ingress(self) -> str:
        return self.base

    @property
    def canary_ingress(self) -> str:
        return f"{self.base}-canary"

    @property
    def selector(self) -> dict[str, str]:
        """Labels every object of this service carries (list them with this)."""
        return {LABEL_SERVICE: self.base}


def parse_options(service: ServiceSpec, environment: EnvironmentSpec) -> KubeOptions:
    """Read and check the target's keys (DeployError naming the environment and the key)."""
    raw: Mapping[str, Any] = environment.target.options
    where = f"environment '{environment.name}' target"
    unknown = sorted(set(raw) - set(OPTION_KEYS))
    if unknown:
        raise DeployError(f"unknown key '{unknown[0]}' in {where} (kubernetes keys: {', '.join(OPTION_KEYS)})")

    def text(key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise DeployError(f"{where} {key} must be a non-empty string")
        return value.strip()

    base = dns_name(service.name)
    svc_name = text("service") or base
    if not _DNS_LABEL.match(svc_name) or len(svc_name) > 63:
        raise DeployError(f"{where} service '{svc_name}' is not a valid Kubernetes name (lower-case letters, digits, '-')")
    namespace = text("namespace")
    if namespace is not None and not _DNS_LABEL.match(namespace):
        raise DeployError(f"{where} namespace '{namespace}' is not a valid Kubernetes namespace")
    image = text("image") or service.image
    if not image:
        raise DeployError(f"{where} needs an 'image' (or the service '{service.name}' an 'image:'), e.g. pheme/api:{{version}}")
    port_raw = raw.get("containerPort", service.ports[0] if service.ports else 8080)
    if isinstance(port_raw, bool) or not isinstance(port_raw, int) or not 0 < port_raw < 65536:
        raise DeployError(f"{where} containerPort must be a port number (1-65535), not {port_raw!r}")
    host = cls = None
    path = "/"
    ingress = raw.get("ingress")
    if ingress is not None:
        if isinstance(ingress, str):
            ingress = {"host": ingress}
        if not isinstance(ingress, Mapping):
            raise DeployError(f"{where} ingress must be a mapping with 'host' (and 'class', 'path')")
        bad = sorted(set(ingress) - set(INGRESS_KEYS))
        if bad:
            raise DeployError(f"unknown key '{bad[0]}' in {where} ingress (expected one of: {', '.join(INGRESS_KEYS)})")
        host = ingress.get("host")
        if not isinstance(host, str) or not host:
            raise DeployError(f"{where} ingress needs a 'host' (the name clients use, e.g. api.example.com)")
        cls = ingress.get("class")
        if cls is not None and not isinstance(cls, str):
            raise DeployError(f"{where} ingress class must be a string such as 'nginx'")
        path = str(ingress.get("path") or "/")
        if not path.startswith("/"):
            raise DeployError(f"{where} ingress path must start with '/'")
    return KubeOptions(
        environment=environment.name,
        base=base,
        service=svc_name,
        image=image,
        container_port=port_raw,
        namespace=namespace,
        context=text("context"),
        kubeconfig=text("kubeconfig"),
        ingress_host=host,
        ingress_class=cls,
        ingress_path=path,
        manifest=text("manifest"),
        revision_url=text("revisionUrl"),
        progress_deadline=max(1, math.ceil(environment.progress_deadline)),
    )


def _fill(template: str, **values: str) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def image_for(opts: KubeOptions, version: str, revision: int) -> str:
    return _fill(opts.image, version=version, revision=str(revision), service=opts.base)


# ---------------------------------------------------------------- manifests


def _labels(opts: KubeOptions, colour: str | None = None) -> dict[str, str]:
    labels = {LABEL_APP: opts.base, LABEL_SERVICE: opts.base, LABEL_MANAGED: "pheme"}
    if colour:
        labels[LABEL_COLOUR] = colour
    return labels


def deployment_manifest(
    opts: KubeOptions,
    service: ServiceSpec,
    *,
    namespace: str,
    colour: str,
    revision: int,
    version: str,
    replicas: int,
    role: str,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Deployment of ``colour`` running ``version`` as Pheme revision ``revision``.

    ``base`` is the user's Deployment (``manifest:``): Pheme keeps everything
    in it and sets only names, labels, selector, replicas, the deadline and,
    in the container named after the service (or the first), image, port,
    environment and (when absent) the readiness probe.
    """
    dep: dict[str, Any] = copy.deepcopy(dict(base)) if base else {}
    dep["apiVersion"], dep["kind"] = "apps/v1", "Deployment"
    meta = dep.setdefault("metadata", {})
    meta["name"], meta["namespace"] = opts.deployment(colour), namespace
    meta["labels"] = {**(meta.get("labels") or {}), **_labels(opts, colour)}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        ANN_REVISION: str(revision),
        ANN_VERSION: version,
        ANN_ROLE: role,
    }
    spec = dep.setdefault("spec", {})
    spec["replicas"] = replicas
    spec["selector"] = {"matchLabels": {LABEL_APP: opts.base, LABEL_COLOUR: colour}}
    spec["progressDeadlineSeconds"] = opts.progress_deadline
    spec.setdefault("revisionHistoryLimit", 10)
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    # The revision is part of the pod template on purpose: redeploying the same version as a new
    # revision makes a new ReplicaSet, and `rollout undo` finds a revision's template by it.
    tmeta["labels"] = {
        **(tmeta.get("labels") or {}),
        LABEL_APP: opts.base,
        LABEL_COLOUR: colour,
        LABEL_REVISION: str(revision),
    }
    pod = template.setdefault("spec", {})
    containers: list[dict[str, Any]] = pod.setdefault("containers", [])
    app = next((c for c in containers if c.get("name") == opts.base), None)
    if app is None:
        if containers:
            app = containers[0]
        else:
            app = {"name": opts.base}
            containers.append(app)
    app.setdefault("name", opts.base)
    app["image"] = image_for(opts, version, revision)
    ports = app.setdefault("ports", [])
    if not any(p.get("containerPort") == opts.container_port for p in ports):
        ports.append({"name": "http", "containerPort": opts.container_port})
    values = {"version": version, "revision": str(revision), "service": opts.base, "port": str(opts.container_port)}
    env = {e.get("name"): e for e in app.get("env") or []}
    for key, value in service.env.items():
        env[key] = {"name": key, "value": _fill(value, **values)}
    env["PORT"] = {"name": "PORT", "value": str(opts.container_port)}
    env["APP_VERSION"] = env.get("APP_VERSION") or {"name": "APP_VERSION", "value": version}
    app["env"] = list(env.values())
    if "readinessProbe" not in app:
        health = service.health
        app["readinessProbe"] = {
            "httpGet": {"path": health.path, "port": health.port or opts.container_port},
            "periodSeconds": max(1, math.ceil(health.period)),
            "timeoutSeconds": max(1, math.ceil(health.timeout)),
        }
    return dep


def colour_service_manifest(opts: KubeOptions, namespace: str, colour: str) -> dict[str, Any]:
    """A Service in front of one colour: the canary Ingress's backend and a revision's own address."""
    return _service(opts, opts.colour_service(colour), namespace, colour)


def main_service_manifest(opts: KubeOptions, namespace: str, colour: str | None) -> dict[str, Any]:
    """The Service clients reach; its ``version`` selector is the blue-green switch."""
    return _service(opts, opts.service, namespace, colour or NO_COLOUR)


def _service(opts: KubeOptions, name: str, namespace: str, colour: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(opts)},
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_APP: opts.base, LABEL_COLOUR: colour},
            "ports": [{"name": "http", "port": 80, "targetPort": opts.container_port, "protocol": "TCP"}],
        },
    }


def ingress_manifest(
    opts: KubeOptions, namespace: str, *, canary_colour: str | None = None, weight: int = 0
) -> dict[str, Any]:
    """The main Ingress (to the main Service) or, with ``canary_colour``, ingress-nginx's canary Ingress."""
    assert opts.ingress_host is not None
    name = opts.canary_ingress if canary_colour else opts.ingress
    backend = opts.colour_service(canary_colour) if canary_colour else opts.service
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": _labels(opts)}
    if canary_colour:
        meta["annotations"] = {CANARY: "true", CANARY_WEIGHT: str(weight)}
    spec: dict[str, Any] = {}
    if opts.ingress_class:
        spec["ingressClassName"] = opts.ingress_class
    spec["rules"] = [
        {
            "host": opts.ingress_host,
            "http": {
                "paths": [
                    {
                        "path": opts.ingress_path,
                        "pathType": "Prefix",
                        "backend": {"service": {"name": backend, "port": {"number": 80}}},
                    }
                ]
            },
        }
    ]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def ingress_backend(ingress: Mapping[str, Any]) -> str | None:
    """The Service name the first path of an Ingress routes to."""
    try:
        name = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    except (KeyError, IndexError, TypeError):
        return None
    return str(name)


# ----------------------------------------------------------------- validation

_MODELS = {
    ("apps/v1", "Deployment"): "V1Deployment",
    ("v1", "Service"): "V1Service",
    ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
}


def _path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


_MISSING = "required field is missing"


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return _MISSING
    got = error.get("input")
    shown = type(got).__name__ if not isinstance(got, str | int | float | bool) else repr(got)
    expected = {
        "string_type": "a string",
        "int_type": "an integer",
        "bool_type": "true or false",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
    }.get(kind)
    if expected:
        return f"must be {expected}, not {shown}"
    return str(error.get("msg", "invalid value"))


def validate(manifest: Mapping[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Offline schema problems of a Deployment/Service/Ingress: ``[(json path parts, message)]``.

    Uses the model classes shipped in the ``kubernetes`` package (generated
    from the Kubernetes OpenAPI schema): unknown fields, wrong types and
    missing required fields are found without a cluster.
    """
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    model_name = _MODELS.get(key)  # type: ignore[arg-type]
    if model_name is None:
        known = ", ".join(f"{k} ({a})" for a, k in _MODELS)
        return [(("kind",), f"'{key[1]}' of '{key[0]}' is not something Pheme can deploy (expected one of: {known})")]
    models = _client_models()
    from pydantic import ValidationError

    model = getattr(models, model_name)
    try:
        model.model_validate(dict(manifest))
    except ValidationError as exc:
        seen: set[tuple[Any, ...]] = set()
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            if loc in seen:
                continue
            seen.add(loc)
            problems.append((loc, _message(err)))
        return problems
    return []


def check_manifest(manifest: Mapping[str, Any], what: str) -> None:
    """Raise DeployError on the first schema problem of a generated manifest (a Pheme option is wrong)."""
    problems = validate(manifest)
    if problems:
        loc, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DeployError(f"the {what} Pheme would send is invalid: {_path(loc)}: {message}{more}")


def _client_models() -> Any:
    try:
        from kubernetes.client import models
    except ImportError:
        raise DeployError(
            "the kubernetes target needs the 'kubernetes' package: pip install 'pheme[kubernetes]'"
        ) from None
    return models


def load_user_manifest(path: Path, shown: str) -> dict[str, Any]:
    """Read and check a user's Deployment file; WorkflowError with ``file:line:col: json.path: message``."""
    from pheme.core.yamlpos import MAP, SEQ, Node, YamlError, compose, to_string

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeployError(f"cannot read the manifest {shown}: {exc.strerror or exc}") from None
    try:
        root = compose(text)
    except YamlError as exc:
        raise WorkflowError([Problem(shown, exc.line or 1, exc.col or 1, exc.message)]) from None
    if root is None or root.kind != MAP:
        raise WorkflowError([Problem(shown, 1, 1, "a manifest must be a mapping (one Deployment)")])
    data = root.to_python()

    def locate(loc: tuple[Any, ...]) -> tuple[int, int]:
        node: Node = root
        for depth, part in enumerate(loc):
            child: Node | None = None
            if node.kind == MAP:
                for k, v in node.value:
                    if to_string(k) == str(part):
                        # point at the key itself for the last part (an unknown field), at the value otherwise
                        child = k if depth == len(loc) - 1 else v
                        break
            elif node.kind == SEQ and isinstance(part, int) and part < len(node.value):
                child = node.value[part]
            if child is None:
                break
            node = child
        return node.line, node.col

    problems = []
    for loc, message in validate(data):
        if message == _MISSING:
            continue  # a base need not be complete: Pheme fills selector, image, ... (the result is checked too)
        line, col = locate(loc)
        problems.append(Problem(shown, line, col, f"{_path(loc)}: {message}"))
    if not problems and data.get("kind") != "Deployment":
        problems.append(Problem(shown, root.line, root.col, "the manifest must be a Deployment (kind: Deployment)"))
    if problems:
        raise WorkflowError(problems)
    return dict(data)


# ------------------------------------------------------------ rollout logic


def rollout_status(dep: Mapping[str, Any]) -> tuple[bool, str]:
    """``kubectl rollout status`` for one Deployment: ``(done, message)``.

    Raises DeployError once the controller reports ``ProgressDeadlineExceeded``.
    """
    name = dep.get("metadata", {}).get("name", "?")
    generation = dep.get("metadata", {}).get("generation", 0)
    status = dep.get("status") or {}
    if generation > status.get("observedGeneration", 0):
        return False, "waiting for the deployment spec update to be observed"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            raise DeployError(f'deployment "{name}" exceeded its progress deadline')
    want = (dep.get("spec") or {}).get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < want:
        return False, f"{updated} out of {want} new replicas have been updated"
    if status.get("replicas", 0) > updated:
        return False, f"{status.get('replicas', 0) - updated} old replicas are pending termination"
    available = status.get("availableReplicas", 0)
    if available < updated:
        return False, f"{available} of {updated} updated replicas are available"
    return True, f'deployment "{name}" successfully rolled out'


def k8s_revision(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(K8S_REVISION, "0"))
    except ValueError:
        return 0


def undo_patch(
    dep: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]], to_revision: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """``kubectl rollout undo``: the JSON patch restoring an earlier template, and that revision.

    ``to_revision`` 0 means the previous one (the second highest). The
    ReplicaSets must be the Deployment's own. As kubectl does, the
    ``pod-template-hash`` label is dropped from the template and the
    ReplicaSet's annotations replace the Deployment's, except the
    controller's own bookkeeping ones.
    """
    name = dep.get("metadata", {}).get("name", "?")
    if (dep.get("spec") or {}).get("paused"):
        raise DeployError(f'cannot undo deployment "{name}": it is paused')
    by_revision = {k8s_revision(rs): rs for rs in replicasets if k8s_revision(rs) > 0}
    if not by_revision:
        raise DeployError(f'deployment "{name}" has no rollout history')
    if to_revision == 0:
        ordered = sorted(by_revision)
        if len(ordered) < 2:
            raise DeployError(f'deployment "{name}" has no previous revision to undo to')
        to_revision = ordered[-2]
    rs = by_revision.get(to_revision)
    if rs is None:
        raise DeployError(f'deployment "{name}" has no revision {to_revision} (known: {", ".join(map(str, sorted(by_revision)))})')
    template = copy.deepcopy(dict(rs["spec"]["template"]))
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop("pod-template-hash", None)
    current = dep.get("metadata", {}).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in _UNDO_SKIP}
    annotations.update({k: v for k, v in (rs.get("metadata", {}).get("annotations") or {}).items() if k not in _UNDO_SKIP})
    patch = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    return patch, to_revision
