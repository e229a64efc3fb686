"""A small in-process Kubernetes API server for the kubernetes target's tests.

It speaks the REST protocol the official client speaks (paths, verbs, JSON
bodies, the three patch content types, ``Status`` errors), keeps objects in
memory and records every request, so a test can assert the EXACT requests a
rollout sent. It also plays the deployment controller, just enough for
``kubectl rollout status`` / ``rollout undo`` logic to be exercised:

* a change of a Deployment's pod template makes (or re-uses, as the real
  controller does) a ReplicaSet named ``<deployment>-<hash>`` labelled with
  ``pod-template-hash`` and annotated ``deployment.kubernetes.io/revision``
  (the highest so far + 1); older ReplicaSets are scaled to 0 and kept
  (``revisionHistoryLimit``, default 10);
* the status follows a change over the next reads of the Deployment: the
  first read observes the new generation (``observedGeneration``), the
  ``ready_after``-th makes every replica updated and available, unless the
  image is in :attr:`FakeKube.never_ready` (an image that cannot be pulled):
  those pods stay ``ImagePullBackOff`` and once ``progressDeadlineSeconds``
  have passed the ``Progressing`` condition turns ``False`` with reason
  ``ProgressDeadlineExceeded``;
* pods are derived from the ReplicaSets (``<rs>-<i>``) with a small log.

Read verbs: GET one, GET a list (``labelSelector`` with ``k=v``, ``k!=v``, ``k``
terms); write verbs: POST (409 AlreadyExists), PUT (409 Conflict on a stale
``resourceVersion``), PATCH (strategic-merge, merge, json-patch), DELETE
(cascading to owned ReplicaSets).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeKube", "KubeEnv", "Recorded", "deploy_config", "sync"]

_PATH = re.compile(
    r"^/(?P<prefix>api/v1|apis/apps/v1|apis/networking\.k8s\.io/v1)/namespaces/(?P<ns>[^/]+)"
    r"/(?P<res>deployments|replicasets|services|ingresses|pods)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status|scale|log))?$"
)
_KINDS = {
    "deployments": ("apps/v1", "Deployment", "apis/apps/v1"),
    "replicasets": ("apps/v1", "ReplicaSet", "apis/apps/v1"),
    "services": ("v1", "Service", "api/v1"),
    "ingresses": ("networking.k8s.io/v1", "Ingress", "apis/networking.k8s.io/v1"),
    "pods": ("v1", "Pod", "api/v1"),
}
_SKIP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
}
_REVISION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any

    def __str__(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))
        return f"{self.method} {self.path}{'?' + q if q else ''}"


class _Error(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass
class _Progress:
    reads: int = 0
    since: float = field(default_factory=time.monotonic)


class FakeKube:
    """The fake API server. ``start()`` it, point a kubeconfig at :attr:`url`, read :attr:`requests`."""

    def __init__(self, *, token: str = "fake-token-s3cr3t", ready_after: int = 2) -> None:
        self.token = token
        self.ready_after = ready_after
        self.never_ready: set[str] = set()
        self.requests: list[Recorded] = []
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (resource, namespace, name) -> object
        self._progress: dict[tuple[str, str], _Progress] = {}
        self._rv = 100
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeKube:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, delayed ACKs cost 40 ms a request
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                code, payload, ctype = fake.handle(
                    self.command, self.path, self.headers.get("Content-Type"), raw, self.headers.get("Authorization")
                )
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        server = self._server
        self._thread = threading.Thread(target=lambda: server.serve_forever(0.05), name="fake-kube", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, path: Path, *, namespace: str = "default", context: str = "fake") -> Path:
        """Write a kubeconfig for this server (token auth) and return its path."""
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": self.token}}],
                    "contexts": [{"name": context, "context": {"cluster": "fake", "user": "tester", "namespace": namespace}}],
                    "current-context": context,
                }
            )
        )
        return path

    # ------------------------------------------------------------- helpers

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self.objects.get((resource, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def writes(self) -> list[Recorded]:
        """The requests that changed something (everything but GET)."""
        return [r for r in self.requests if r.method != "GET"]

    def clear(self) -> None:
        self.requests.clear()

    def put_object(self, resource: str, obj: dict[str, Any]) -> None:
        """Store ``obj`` as if someone else created it (for tests that start from a given cluster)."""
        with self._lock:
            ns = obj["metadata"].get("namespace", "default")
            self._create(resource, ns, copy.deepcopy(obj))

    # -------------------------------------------------------------- serving

    def handle(
        self, method: str, raw_path: str, ctype: str | None, raw: bytes, auth: str | None
    ) -> tuple[int, Any, str]:
        url = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        with self._lock:
            self.requests.append(Recorded(method, url.path, query, ctype.split(";")[0] if ctype else None, body))
            try:
                if auth != f"Bearer {self.token}":
                    raise _Error(401, "Unauthorized", "Unauthorized")
                code, payload = self._route(method, url.path, query, ctype or "", body)
                if isinstance(payload, str):
                    return code, payload.encode(), "text/plain"
                return code, payload, "application/json"
            except _Error as exc:
                status = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": exc.message,
                    "reason": exc.reason,
                    "code": exc.code,
                }
                return exc.code, status, "application/json"

    def _route(self, method: str, path: str, query: dict[str, str], ctype: str, body: Any) -> tuple[int, Any]:
        if path in ("/version", "/version/") and method == "GET":
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake", "platform": "linux/amd64"}
        m = _PATH.match(path)
        if not m:
            raise _Error(404, "NotFound", f"the server could not find the requested resource ({method} {path})")
        res, ns, name, sub = m["res"], m["ns"], m["name"], m["sub"]
        if m["prefix"] != _KINDS[res][2]:
            raise _Error(404, "NotFound", f"the server could not find the requested resource ({path})")
        if name is None:
            if method == "GET":
                return 200, self._list(res, ns, query)
            if method == "POST":
                return 201, self._create(res, ns, body)
            raise _Error(405, "MethodNotAllowed", f"{method} is not supported on {res}")
        if sub == "log" and res == "pods" and method == "GET":
            return 200, self._log(ns, name, query)
        if sub is not None:
            raise _Error(404, "NotFound", f"subresource {sub} is not supported by the fake")
        if method == "GET":
            obj = self._need(res, ns, name)
            if res == "deployments":
                self._tick(ns, name)
                obj = self._need(res, ns, name)
            return 200, obj
        if method == "PUT":
            return 200, self._replace(res, ns, name, body)
        if method == "PATCH":
            return 200, self._patch(res, ns, name, ctype.split(";")[0].strip(), body)
        if method == "DELETE":
            return 200, self._delete(res, ns, name)
        raise _Error(405, "MethodNotAllowed", f"{method} is not supported")

    # ----------------------------------------------------------- the store

    def _need(self, res: str, ns: str, name: str) -> dict[str, Any]:
        obj = self.objects.get((res, ns, name))
        if obj is None:
            group = {"deployments": "deployments.apps", "replicasets": "replicasets.apps", "ingresses": "ingresses.networking.k8s.io"}
            raise _Error(404, "NotFound", f'{group.get(res, res)} "{name}" not found')
        if res == "pods":
            return obj
        return copy.deepcopy(obj)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _list(self, res: str, ns: str, query: dict[str, str]) -> dict[str, Any]:
        if res == "pods":
            self._refresh_pods(ns)
        selector = _parse_selector(query.get("labelSelector", ""))
        items = [
            copy.deepcopy(o)
            for (r, n, _), o in sorted(self.objects.items())
            if r == res and n == ns and _matches(selector, o["metadata"].get("labels") or {})
        ]
        if query.get("limit"):
            items = items[: int(query["limit"])]
        api, kind, _ = _KINDS[res]
        return {"kind": f"{kind}List", "apiVersion": api, "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def _create(self, res: str, ns: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict) or not body["metadata"].get("name"):
            raise _Error(422, "Invalid", f"{res}: metadata.name: Required value")
        name = body["metadata"]["name"]
        if (res, ns, name) in self.objects:
            raise _Error(409, "AlreadyExists", f'{res} "{name}" already exists')
        api, kind, _ = _KINDS[res]
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = api, kind
        meta = obj["metadata"]
        meta.update(namespace=ns, uid=hashlib.sha1(f"{res}/{ns}/{name}/{self._rv}".encode()).hexdigest()[:12])
        meta["resourceVersion"] = self._next_rv()
        meta["generation"] = 1
        meta["creationTimestamp"] = "2024-01-01T00:00:00Z"
        if res == "deployments":
            self._validate_deployment(obj)
            obj.setdefault("status", {})
            obj["spec"].setdefault("replicas", 1)
            obj["spec"].setdefault("revisionHistoryLimit", 10)
            obj["spec"].setdefault("progressDeadlineSeconds", 600)
        if res == "services":
            obj.setdefault("spec", {}).setdefault("clusterIP", f"10.96.0.{len(self.objects) % 250 + 2}")
        self.objects[(res, ns, name)] = obj
        if res == "deployments":
            self._reconcile(ns, name)
        return copy.deepcopy(self.objects[(res, ns, name)])

    def _store_update(self, res: str, ns: str, name: str, new: dict[str, Any]) -> dict[str, Any]:
        old = self.objects[(res, ns, name)]
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        meta = new.setdefault("metadata", {})
        for k in ("uid", "namespace", "creationTimestamp", "name"):
            meta[k] = old["metadata"][k]
        changed = new.get("spec") != old.get("spec")
        meta["generation"] = old["metadata"].get("generation", 1) + (1 if changed else 0)
        if changed and res == "deployments":
            self._progress[(ns, name)] = _Progress()
        meta["resourceVersion"] = self._next_rv()
        if res == "deployments":
            old_sel = old["spec"].get("selector")
            if new.get("spec", {}).get("selector") != old_sel:
                raise _Error(422, "Invalid", f'Deployment.apps "{name}" is invalid: spec.selector: field is immutable')
            self._validate_deployment(new)
            new["status"] = old.get("status", {})
        self.objects[(res, ns, name)] = new
        if res == "deployments":
            self._reconcile(ns, name)
        return copy.deepcopy(self.objects[(res, ns, name)])

    def _replace(self, res: str, ns: str, name: str, body: Any) -> dict[str, Any]:
        old = self._need(res, ns, name)
        if not isinstance(body, dict):
            raise _Error(400, "BadRequest", "the body must be an object")
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise _Error(409, "Conflict", f'Operation cannot be fulfilled on {res} "{name}": the object has been modified')
        if (body.get("metadata") or {}).get("name") != name:
            raise _Error(400, "BadRequest", "the name of the object does not match the name on the URL")
        return self._store_update(res, ns, name, copy.deepcopy(body))

    def _patch(self, res: str, ns: str, name: str, ctype: str, body: Any) -> dict[str, Any]:
        old = self._need(res, ns, name)
        if ctype == "application/merge-patch+json":
            new = _merge_patch(old, body)
        elif ctype == "application/strategic-merge-patch+json":
            new = _strategic_patch(old, body)
        elif ctype == "application/json-patch+json":
            new = _json_patch(old, body)
        else:
            raise _Error(415, "UnsupportedMediaType", f"the body of the request was in an unknown format ({ctype})")
        return self._store_update(res, ns, name, new)

    def _delete(self, res: str, ns: str, name: str) -> dict[str, Any]:
        obj = self._need(res, ns, name)
        del self.objects[(res, ns, name)]
        if res == "deployments":
            uid = obj["metadata"]["uid"]
            for key, rs in list(self.objects.items()):
                owners = rs["metadata"].get("ownerReferences") or []
                if key[0] == "replicasets" and any(o.get("uid") == uid for o in owners):
                    del self.objects[key]
            self._progress.pop((ns, name), None)
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name}}

    @staticmethod
    def _validate_deployment(obj: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector:
            raise _Error(422, "Invalid", "spec.selector: Required value")
        if any(labels.get(k) != v for k, v in selector.items()):
            raise _Error(422, "Invalid", "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`")

    # ---------------------------------------------------- the controller

    def _owned(self, ns: str, dep: dict[str, Any]) -> list[dict[str, Any]]:
        uid = dep["metadata"]["uid"]
        return [
            o
            for (r, n, _), o in self.objects.items()
            if r == "replicasets" and n == ns and any(x.get("uid") == uid for x in o["metadata"].get("ownerReferences") or [])
        ]

    def _reconcile(self, ns: str, name: str) -> None:
        """What the deployment controller does on a change: new/re-used ReplicaSet, old ones to 0."""
        dep = self.objects[("deployments", ns, name)]
        template = copy.deepcopy(dep["spec"]["template"])
        owned = self._owned(ns, dep)
        revisions = [int(rs["metadata"].get("annotations", {}).get(_REVISION, "0")) for rs in owned]
        current = next((rs for rs in owned if _strip_hash(rs["spec"]["template"]) == template), None)
        annotations = {k: v for k, v in (dep["metadata"].get("annotations") or {}).items() if k not in _SKIP_ANNOTATIONS}
        top = max(revisions, default=0)
        if current is None:
            digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
            labels = dict(template.get("metadata", {}).get("labels") or {}, **{"pod-template-hash": digest})
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {})["labels"] = labels
            current = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{name}-{digest}",
                    "namespace": ns,
                    "labels": labels,
                    "annotations": dict(annotations, **{_REVISION: str(top + 1)}),
                    "ownerReferences": [
                        {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": dep["metadata"]["uid"], "controller": True}
                    ],
                    "uid": f"rs-{digest}",
                    "resourceVersion": self._next_rv(),
                    "creationTimestamp": "2024-01-01T00:00:00Z",
                },
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": dict(dep["spec"]["selector"]["matchLabels"], **{"pod-template-hash": digest})},
                    "template": rs_template,
                },
                "status": {"replicas": 0},
            }
            self.objects[("replicasets", ns, current["metadata"]["name"])] = current
            self._progress[(ns, name)] = _Progress()
            owned.append(current)
        else:
            rev = int(current["metadata"]["annotations"].get(_REVISION, "0"))
            if rev != top:  # an old template came back (rollout undo): it becomes the newest revision
                self._progress[(ns, name)] = _Progress()
                current["metadata"]["annotations"] = dict(annotations, **{_REVISION: str(top + 1)})
            else:
                current["metadata"]["annotations"] = dict(annotations, **{_REVISION: str(rev)})
        replicas = dep["spec"].get("replicas", 1)
        current["spec"]["replicas"] = replicas
        for rs in owned:
            if rs is not current:
                rs["spec"]["replicas"] = 0
                rs["status"] = {"replicas": 0}
        old = sorted((rs for rs in owned if rs is not current), key=lambda r: int(r["metadata"]["annotations"].get(_REVISION, "0")))
        limit = dep["spec"].get("revisionHistoryLimit", 10)
        for rs in old[: max(0, len(old) - limit)]:
            del self.objects[("replicasets", ns, rs["metadata"]["name"])]
        dep["metadata"].setdefault("annotations", {})[_REVISION] = current["metadata"]["annotations"][_REVISION]
        self._progress.setdefault((ns, name), _Progress())

    def _tick(self, ns: str, name: str) -> None:
        """One step of progress, taken when the Deployment is read (deterministic, no timers)."""
        dep = self.objects[("deployments", ns, name)]
        progress = self._progress.setdefault((ns, name), _Progress())
        progress.reads += 1
        spec, status = dep["spec"], dep.setdefault("status", {})
        generation = dep["metadata"]["generation"]
        replicas = spec.get("replicas", 1)
        current = self._current_rs(ns, dep)
        image = _image(spec["template"])
        if status.get("observedGeneration") != generation:
            status["observedGeneration"] = generation
            status["updatedReplicas"] = 0
            status["availableReplicas"] = min(status.get("availableReplicas", 0), replicas)
            status["conditions"] = [_condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{current}" is progressing.')]
            return
        if progress.reads < self.ready_after:
            return
        broken = image in self.never_ready
        status["replicas"] = replicas
        status["updatedReplicas"] = replicas
        ready = 0 if broken else replicas
        status["readyReplicas"] = ready
        status["availableReplicas"] = ready
        status["unavailableReplicas"] = replicas - ready
        rs = self.objects.get(("replicasets", ns, current))
        if rs is not None:
            rs["status"] = {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}
        if not broken:
            status["conditions"] = [
                _condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                _condition("Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{current}" has successfully progressed.'),
            ]
        elif time.monotonic() - progress.since > spec.get("progressDeadlineSeconds", 600):
            status["conditions"] = [
                _condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                _condition("Progressing", "False", "ProgressDeadlineExceeded", f'ReplicaSet "{current}" has timed out progressing.'),
            ]

    def _current_rs(self, ns: str, dep: dict[str, Any]) -> str:
        want = dep["metadata"].get("annotations", {}).get(_REVISION)
        for rs in self._owned(ns, dep):
            if rs["metadata"]["annotations"].get(_REVISION) == want:
                return str(rs["metadata"]["name"])
        return ""

    def _refresh_pods(self, ns: str) -> None:
        for key in [k for k in self.objects if k[0] == "pods" and k[1] == ns]:
            del self.objects[key]
        for (r, n, name), rs in list(self.objects.items()):
            if r != "replicasets" or n != ns:
                continue
            image = _image(rs["spec"]["template"])
            broken = image in self.never_ready
            for i in range(rs["spec"].get("replicas", 0)):
                waiting = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}
                self.objects[("pods", ns, f"{name}-{i}")] = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"{name}-{i}", "namespace": ns, "labels": dict(rs["metadata"]["labels"])},
                    "status": {
                        "phase": "Pending" if broken else "Running",
                        "containerStatuses": [
                            {"name": "app", "ready": not broken, "image": image, "state": waiting if broken else {"running": {}}}
                        ],
                    },
                }

    def _log(self, ns: str, name: str, query: dict[str, str]) -> str:
        self._refresh_pods(ns)
        pod = self._need("pods", ns, name)
        image = pod["status"]["containerStatuses"][0]["image"]
        lines = [f"starting {image}", "listening on :8080", "GET /health 200"]
        tail = int(query.get("tailLines") or len(lines))
        return "\n".join(lines[-tail:]) + "\n"


# ---------------------------------------------------------------- helpers


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def _image(template: dict[str, Any]) -> str:
    containers = (template.get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image", ""))


def _strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return t


def _parse_selector(text: str) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            out.append((k.strip(), "!=", v.strip()))
        elif "=" in term:
            k, v = term.split("=", 1)
            out.append((k.strip(), "=", v.strip().lstrip("=")))
        else:
            out.append((term, "exists", None))
    return out


def _matches(selector: list[tuple[str, str, str | None]], labels: dict[str, str]) -> bool:
    for key, op, value in selector:
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and key not in labels:
            return False
    return True


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _strategic_patch(target: Any, patch: Any) -> Any:
    """Merge patch, except that lists of named objects (containers, env, ports) merge by ``name``."""
    if isinstance(patch, list) and isinstance(target, list) and all(isinstance(x, dict) and "name" in x for x in patch + target):
        merged = {x["name"]: copy.deepcopy(x) for x in target}
        for item in patch:
            merged[item["name"]] = _strategic_patch(merged.get(item["name"]), item)
        return list(merged.values())
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _strategic_patch(out.get(k), v)
    return out


def _json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902: add, remove, replace, test."""
    if not isinstance(ops, list):
        raise _Error(400, "BadRequest", "a json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op.get("path", "")).split("/")[1:]]
        if not parts:
            if op["op"] in ("add", "replace"):
                doc = copy.deepcopy(op["value"])
                continue
            raise _Error(422, "Invalid", "cannot remove the whole document")
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.get(p)
            if parent is None:
                raise _Error(422, "Invalid", f"path {op['path']} does not exist")
        last = parts[-1]
        kind = op.get("op")
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op.get("value"):
                raise _Error(422, "Invalid", f"test failed at {op['path']}")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(copy.deepcopy(op["value"]))
                elif kind == "add":
                    parent.insert(int(last), copy.deepcopy(op["value"]))
                else:
                    parent[int(last)] = copy.deepcopy(op["value"])
            else:
                if kind == "replace" and last not in parent:
                    raise _Error(422, "Invalid", f"replace operation does not apply: doc is missing path: {op['path']}")
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            elif last in parent:
                del parent[last]
            else:
                raise _Error(422, "Invalid", f"remove operation does not apply: doc is missing path: {op['path']}")
        else:
            raise _Error(422, "Invalid", f"unsupported json patch operation {kind}")
    return doc


# ------------------------------------------------------------- test helpers

DEPLOY_YML = """\
services:
  {name}:
    image: {image}
    ports: [{port}]
    replicas: 2
    health: {{path: {health}, periodSeconds: 1, timeoutSeconds: 2}}
    env: {{APP_COLOUR: "r{{revision}}"}}
environments:
  prod:
    target:
      kind: kubernetes
{target}
    strategy:
      blueGreen: {{scaleDownDelaySeconds: {delay}}}
      canary:
        scaleDownDelaySeconds: {delay}
        steps: [{{setWeight: 20}}, {{pause: {{}}}}, {{setWeight: 50}}, {{pause: {{duration: 0}}}}]
    progressDeadlineSeconds: {deadline}
"""


def deploy_config(
    kubeconfig: Path,
    *,
    name: str = "api",
    image: str = "pheme/api:{version}",
    port: int = 8000,
    health: str = "/health",
    target: dict[str, Any] | None = None,
    delay: float = 0,
    deadline: float = 30,
) -> Any:
    """A parsed deploy.yml whose 'prod' environment is a kubernetes target (``target`` = extra keys, None drops one)."""
    from pheme.core.deploy import parse_deploy

    extra: dict[str, Any] = {
        "kubeconfig": str(kubeconfig),
        "service": "pheme-service",
        "ingress": {"host": "api.example.com", "class": "nginx"},
    }
    extra.update(target or {})
    lines = "\n".join(f"      {k}: {json.dumps(v)}" for k, v in extra.items() if v is not None)
    text = DEPLOY_YML.format(
        name=name, image=image, port=port, health=health, target=lines, delay=delay, deadline=deadline
    )
    return parse_deploy(text, ".pheme/deploy.yml")


class KubeEnv:
    """A kubernetes target for the 'prod' environment of :func:`deploy_config`, with an executor."""

    def __init__(self, kubeconfig: Path, tmp: Path, *, poll_interval: float = 0.005, **config: Any) -> None:
        from pheme.deploy.executor import Executor

        self.tmp = tmp
        self.kubeconfig = kubeconfig
        self.poll_interval = poll_interval
        self.config = deploy_config(kubeconfig, **config)
        self.service = next(iter(self.config.services.values()))
        self.environment = self.config.environment("prod")
        self.target = self.new_target()
        self.executor = Executor(self.target, service=self.service.name, environment="prod", workdir=tmp)

    def new_target(self) -> Any:
        from pheme.deploy.kubernetes import KubernetesTarget
        from pheme.deploy.target import TargetContext

        ctx = TargetContext(self.tmp, self.tmp, self.service, self.environment)
        return KubernetesTarget(ctx, poll_interval=self.poll_interval)

    def rollout(self, revision: int, version: str, stable: Any, strategy: str = "blueGreen") -> Any:
        from pheme.core.deploy import Release, Rollout

        return Rollout(
            self.service,
            self.environment.pick_strategy(strategy),
            Release(revision, version),
            stable,
            self.environment.progress_deadline,
        )

    async def deploy(self, revision: int, version: str, stable: Any, strategy: str = "blueGreen", **kw: Any) -> Any:
        from pheme.core.deploy import plan

        return await self.executor.run(plan(self.rollout(revision, version, stable, strategy)), **kw)

    async def rollback(self, current: Any, to: Any, *, warm: bool) -> Any:
        from pheme.core.deploy import rollback

        flow = rollback(self.service, current, to, warm=warm, progress_deadline=self.environment.progress_deadline, scale_down_delay=0)
        return await self.executor.run(flow)


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (the project runs asyncio tests with asyncio.run)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run
