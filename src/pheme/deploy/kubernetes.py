"""The kubernetes target: revisions as blue/green Deployments, traffic by Service selector and canary Ingress.

One (service, environment) owns, in its namespace (``<base>`` is the
service's name made DNS-safe):

* two Deployments, ``<base>-blue`` and ``<base>-green`` (the slots). A new
  revision goes to the slot that serves no traffic; its pods carry
  ``app: <base>``, ``version: <colour>`` and ``pheme.dev/revision: <n>``, and
  the Deployment says which revision/version/role it runs in ``pheme.dev/*``
  annotations. Removing a revision scales its Deployment to 0: the
  ReplicaSets stay, so a rollback to a revision that no longer runs is a
  ``kubectl rollout undo`` of its slot to that revision's ReplicaSet;
* a Service per slot (``<base>-blue``, ``<base>-green``): a revision's own
  address (pre-promotion checks from inside the cluster) and the canary
  Ingress's backend;
* the main Service (``service:`` option, default ``<base>``), whose selector
  ``version: <colour>`` is the blue-green switch — the classic
  ``kubectl patch service <svc> -p '{"spec":{"selector":{"version":"green"}}}'``;
* with ``ingress: {host: ...}``: the main Ingress to the main Service and,
  for split weights, an ingress-nginx canary Ingress
  (``nginx.ingress.kubernetes.io/canary: "true"``, ``canary-weight: "<n>"``)
  to the other slot's Service. An abort is one merge patch setting the
  weight to ``"0"``.

Readiness is ``kubectl rollout status`` (observedGeneration, updated,
available replicas; ``ProgressDeadlineExceeded`` fails at once), polled
afresh on every call. Nothing moves traffic except :meth:`set_traffic`, which
refuses a revision without an available replica — so a revision that never
becomes ready leaves the selector and the canary weight as they were.

Everything the target needs after an agent restart is in the cluster
(annotations, selector, Ingress weight): :meth:`state` reads it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pheme.core.deploy.actions import Role
from pheme.deploy._kube_api import Conflict, KubeApi, NotFound
from pheme.deploy._kube_manifests import (
    ANN_REMOVE_AT,
    ANN_REVISION,
    ANN_ROLE,
    ANN_VERSION,
    CANARY_WEIGHT,
    COLOURS,
    LABEL_APP,
    LABEL_COLOUR,
    LABEL_REVISION,
    NO_COLOUR,
    KubeOptions,
    check_manifest,
    colour_service_manifest,
    deployment_manifest,
    image_for,
    ingress_backend,
    ingress_manifest,
    k8s_revision,
    load_user_manifest,
    main_service_manifest,
    parse_options,
    rollout_status,
    undo_patch,
)
from pheme.deploy.target import RevisionState, TargetContext, TargetState
from pheme.errors import DeployError

__all__ = ["JSON_PATCH", "MERGE", "STRATEGIC", "KubernetesTarget", "open_target"]

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

T = TypeVar("T")


class KubernetesTarget:
    """One service in one environment on a Kubernetes cluster (see the module docstring)."""

    kind = "kubernetes"

    def __init__(self, ctx: TargetContext, *, api: KubeApi | None = None, poll_interval: float = 0.5) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.opts: KubeOptions = parse_options(ctx.service, ctx.environment)
        self.api = api or KubeApi(kubeconfig=self.opts.kubeconfig, context=self.opts.context, namespace=self.opts.namespace)
        self.poll_interval = poll_interval
        self._colours: dict[int, str] = {}  # revision -> slot, as last seen
        self._timers: dict[int, asyncio.Task[None]] = {}
        self._base_manifest: dict[str, Any] | None = None

    # ------------------------------------------------------------ plumbing

    async def _io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    @property
    def namespace(self) -> str:
        return self.api.namespace

    async def _deployments(self) -> dict[str, dict[str, Any]]:
        """colour -> this service's Deployment of that colour."""
        items = await self._io(self.api.list, "deployments", self.opts.selector)
        out: dict[str, dict[str, Any]] = {}
        for dep in items:
            colour = (dep.get("metadata", {}).get("labels") or {}).get(LABEL_COLOUR)
            if colour in COLOURS and dep["metadata"].get("name") == self.opts.deployment(colour):
                out[colour] = dep
                rev = _revision_of(dep)
                if rev is not None:
                    self._colours[rev] = colour
        return out

    @staticmethod
    def _find(deps: Mapping[str, dict[str, Any]], revision: int) -> tuple[str, dict[str, Any]] | None:
        for colour, dep in deps.items():
            if _revision_of(dep) == revision:
                return colour, dep
        return None

    async def _get_optional(self, resource: str, name: str) -> dict[str, Any] | None:
        try:
            return await self._io(self.api.get, resource, name)
        except NotFound:
            return None

    async def _routing(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The main Service and the canary Ingress (None where absent)."""
        svc = await self._get_optional("services", self.opts.service)
        canary = await self._get_optional("ingresses", self.opts.canary_ingress) if self.opts.ingress_host else None
        return svc, canary

    @staticmethod
    def _main_colour(svc: Mapping[str, Any] | None) -> str | None:
        if svc is None:
            return None
        colour = ((svc.get("spec") or {}).get("selector") or {}).get(LABEL_COLOUR)
        return colour if colour in COLOURS else None

    def _canary(self, ingress: Mapping[str, Any] | None) -> tuple[str | None, int]:
        """(colour, weight) of the canary Ingress."""
        if ingress is None:
            return None, 0
        annotations = ingress.get("metadata", {}).get("annotations") or {}
        try:
            weight = int(annotations.get(CANARY_WEIGHT, "0"))
        except ValueError:
            weight = 0
        backend = ingress_backend(ingress) or ""
        colour = next((c for c in COLOURS if backend == self.opts.colour_service(c)), None)
        return colour, weight

    def _base(self) -> dict[str, Any] | None:
        if self.opts.manifest is None:
            return None
        if self._base_manifest is None:
            path = Path(self.opts.manifest)
            full = path if path.is_absolute() else self.ctx.workdir / path
            self._base_manifest = load_user_manifest(full, self.opts.manifest)
        return self._base_manifest

    def _manifest(self, colour: str, revision: int, version: str, replicas: int, role: str) -> dict[str, Any]:
        manifest = deployment_manifest(
            self.opts,
            self.service,
            namespace=self.namespace,
            colour=colour,
            revision=revision,
            version=version,
            replicas=replicas,
            role=role,
            base=self._base(),
        )
        check_manifest(manifest, "Deployment")
        return manifest

    # -------------------------------------------------------------- checks

    async def check_reachable(self) -> None:
        await self._io(self.api.version)
        await self._io(self.api.list, "deployments", self.opts.selector)
        self._base()

    async def check_version(self, version: str) -> None:
        image = image_for(self.opts, version, 0)
        if not image or any(ch.isspace() for ch in image):
            raise DeployError(f"version '{version}' makes an invalid image reference '{image}'")
        await self._io(self._manifest, COLOURS[0], 0, version, 1, "stable")

    # ------------------------------------------------------------ revisions

    async def start(self, revision: int, version: str, replicas: int, role: Role) -> None:
        deps = await self._deployments()
        found = self._find(deps, revision)
        if found is not None:  # already this slot's template (a warm or scaled-down revision)
            colour, dep = found
            self._cancel_timer(revision)
            body = {"metadata": {"annotations": {ANN_ROLE: role, ANN_REMOVE_AT: None}}, "spec": {"replicas": replicas}}
            await self._io(self.api.patch, "deployments", dep["metadata"]["name"], body, STRATEGIC)
            return
        svc, canary = await self._routing()
        serving = {self._main_colour(svc)}
        canary_colour, weight = self._canary(canary)
        if weight > 0:
            serving.add(canary_colour)
        free = [c for c in COLOURS if c not in serving]
        if not free:
            raise DeployError(
                f"both {self.opts.base}-blue and {self.opts.base}-green serve traffic (a canary is in progress): "
                "finish or abort it first"
            )
        undo = await self._undo_candidate(deps, free, revision)
        if undo is not None:
            colour, dep, owned, k8s_rev = undo
            await self._undo(colour, dep, owned, k8s_rev, replicas=replicas, role=role)
            return
        # prefer an idle slot (no Deployment, or scaled to 0), blue first
        colour = min(free, key=lambda c: (_replicas(deps.get(c)) > 0, COLOURS.index(c)))
        displaced = _revision_of(deps[colour]) if colour in deps else None
        if displaced is not None:
            self._cancel_timer(displaced)
        manifest = await self._io(self._manifest, colour, revision, version, replicas, role)
        if colour in deps:
            manifest["metadata"]["resourceVersion"] = deps[colour]["metadata"].get("resourceVersion")
            await self._io(self.api.replace, "deployments", manifest["metadata"]["name"], manifest)
        else:
            await self._io(self.api.create, "deployments", manifest)
        with contextlib.suppress(Conflict):
            await self._io(self.api.create, "services", colour_service_manifest(self.opts, self.namespace, colour))
        self._colours[revision] = colour

    async def _undo_candidate(
        self, deps: Mapping[str, dict[str, Any]], free: list[str], revision: int
    ) -> tuple[str, dict[str, Any], list[dict[str, Any]], int] | None:
        """A free slot whose ReplicaSet history holds ``revision``: (colour, deployment, its ReplicaSets, k8s revision)."""
        for colour in free:
            dep = deps.get(colour)
            if dep is None:
                continue
            owned = await self._replicasets(dep, colour)
            matching = [rs for rs in owned if _template_revision(rs) == revision and k8s_revision(rs) > 0]
            if matching:
                return colour, dep, owned, max(k8s_revision(rs) for rs in matching)
        return None

    async def _replicasets(self, dep: Mapping[str, Any], colour: str) -> list[dict[str, Any]]:
        items = await self._io(self.api.list, "replicasets", {LABEL_APP: self.opts.base, LABEL_COLOUR: colour})
        uid = dep["metadata"].get("uid")
        return [rs for rs in items if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])]

    async def undo(self, colour: str, to_revision: int = 0, *, replicas: int | None = None, role: str | None = None) -> int:
        """``kubectl rollout undo deployment/<base>-<colour> [--to-revision=N]``; returns the Kubernetes revision restored.

        With ``replicas``/``role``, the same JSON patch also scales the slot and
        records the role (one request, so the restored template never runs at
        the old scale).
        """
        if colour not in COLOURS:
            raise DeployError(f"unknown slot '{colour}' (expected one of: {', '.join(COLOURS)})")
        dep = await self._io(self.api.get, "deployments", self.opts.deployment(colour))
        owned = await self._replicasets(dep, colour)
        return await self._undo(colour, dep, owned, to_revision, replicas=replicas, role=role)

    async def _undo(
        self,
        colour: str,
        dep: dict[str, Any],
        owned: list[dict[str, Any]],
        to_revision: int,
        *,
        replicas: int | None,
        role: str | None,
    ) -> int:
        patch, restored = undo_patch(dep, owned, to_revision)
        annotations = patch[1]["value"]
        annotations.pop(ANN_REMOVE_AT, None)
        if role is not None:
            annotations[ANN_ROLE] = role
        if replicas is not None:
            patch.append({"op": "replace", "path": "/spec/replicas", "value": replicas})
        previous = _revision_of(dep)
        if previous is not None:
            self._cancel_timer(previous)
        await self._io(self.api.patch, "deployments", dep["metadata"]["name"], patch, JSON_PATCH)
        rev = annotations.get(ANN_REVISION)
        if rev is not None and rev.isdigit():
            self._colours[int(rev)] = colour
        return restored

    async def scale(self, revision: int, replicas: int) -> None:
        _colour, dep = await self._need(revision)
        await self._io(self.api.patch, "deployments", dep["metadata"]["name"], {"spec": {"replicas": replicas}}, STRATEGIC)

    async def _need(self, revision: int) -> tuple[str, dict[str, Any]]:
        found = self._find(await self._deployments(), revision)
        if found is None:
            raise DeployError(f"revision {revision} is not running in {self.namespace} (no {self.opts.base}-blue/green Deployment has it)")
        return found

    async def wait_ready(self, revision: int, replicas: int, timeout: float) -> None:
        _colour, dep = await self._need(revision)
        name = dep["metadata"]["name"]
        deadline = time.monotonic() + timeout
        while True:
            dep = await self._io(self.api.get, "deployments", name)
            if _revision_of(dep) != revision:
                raise DeployError(f"revision {revision} was replaced in deployment {self.namespace}/{name} while waiting for it")
            if _replicas(dep) == 0:
                raise DeployError(f"revision {revision} (deployment {self.namespace}/{name}) is scaled to 0")
            try:
                done, message = rollout_status(dep)
            except DeployError as exc:
                raise DeployError(f"revision {revision}: {exc}{await self._pod_problem(revision)}") from None
            available = (dep.get("status") or {}).get("availableReplicas", 0)
            if done and available >= min(replicas, _replicas(dep)):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeployError(
                    f"revision {revision} (deployment {self.namespace}/{name}) not ready after {timeout:g}s: "
                    f"{message}{await self._pod_problem(revision)}"
                )
            await asyncio.sleep(min(self.poll_interval, remaining))

    async def _available(self, revision: int, colour: str, dep: Mapping[str, Any]) -> int:
        """Available pods of the revision's own ReplicaSet(s), read afresh.

        Not the Deployment's status: right after a new template it still counts
        the previous revision's pods, and during a scale-down its generation is
        ahead of what was observed although every remaining pod serves.
        """
        items = await self._io(
            self.api.list, "replicasets", {LABEL_APP: self.opts.base, LABEL_COLOUR: colour, LABEL_REVISION: str(revision)}
        )
        uid = dep["metadata"].get("uid")
        owned = [rs for rs in items if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])]
        return sum(int((rs.get("status") or {}).get("availableReplicas", 0) or 0) for rs in owned)

    async def _pod_problem(self, revision: int) -> str:
        """'; pod x: ImagePullBackOff (...)' for the first waiting container of the revision, else ''."""
        try:
            pods = await self._io(self.api.list, "pods", {LABEL_APP: self.opts.base, LABEL_REVISION: str(revision)})
        except DeployError:
            return ""
        for pod in pods:
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (status.get("state") or {}).get("waiting")
                if waiting and waiting.get("reason"):
                    detail = str(waiting.get("message") or "").splitlines()[0][:160] if waiting.get("message") else ""
                    return f"; pod {pod['metadata']['name']}: {waiting['reason']}" + (f" ({detail})" if detail else "")
        return ""

    # -------------------------------------------------------------- traffic

    async def set_traffic(self, weights: Mapping[int, int]) -> None:
        wanted = {int(r): int(w) for r, w in weights.items() if int(w) > 0}
        if wanted and sum(wanted.values()) != 100:
            raise DeployError(f"traffic weights must add up to 100, not {sum(wanted.values())}")
        if len(wanted) > 2:
            raise DeployError("the kubernetes target splits traffic between two revisions at most")
        deps = await self._deployments()
        colours: dict[int, str] = {}
        for revision in wanted:
            found = self._find(deps, revision)
            if found is None:
                raise DeployError(f"revision {revision} is not running: traffic not moved")
            colour, dep = found
            if await self._available(revision, colour, dep) < 1:
                raise DeployError(f"revision {revision} has no ready replica: traffic not moved")
            colours[revision] = colour
        svc, canary = await self._routing()
        current_main = self._main_colour(svc)
        primary: str | None = None
        canary_colour: str | None = None
        weight = 0
        if len(wanted) == 1:
            primary = colours[next(iter(wanted))]
        elif len(wanted) == 2:
            if not self.opts.ingress_host:
                raise DeployError(
                    f"splitting traffic needs an Ingress: set 'ingress: {{host: ...}}' in the kubernetes target of "
                    f"environment '{self.opts.environment}'"
                )
            a, b = sorted(wanted, key=lambda r: (colours[r] != current_main, -wanted[r], r))
            primary, canary_colour, weight = colours[a], colours[b], wanted[b]
        for revision in wanted:  # a revision that gets traffic is no longer due for removal
            _, dep = self._find(deps, revision) or (None, {})
            if (dep.get("metadata", {}).get("annotations") or {}).get(ANN_REMOVE_AT):
                self._cancel_timer(revision)
                clear: dict[str, Any] = {"metadata": {"annotations": {ANN_REMOVE_AT: None}}}
                await self._io(self.api.patch, "deployments", dep["metadata"]["name"], clear, STRATEGIC)
        # 1. the main Service: the blue-green switch
        if svc is None:
            await self._io(self.api.create, "services", main_service_manifest(self.opts, self.namespace, primary))
        elif current_main != primary:
            switch = {"spec": {"selector": {LABEL_COLOUR: primary or NO_COLOUR}}}
            await self._io(self.api.patch, "services", self.opts.service, switch, STRATEGIC)
        if not self.opts.ingress_host:
            return
        if await self._get_optional("ingresses", self.opts.ingress) is None:
            await self._io(self.api.create, "ingresses", ingress_manifest(self.opts, self.namespace))
        # 2. the canary Ingress: its weight (0 = all on the main Service)
        old_colour, old_weight = self._canary(canary)
        if canary_colour is None:
            if canary is not None and old_weight != 0:
                off = {"metadata": {"annotations": {CANARY_WEIGHT: "0"}}}
                await self._io(self.api.patch, "ingresses", self.opts.canary_ingress, off, MERGE)
            return
        manifest = ingress_manifest(self.opts, self.namespace, canary_colour=canary_colour, weight=weight)
        if canary is None:
            await self._io(self.api.create, "ingresses", manifest)
            return
        body: dict[str, Any] = {"metadata": {"annotations": {CANARY_WEIGHT: str(weight)}}}
        if old_colour != canary_colour:
            body["metadata"]["annotations"] = dict(manifest["metadata"]["annotations"])
            body["spec"] = manifest["spec"]
        if old_colour != canary_colour or old_weight != weight:
            await self._io(self.api.patch, "ingresses", self.opts.canary_ingress, body, MERGE)

    # -------------------------------------------------------------- removal

    async def stop(self, revision: int, delay: float = 0.0) -> None:
        found = self._find(await self._deployments(), revision)
        if found is None:
            return
        _colour, dep = found
        name = dep["metadata"]["name"]
        self._cancel_timer(revision)
        if delay > 0:
            at = f"{time.time() + delay:.3f}"
            body = {"metadata": {"annotations": {ANN_REMOVE_AT: at}}}
            await self._io(self.api.patch, "deployments", name, body, STRATEGIC)
            self._arm(revision, delay, at)
            return
        await self._scale_down(name)

    async def _scale_down(self, name: str) -> None:
        body = {"metadata": {"annotations": {ANN_REMOVE_AT: None}}, "spec": {"replicas": 0}}
        await self._io(self.api.patch, "deployments", name, body, STRATEGIC)

    def _arm(self, revision: int, delay: float, at: str) -> None:
        self._timers[revision] = asyncio.ensure_future(self._remove_later(revision, delay, at))

    async def _remove_later(self, revision: int, delay: float, at: str) -> None:
        await asyncio.sleep(delay)
        self._timers.pop(revision, None)
        with contextlib.suppress(DeployError):
            found = self._find(await self._deployments(), revision)
            if found is not None and (found[1]["metadata"].get("annotations") or {}).get(ANN_REMOVE_AT) == at:
                await self._scale_down(found[1]["metadata"]["name"])

    def _cancel_timer(self, revision: int) -> None:
        task = self._timers.pop(revision, None)
        if task is not None:
            task.cancel()

    # ---------------------------------------------------------------- state

    async def state(self) -> TargetState:
        deps = await self._deployments()
        svc, canary = await self._routing()
        main = self._main_colour(svc)
        canary_colour, weight = self._canary(canary)
        by_colour = {c: _revision_of(d) for c, d in deps.items()}
        weights: dict[int, int] = {}
        main_rev = by_colour.get(main) if main else None
        canary_rev = by_colour.get(canary_colour) if canary_colour and weight > 0 else None
        if main_rev is not None:
            weights[main_rev] = 100 - (weight if canary_rev is not None else 0)
        if canary_rev is not None:
            weights[canary_rev] = weights.get(canary_rev, 0) + weight
        weights = {r: w for r, w in weights.items() if w > 0}
        revisions: list[RevisionState] = []
        now = time.time()
        for colour, dep in sorted(deps.items(), key=lambda kv: _revision_of(kv[1]) or 0):
            rev = _revision_of(dep)
            if rev is None or _replicas(dep) == 0:
                continue
            annotations = dep["metadata"].get("annotations") or {}
            remove_at = _float(annotations.get(ANN_REMOVE_AT))
            if remove_at is not None and rev not in weights:
                if remove_at <= now:  # due while no agent was running: remove now
                    with contextlib.suppress(DeployError):
                        await self._scale_down(dep["metadata"]["name"])
                    continue
                if rev not in self._timers:
                    self._arm(rev, remove_at - now, annotations[ANN_REMOVE_AT])
            # what the revision is for NOW (the annotation says what it was started as)
            role = "stable" if colour == main else "canary" if rev == canary_rev else annotations.get(ANN_ROLE, "stable")
            status = dep.get("status") or {}
            revisions.append(
                RevisionState(
                    revision=rev,
                    version=annotations.get(ANN_VERSION, ""),
                    role=_role(role),
                    replicas=_replicas(dep),
                    ready=int(status.get("availableReplicas", 0)),
                    endpoints=(f"deployment/{dep['metadata']['name']}", f"service/{self.opts.colour_service(colour)}"),
                    remove_at=remove_at,
                )
            )
        return TargetState(
            service=self.service.name,
            environment=self.opts.environment,
            kind=self.kind,
            url=self.url,
            weights=weights,
            revisions=tuple(revisions),
            router="ingress-nginx" if self.opts.ingress_host else "service",
        )

    @property
    def url(self) -> str:
        if self.opts.ingress_host:
            return f"http://{self.opts.ingress_host}{self.opts.ingress_path}"
        return f"http://{self.opts.service}.{self.namespace}.svc.cluster.local"

    def revision_url(self, revision: int) -> str | None:
        colour = self._colours.get(revision)
        if colour is None:
            return None
        name = self.opts.colour_service(colour)
        template = self.opts.revision_url or "http://{name}.{namespace}.svc.cluster.local:80"
        values = {"name": name, "colour": colour, "namespace": self.namespace, "port": "80", "revision": str(revision)}
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return template

    async def logs(self, revision: int, tail: int = 50) -> list[str]:
        pods = await self._io(self.api.list, "pods", {LABEL_APP: self.opts.base, LABEL_REVISION: str(revision)})
        lines: list[str] = []
        for pod in pods[:3]:
            name = pod["metadata"]["name"]
            try:
                text = await self._io(self.api.pod_log, name, tail)
            except DeployError as exc:
                lines.append(f"[{name}] {exc}")
                continue
            lines.extend(f"[{name}] {line}" for line in text.splitlines())
        return lines[-tail:]

    async def close(self) -> None:
        for revision in list(self._timers):
            self._cancel_timer(revision)
        await self._io(self.api.close)


def _revision_of(dep: Mapping[str, Any]) -> int | None:
    value = (dep.get("metadata", {}).get("annotations") or {}).get(ANN_REVISION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _template_revision(rs: Mapping[str, Any]) -> int | None:
    labels = ((rs.get("spec") or {}).get("template", {}).get("metadata") or {}).get("labels") or {}
    value = labels.get(LABEL_REVISION)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _replicas(dep: Mapping[str, Any] | None) -> int:
    if dep is None:
        return 0
    return int((dep.get("spec") or {}).get("replicas", 1) or 0)


def _role(value: str) -> Role:
    if value == "preview":
        return "preview"
    if value == "canary":
        return "canary"
    return "stable"


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def open_target(ctx: TargetContext) -> KubernetesTarget:
    """The factory named in :data:`pheme.deploy.target.TARGET_FACTORIES`."""
    return KubernetesTarget(ctx)
