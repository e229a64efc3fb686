"""The kubernetes target's one seam to the cluster: the official client, dicts in and out.

Requests go through the official client's typed API classes
(``AppsV1Api.patch_namespaced_deployment``, ...), so authentication, TLS and
kubeconfig handling are the client's. Responses are read raw
(``_preload_content=False``) and returned as plain dicts: the client's
generated models refuse fields they do not know, and a newer cluster always
has some. Every call is synchronous (the client is urllib3-based); the target
runs them in a worker thread.

Errors become :class:`~pheme.errors.DeployError` with ONE line: the cluster's
own ``Status.message`` for API errors, "cluster unreachable" with the server
address (never its credentials) for connection failures. ``NotFound`` is
:class:`NotFound` so callers can create what is missing.

The ``kubernetes`` package is imported here only, on first use: importing it
costs about a second.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import urlsplit

from pheme.errors import DeployError

__all__ = ["Conflict", "KubeApi", "NotFound"]

# resource -> (API class, snake-case kind in the method names)
_RESOURCES = {
    "deployments": ("AppsV1Api", "deployment"),
    "replicasets": ("AppsV1Api", "replica_set"),
    "services": ("CoreV1Api", "service"),
    "pods": ("CoreV1Api", "pod"),
    "ingresses": ("NetworkingV1Api", "ingress"),
}
JSON = "application/json"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0


class NotFound(DeployError):
    pass


class Conflict(DeployError):
    pass


class KubeApi:
    """One cluster connection, as configured by a kubeconfig (or in-cluster)."""

    def __init__(self, *, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
        self._kubeconfig = kubeconfig
        self._context = context
        self._namespace = namespace
        self._client: Any = None
        self._apis: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.server = ""
        self.context_name = context or ""

    # ----------------------------------------------------------- connection

    def _where(self) -> str:
        server = self.server or "the cluster"
        return f"{server}" + (f" (context {self.context_name})" if self.context_name else "")

    def connect(self) -> Any:
        """The ApiClient, created on first use from the kubeconfig (DeployError on a bad config)."""
        with self._lock:
            if self._client is not None:
                return self._client
            try:
                from kubernetes import client, config
                from kubernetes.config.config_exception import ConfigException
            except ImportError:
                raise DeployError(
                    "the kubernetes target needs the 'kubernetes' package: pip install 'pheme[kubernetes]'"
                ) from None
            configuration = client.Configuration()
            path = os.path.expanduser(self._kubeconfig) if self._kubeconfig else None
            env_config = os.environ.get("KUBECONFIG", "")
            default = os.path.expanduser("~/.kube/config")
            try:
                if path or env_config or os.path.exists(default) or not os.environ.get("KUBERNETES_SERVICE_HOST"):
                    config_file = path or (env_config.split(os.pathsep)[0] if env_config else default)
                    if not os.path.exists(config_file):
                        raise DeployError(f"no kubeconfig at {config_file} (set 'kubeconfig:' in the target or KUBECONFIG)")
                    config.load_kube_config(  # type: ignore[no-untyped-call]
                        config_file=config_file,
                        context=self._context,
                        client_configuration=configuration,
                        persist_config=False,
                    )
                    contexts, active = config.list_kube_config_contexts(config_file=config_file)  # type: ignore[no-untyped-call]
                    chosen = next((c for c in contexts if c.get("name") == self._context), active) if self._context else active
                    self.context_name = (chosen or {}).get("name", "")
                    if self._namespace is None:
                        self._namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
                else:
                    config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                    if self._namespace is None:
                        self._namespace = _incluster_namespace()
            except ConfigException as exc:
                first = str(exc).splitlines()[0] if str(exc) else "invalid kubeconfig"
                raise DeployError(f"kubernetes configuration: {first[:200]}") from None
            except (OSError, ValueError) as exc:
                raise DeployError(f"kubernetes configuration: {exc.__class__.__name__}: {str(exc)[:200]}") from None
            configuration.retries = 2
            parts = urlsplit(configuration.host)
            self.server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
            self._client = client.ApiClient(configuration)
            self._client.user_agent = "pheme-deploy"
            return self._client

    @property
    def namespace(self) -> str:
        if self._namespace is None:
            self.connect()
        return self._namespace or "default"

    def _api(self, name: str) -> Any:
        api = self._apis.get(name)
        if api is None:
            from kubernetes import client

            api = getattr(client, name)(self.connect())
            self._apis[name] = api
        return api

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()
                finally:
                    self._client = None
                    self._apis.clear()

    # ---------------------------------------------------------------- calls

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            response = method(*args, _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), **kwargs)
        except ApiException as exc:
            message = _status_message(exc.body) or (exc.reason or "error")
            line = f"{what}: {message} (HTTP {exc.status})"
            if exc.status == 404:
                raise NotFound(line) from None
            if exc.status == 409:
                raise Conflict(line) from None
            if exc.status in (401, 403):
                raise DeployError(f"{what}: the cluster at {self._where()} refused the credentials: {message}") from None
            raise DeployError(line) from None
        except (Urllib3Error, OSError) as exc:
            raise DeployError(f"kubernetes cluster unreachable at {self._where()}: {_reason(exc)}") from None
        data = response.data
        ctype = response.headers.get("Content-Type", "")
        if "json" in ctype:
            return json.loads(data or b"{}")
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else data

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("cannot read the cluster version", self._api("VersionApi").get_code)
        return result

    def get(self, resource: str, name: str) -> dict[str, Any]:
        api, kind = _RESOURCES[resource]
        method = getattr(self._api(api), f"read_namespaced_{kind}")
        result: dict[str, Any] = self._call(f"cannot read {kind} {self.namespace}/{name}", method, name, self.namespace)
        return result

    def list(self, resource: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        api, kind = _RESOURCES[resource]
        method = getattr(self._api(api), f"list_namespaced_{kind}")
        text = ",".join(f"{k}={v}" for k, v in selector.items())
        result = self._call(f"cannot list {resource} in {self.namespace}", method, self.namespace, label_selector=text)
        return list(result.get("items") or [])

    def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        api, kind = _RESOURCES[resource]
        method = getattr(self._api(api), f"create_namespaced_{kind}")
        name = body.get("metadata", {}).get("name", "?")
        result: dict[str, Any] = self._call(
            f"cannot create {kind} {self.namespace}/{name}", method, self.namespace, body, _headers={"Content-Type": JSON}
        )
        return result

    def replace(self, resource: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        api, kind = _RESOURCES[resource]
        method = getattr(self._api(api), f"replace_namespaced_{kind}")
        result: dict[str, Any] = self._call(
            f"cannot replace {kind} {self.namespace}/{name}", method, name, self.namespace, body, _headers={"Content-Type": JSON}
        )
        return result

    def patch(self, resource: str, name: str, body: Any, content_type: str) -> dict[str, Any]:
        """PATCH with an explicit ``content_type`` (strategic-merge, merge or json patch)."""
        api, kind = _RESOURCES[resource]
        method = getattr(self._api(api), f"patch_namespaced_{kind}")
        result: dict[str, Any] = self._call(
            f"cannot patch {kind} {self.namespace}/{name}", method, name, self.namespace, body, _content_type=content_type
        )
        return result

    def delete(self, resource: str, name: str) -> None:
        api, kind = _RESOURCES[resource]
        method = getattr(self._api(api), f"delete_namespaced_{kind}")
        self._call(f"cannot delete {kind} {self.namespace}/{name}", method, name, self.namespace, propagation_policy="Background")

    def pod_log(self, name: str, tail: int) -> str:
        method = self._api("CoreV1Api").read_namespaced_pod_log
        result = self._call(f"cannot read the log of pod {name}", method, name, self.namespace, tail_lines=tail)
        return result if isinstance(result, str) else json.dumps(result)


def _status_message(body: Any) -> str:
    """The ``message`` of a Kubernetes ``Status`` body (first line, bounded)."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        text = str(body).strip().splitlines()
        return text[0][:300] if text else ""
    if isinstance(data, dict):
        return str(data.get("message") or data.get("reason") or "").splitlines()[0][:300] if data.get("message") or data.get("reason") else ""
    return ""


def _reason(exc: BaseException) -> str:
    """'connection refused', 'timed out', ... without the URL's query or any header."""
    inner: BaseException | None = exc
    seen = 0
    while inner is not None and seen < 5:
        reason = getattr(inner, "reason", None)
        if isinstance(reason, BaseException):
            inner = reason
            seen += 1
            continue
        break
    text = str(inner or exc)
    lowered = text.lower()
    for needle, short in (
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("temporary failure in name resolution", "host name not found"),
        ("certificate verify failed", "TLS certificate verification failed"),
        ("no route to host", "no route to host"),
    ):
        if needle in lowered:
            return short
    return type(inner or exc).__name__


def _incluster_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding="utf-8") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"
