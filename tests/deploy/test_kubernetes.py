"""The kubernetes target against an in-process API server: the exact requests each rollout sends.

Every test drives the real target (official client, real HTTP) through the
deploy executor and the pure strategies, then reads the fake server's request
log: method, path, query, content type and body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pheme.core.deploy import Release, plan
from pheme.core.deploy.strategies import abort as abort_flow
from pheme.deploy._kube_manifests import rollout_status, undo_patch, validate
from pheme.deploy.executor import Control
from pheme.deploy.kubernetes import KubernetesTarget
from pheme.deploy.target import Target, TargetContext, open_target
from pheme.errors import DeployError, WorkflowError

from .kube_fake import FakeKube, KubeEnv, Recorded, sync

NS = "shop"
DEP = f"/apis/apps/v1/namespaces/{NS}/deployments"
SVC = f"/api/v1/namespaces/{NS}/services"
ING = f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    fake = FakeKube().start()
    yield fake
    fake.stop()


def Env(fake: FakeKube, tmp: Path, **config: Any) -> KubeEnv:
    """A target on the fake cluster (namespace 'shop' from the kubeconfig's context)."""
    return KubeEnv(fake.kubeconfig(tmp / "kubeconfig", namespace=NS), tmp, **config)


def writes_since(fake: FakeKube, mark: int) -> list[Recorded]:
    return [r for r in fake.requests[mark:] if r.method != "GET"]


def brief(requests: list[Recorded]) -> list[tuple[str, str, str | None]]:
    return [(r.method, r.path, r.content_type) for r in requests]


def selector(fake: FakeKube) -> dict[str, str]:
    svc = fake.get("services", NS, "pheme-service")
    assert svc is not None
    return dict(svc["spec"]["selector"])


def canary_weight(fake: FakeKube) -> str | None:
    ing = fake.get("ingresses", NS, "api-canary")
    return None if ing is None else ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]


# ------------------------------------------------------------------ blue-green


@sync
async def test_first_blue_green_deploy_creates_slot_service_switch_and_ingress(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    outcome = await env.deploy(1, "1.0.0", None)
    assert outcome.status == "succeeded", outcome.reason
    assert brief(kube.writes()) == [
        ("POST", DEP, "application/json"),
        ("POST", SVC, "application/json"),  # the slot's own Service
        ("POST", SVC, "application/json"),  # the main Service, created on the first switch
        ("POST", ING, "application/json"),  # the main Ingress
    ]
    dep = kube.writes()[0].body
    assert dep["metadata"]["name"] == "api-blue"
    assert dep["metadata"]["annotations"] == {"pheme.dev/revision": "1", "pheme.dev/version": "1.0.0", "pheme.dev/role": "preview"}
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"] == {"matchLabels": {"app": "api", "version": "blue"}}
    assert dep["spec"]["progressDeadlineSeconds"] == 30
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "api", "version": "blue", "pheme.dev/revision": "1"}
    container = pod["spec"]["containers"][0]
    assert container["image"] == "pheme/api:1.0.0"
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert {"name": "APP_COLOUR", "value": "r1"} in container["env"]
    assert container["readinessProbe"] == {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 1, "timeoutSeconds": 2}
    main = kube.writes()[2].body
    assert main["metadata"]["name"] == "pheme-service"
    assert main["spec"]["selector"] == {"app": "api", "version": "blue"}
    ingress = kube.writes()[3].body
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "api.example.com"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {"service": {"name": "pheme-service", "port": {"number": 80}}}
    assert "annotations" not in ingress["metadata"]  # the main Ingress is not a canary
    # every generated object passes the offline schema check
    for request in kube.writes():
        assert validate(request.body) == []
    await env.target.close()


@sync
async def test_blue_green_switch_is_one_selector_patch_and_the_old_slot_is_scaled_to_zero(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    await env.deploy(1, "1.0.0", None)
    mark = len(kube.requests)
    outcome = await env.deploy(2, "1.1.0", Release(1, "1.0.0"))
    assert outcome.status == "succeeded", outcome.reason
    writes = writes_since(kube, mark)
    assert brief(writes) == [
        ("POST", DEP, "application/json"),  # api-green
        ("POST", SVC, "application/json"),  # service api-green
        ("PATCH", f"{SVC}/pheme-service", STRATEGIC),
        ("PATCH", f"{DEP}/api-blue", STRATEGIC),
    ]
    assert writes[0].body["metadata"]["name"] == "api-green"
    assert writes[2].body == {"spec": {"selector": {"version": "green"}}}  # kubectl patch service ... -p '{...}'
    assert writes[3].body == {"metadata": {"annotations": {"pheme.dev/remove-at": None}}, "spec": {"replicas": 0}}
    # the switch happened only after the new slot was rolled out
    switch_at = kube.requests.index(writes[2])
    reads = [r for r in kube.requests[mark:switch_at] if r.method == "GET" and r.path == f"{DEP}/api-green"]
    assert len(reads) >= kube.ready_after
    assert selector(kube) == {"app": "api", "version": "green"}
    state = await env.target.state()
    assert dict(state.weights) == {2: 100}
    assert [(r.revision, r.version, r.replicas, r.ready) for r in state.revisions] == [(2, "1.1.0", 2, 2)]
    await env.target.close()


@sync
async def test_scale_down_delay_keeps_the_old_slot_warm_and_marks_it(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path, delay=600)
    await env.deploy(1, "1.0.0", None)
    before = time.time()
    await env.deploy(2, "1.1.0", Release(1, "1.0.0"))
    last = kube.writes()[-1]
    assert (last.method, last.path, last.content_type) == ("PATCH", f"{DEP}/api-blue", STRATEGIC)
    remove_at = float(last.body["metadata"]["annotations"]["pheme.dev/remove-at"])
    assert before + 599 < remove_at < time.time() + 601
    blue = kube.get("deployments", NS, "api-blue")
    assert blue is not None and blue["spec"]["replicas"] == 2  # still warm
    # a new agent (new target object) sees the scheduled removal in the cluster
    state = await env.new_target().state()
    assert state.revision(1) is not None and state.revision(1).remove_at == pytest.approx(remove_at)  # type: ignore[union-attr]
    # a rollback to the warm revision cancels the removal and switches back
    mark = len(kube.requests)
    outcome = await env.rollback(Release(2, "1.1.0"), Release(1, "1.0.0"), warm=True)
    assert outcome.status == "succeeded", outcome.reason
    writes = writes_since(kube, mark)
    assert [(w.path, w.body) for w in writes[:2]] == [
        (f"{DEP}/api-blue", {"metadata": {"annotations": {"pheme.dev/remove-at": None}}}),
        (f"{SVC}/pheme-service", {"spec": {"selector": {"version": "blue"}}}),
    ]
    assert selector(kube)["version"] == "blue"
    await env.target.close()


@sync
async def test_an_expired_removal_is_carried_out_by_the_next_agent(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path, delay=600)
    await env.deploy(1, "1.0.0", None)
    await env.deploy(2, "1.1.0", Release(1, "1.0.0"))
    await env.target.close()  # the agent stops; its timer goes with it
    # the removal time passes while no agent runs
    past = {"metadata": {"annotations": {"pheme.dev/remove-at": f"{time.time() - 1:.3f}"}}}
    kube.handle("PATCH", f"{DEP}/api-blue", STRATEGIC, json.dumps(past).encode(), f"Bearer {kube.token}")
    state = await env.new_target().state()
    assert [r.revision for r in state.revisions] == [2]
    blue = kube.get("deployments", NS, "api-blue")
    assert blue is not None and blue["spec"]["replicas"] == 0


# ---------------------------------------------------------------------- canary


@sync
async def test_canary_steps_are_weight_annotations_on_a_canary_ingress(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    await env.deploy(1, "1.0.0", None)
    mark = len(kube.requests)
    control = Control()
    run = asyncio.ensure_future(env.deploy(2, "1.1.0", Release(1, "1.0.0"), "canary", control=control))
    while control.pause_reason is None:  # the indefinite pause after setWeight 20
        await asyncio.sleep(0.005)
    writes = writes_since(kube, mark)
    assert brief(writes) == [("POST", DEP, "application/json"), ("POST", SVC, "application/json"), ("POST", ING, "application/json")]
    canary = writes[2].body
    assert canary["metadata"]["name"] == "api-canary"
    assert canary["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "20",
    }
    assert canary["spec"]["rules"][0]["host"] == "api.example.com"
    assert canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "api-green"
    assert selector(kube)["version"] == "blue"  # the stable track still owns the main Service
    state = await env.target.state()
    assert dict(state.weights) == {1: 80, 2: 20}
    assert {r.revision: r.role for r in state.revisions} == {1: "stable", 2: "canary"}
    mark = len(kube.requests)
    assert control.promote()
    outcome = await run
    assert outcome.status == "succeeded", outcome.reason
    writes = writes_since(kube, mark)
    assert [(w.method, w.path, w.content_type, w.body) for w in writes] == [
        ("PATCH", f"{ING}/api-canary", MERGE, {"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "50"}}}),
        # promotion: the main Service moves to the canary's slot first, then the canary weight drops to 0
        ("PATCH", f"{SVC}/pheme-service", STRATEGIC, {"spec": {"selector": {"version": "green"}}}),
        ("PATCH", f"{ING}/api-canary", MERGE, {"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "0"}}}),
        ("PATCH", f"{DEP}/api-blue", STRATEGIC, {"metadata": {"annotations": {"pheme.dev/remove-at": None}}, "spec": {"replicas": 0}}),
    ]
    assert dict((await env.target.state()).weights) == {2: 100}
    await env.target.close()


@sync
async def test_canary_abort_sets_weight_zero_at_once_then_scales_the_canary_down(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    await env.deploy(1, "1.0.0", None)
    control = Control()
    rollout = env.rollout(2, "1.1.0", Release(1, "1.0.0"), "canary")
    run = asyncio.ensure_future(env.executor.run(plan(rollout), control=control, on_abort=lambda: abort_flow(rollout)))
    while control.pause_reason is None:
        await asyncio.sleep(0.005)
    assert canary_weight(kube) == "20"
    mark = len(kube.requests)
    control.abort()
    outcome = await run
    assert outcome.status == "aborted"
    writes = writes_since(kube, mark)
    assert [(w.method, w.path, w.content_type, w.body) for w in writes] == [
        ("PATCH", f"{ING}/api-canary", MERGE, {"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "0"}}}),
        ("PATCH", f"{DEP}/api-green", STRATEGIC, {"metadata": {"annotations": {"pheme.dev/remove-at": None}}, "spec": {"replicas": 0}}),
    ]
    assert selector(kube)["version"] == "blue"
    assert dict((await env.target.state()).weights) == {1: 100}
    await env.target.close()


@sync
async def test_a_second_canary_reuses_the_ingress_and_moves_its_backend(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    await env.deploy(1, "1.0.0", None)
    control = Control()
    first = asyncio.ensure_future(env.deploy(2, "1.1.0", Release(1, "1.0.0"), "canary", control=control))
    while control.pause_reason is None:
        await asyncio.sleep(0.005)
    control.promote()
    assert (await first).status == "succeeded"  # r2 on green, blue scaled to 0
    mark = len(kube.requests)
    control = Control()
    second = asyncio.ensure_future(env.deploy(3, "1.2.0", Release(2, "1.1.0"), "canary", control=control))
    while control.pause_reason is None:
        await asyncio.sleep(0.005)
    writes = writes_since(kube, mark)
    assert writes[0].method == "PUT" and writes[0].path == f"{DEP}/api-blue"  # the idle slot gets the new template
    assert writes[0].body["metadata"]["resourceVersion"]  # optimistic concurrency
    moved = writes[-1]
    assert (moved.method, moved.path, moved.content_type) == ("PATCH", f"{ING}/api-canary", MERGE)
    assert moved.body["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "20"
    assert moved.body["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "api-blue"
    control.promote()
    assert (await second).status == "succeeded"
    assert selector(kube)["version"] == "blue"
    await env.target.close()


@sync
async def test_rolling_update_moves_weight_with_ready_replicas_and_recreate_routes_nothing_between(
    kube: FakeKube, tmp_path: Path
) -> None:
    env = Env(kube, tmp_path)
    await env.deploy(1, "1.0.0", None)
    outcome = await env.deploy(2, "1.1.0", Release(1, "1.0.0"), "rollingUpdate")
    assert outcome.status == "succeeded", outcome.reason
    weights = [
        w.body["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/canary-weight")
        for w in kube.writes()
        if "/ingresses" in w.path
    ]
    # the main Ingress; then r2's share of ready replicas (new:old = 1:2, 1:1, 2:1); then all of it on r2
    assert weights == [None, "33", "50", "67", "0"]
    assert selector(kube)["version"] == "green"
    mark = len(kube.requests)
    outcome = await env.deploy(3, "1.2.0", Release(2, "1.1.0"), "recreate")
    assert outcome.status == "succeeded", outcome.reason
    switches = [w.body for w in writes_since(kube, mark) if w.path == f"{SVC}/pheme-service"]
    assert switches == [{"spec": {"selector": {"version": "none"}}}, {"spec": {"selector": {"version": "blue"}}}]
    assert dict((await env.target.state()).weights) == {3: 100}
    await env.target.close()


# ------------------------------------------------------------ rollback / undo


@sync
async def test_rollback_to_a_scaled_down_revision_is_a_rollout_undo_of_its_slot(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    stable = None
    for rev, version in ((1, "1.0.0"), (2, "1.1.0"), (3, "1.2.0"), (4, "1.3.0")):
        assert (await env.deploy(rev, version, stable)).status == "succeeded"
        stable = Release(rev, version)
    # blue ran r1 then r3, green r2 then r4 (serving); blue's ReplicaSets still hold r1's template
    blue = kube.get("deployments", NS, "api-blue")
    assert blue is not None and blue["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    mark = len(kube.requests)
    outcome = await env.rollback(Release(4, "1.3.0"), Release(1, "1.0.0"), warm=False)
    assert outcome.status == "succeeded", outcome.reason
    writes = writes_since(kube, mark)
    undo = writes[0]
    assert (undo.method, undo.path, undo.content_type) == ("PATCH", f"{DEP}/api-blue", JSON_PATCH)
    ops = undo.body
    assert [(op["op"], op["path"]) for op in ops] == [
        ("replace", "/spec/template"),
        ("replace", "/metadata/annotations"),
        ("replace", "/spec/replicas"),
    ]
    template = ops[0]["value"]
    assert template["metadata"]["labels"] == {"app": "api", "version": "blue", "pheme.dev/revision": "1"}  # no pod-template-hash
    assert template["spec"]["containers"][0]["image"] == "pheme/api:1.0.0"
    assert ops[1]["value"]["pheme.dev/revision"] == "1" and ops[1]["value"]["pheme.dev/version"] == "1.0.0"
    assert ops[1]["value"]["pheme.dev/role"] == "stable"
    assert ops[2]["value"] == 2
    assert [(w.method, w.path, w.body) for w in writes[1:]] == [
        ("PATCH", f"{SVC}/pheme-service", {"spec": {"selector": {"version": "blue"}}}),
        ("PATCH", f"{DEP}/api-green", {"metadata": {"annotations": {"pheme.dev/remove-at": None}}, "spec": {"replicas": 0}}),
    ]
    # the controller made r1's old ReplicaSet the newest revision again, as after `kubectl rollout undo`
    blue = kube.get("deployments", NS, "api-blue")
    assert blue is not None and blue["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    state = await env.target.state()
    assert dict(state.weights) == {1: 100}
    assert [(r.revision, r.version) for r in state.revisions] == [(1, "1.0.0")]
    await env.target.close()


@sync
async def test_undo_without_a_revision_goes_to_the_previous_one_like_kubectl(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    await env.deploy(1, "1.0.0", None)
    await env.deploy(2, "1.1.0", Release(1, "1.0.0"))
    await env.deploy(3, "1.2.0", Release(2, "1.1.0"))  # blue: r1 (k8s rev 1), r3 (k8s rev 2)
    restored = await env.target.undo("blue")
    assert restored == 1
    blue = kube.get("deployments", NS, "api-blue")
    assert blue is not None
    assert blue["spec"]["template"]["spec"]["containers"][0]["image"] == "pheme/api:1.0.0"
    assert blue["metadata"]["annotations"]["pheme.dev/version"] == "1.0.0"
    with pytest.raises(DeployError, match="no revision 9"):
        await env.target.undo("blue", 9)
    with pytest.raises(DeployError, match="unknown slot"):
        await env.target.undo("purple")
    await env.target.close()


def test_undo_patch_refuses_a_paused_deployment_and_one_without_history() -> None:
    dep = {"metadata": {"name": "api-blue", "annotations": {}}, "spec": {"paused": True}}
    with pytest.raises(DeployError, match="paused"):
        undo_patch(dep, [])
    dep["spec"] = {}
    with pytest.raises(DeployError, match="no rollout history"):
        undo_patch(dep, [])
    one = {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "1"}}, "spec": {"template": {}}}
    with pytest.raises(DeployError, match="no previous revision"):
        undo_patch(dep, [one])


# ----------------------------------------------------- readiness and failures


@sync
async def test_a_rollout_that_never_becomes_ready_fails_at_the_deadline_and_moves_no_traffic(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path, deadline=1)
    await env.deploy(1, "1.0.0", None)
    kube.never_ready.add("pheme/api:2.0.0-broken")
    mark = len(kube.requests)
    started = time.monotonic()
    outcome = await env.deploy(2, "2.0.0-broken", Release(1, "1.0.0"))
    assert outcome.status == "failed"
    assert 'deployment "api-green" exceeded its progress deadline' in outcome.reason
    assert "ImagePullBackOff" in outcome.reason
    assert time.monotonic() - started < 10
    writes = writes_since(kube, mark)
    assert not [w for w in writes if "/services/" in w.path or "/ingresses" in w.path]
    assert brief(writes) == [
        ("POST", DEP, "application/json"),
        ("POST", SVC, "application/json"),  # the slot Service (no traffic: its slot is not selected)
        ("PATCH", f"{DEP}/api-green", STRATEGIC),  # scaled to 0
    ]
    assert selector(kube)["version"] == "blue"
    assert dict((await env.target.state()).weights) == {1: 100}
    await env.target.close()


@sync
async def test_a_broken_canary_leaves_the_canary_weight_untouched(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path, deadline=1)
    await env.deploy(1, "1.0.0", None)
    control = Control()
    run = asyncio.ensure_future(env.deploy(2, "1.1.0", Release(1, "1.0.0"), "canary", control=control))
    while control.pause_reason is None:
        await asyncio.sleep(0.005)
    control.promote()
    await run  # r2 on green serves; the canary Ingress exists with weight 0
    kube.never_ready.add("pheme/api:9.9.9")
    mark = len(kube.requests)
    outcome = await env.deploy(3, "9.9.9", Release(2, "1.1.0"), "canary")
    assert outcome.status == "failed"
    assert not [w for w in writes_since(kube, mark) if "/ingresses" in w.path or "/services/" in w.path]
    assert canary_weight(kube) == "0"
    assert selector(kube)["version"] == "green"
    await env.target.close()


@sync
async def test_wait_ready_times_out_with_the_rollout_status_message(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    kube.ready_after = 10**6  # the controller never finishes
    await env.target.start(1, "1.0.0", 2, "stable")
    with pytest.raises(DeployError) as err:
        await env.target.wait_ready(1, 2, 0.1)
    assert str(err.value) == f"revision 1 (deployment {NS}/api-blue) not ready after 0.1s: 0 out of 2 new replicas have been updated"
    # and traffic is refused to it
    with pytest.raises(DeployError, match="revision 1 has no ready replica: traffic not moved"):
        await env.target.set_traffic({1: 100})
    assert kube.get("services", NS, "pheme-service") is None
    await env.target.close()


@pytest.mark.parametrize(
    ("dep", "expected"),
    [
        ({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}, (False, "waiting for the deployment spec update to be observed")),
        ({"metadata": {"generation": 1}, "spec": {"replicas": 3}, "status": {"observedGeneration": 1, "updatedReplicas": 1}}, (False, "1 out of 3 new replicas have been updated")),
        (
            {"metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "updatedReplicas": 2, "replicas": 3}},
            (False, "1 old replicas are pending termination"),
        ),
        (
            {"metadata": {"generation": 1}, "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 1}},
            (False, "1 of 2 updated replicas are available"),
        ),
        (
            {"metadata": {"name": "x", "generation": 1}, "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}},
            (True, 'deployment "x" successfully rolled out'),
        ),
    ],
)
def test_rollout_status_reads_a_deployment_like_kubectl(dep: dict[str, Any], expected: tuple[bool, str]) -> None:
    assert rollout_status(dep) == expected


def test_rollout_status_fails_on_progress_deadline_exceeded() -> None:
    dep = {
        "metadata": {"name": "api-green", "generation": 1},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]},
    }
    with pytest.raises(DeployError, match='deployment "api-green" exceeded its progress deadline'):
        rollout_status(dep)


@sync
async def test_split_traffic_without_an_ingress_is_refused_clearly(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path, target={"ingress": None})
    await env.deploy(1, "1.0.0", None)
    outcome = await env.deploy(2, "1.1.0", Release(1, "1.0.0"), "canary")
    assert outcome.status == "failed"
    assert "splitting traffic needs an Ingress: set 'ingress: {host: ...}'" in outcome.reason
    assert selector(kube)["version"] == "blue"
    assert kube.get("ingresses", NS, "api-canary") is None
    await env.target.close()


@sync
async def test_route_nothing_selects_no_pod(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    await env.deploy(1, "1.0.0", None)
    await env.target.set_traffic({})
    assert selector(kube) == {"app": "api", "version": "none"}
    assert dict((await env.target.state()).weights) == {}
    await env.target.close()


# ------------------------------------------------------- the cluster and config


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@sync
async def test_an_unreachable_cluster_is_one_line_without_credentials(kube: FakeKube, tmp_path: Path) -> None:
    port = closed_port()
    env = Env(kube, tmp_path)
    text = env.kubeconfig.read_text().replace(kube.url, f"http://127.0.0.1:{port}")
    env.kubeconfig.write_text(text)
    target = env.new_target()
    with pytest.raises(DeployError) as err:
        await target.check_reachable()
    message = str(err.value)
    assert message == f"kubernetes cluster unreachable at http://127.0.0.1:{port} (context fake): connection refused"
    assert kube.token not in message


@sync
async def test_refused_credentials_are_reported_without_the_token(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    env.kubeconfig.write_text(env.kubeconfig.read_text().replace(kube.token, "wrong-token-123"))
    with pytest.raises(DeployError) as err:
        await env.new_target().check_reachable()
    message = str(err.value)
    assert "refused the credentials: Unauthorized" in message
    assert "wrong-token-123" not in message and "\n" not in message


@sync
async def test_a_missing_kubeconfig_or_context_is_a_clear_error(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path, target={"kubeconfig": str(tmp_path / "nope")})
    with pytest.raises(DeployError, match=r"no kubeconfig at .*nope"):
        await env.target.check_reachable()
    env = Env(kube, tmp_path, target={"context": "elsewhere"})
    with pytest.raises(DeployError, match=r"kubernetes configuration: .*elsewhere"):
        await env.target.check_reachable()


@sync
async def test_the_namespace_option_wins_over_the_context(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path, target={"namespace": "staging"})
    await env.target.start(1, "1.0.0", 1, "stable")
    assert kube.writes()[0].path == "/apis/apps/v1/namespaces/staging/deployments"
    await env.target.close()


def test_the_target_is_registered_and_checks_its_keys(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    target = open_target(TargetContext(tmp_path, tmp_path, env.service, env.environment))
    assert isinstance(target, KubernetesTarget) and isinstance(target, Target)
    # options that did not come through the deploy file loader are checked by the target itself
    for options, message in (
        ({"namespce": "x"}, "unknown key 'namespce' in environment 'prod' target"),
        ({"containerPort": 70000}, "containerPort must be a port number"),
        ({"ingress": {"class": "nginx"}}, "ingress needs a 'host'"),
        ({"service": "Not_A_Name"}, "is not a valid Kubernetes name"),
    ):
        spec = dataclasses.replace(env.environment.target, options=options)
        environment = dataclasses.replace(env.environment, target=spec)
        with pytest.raises(DeployError, match=message):
            KubernetesTarget(TargetContext(tmp_path, tmp_path, env.service, environment))


def test_the_deploy_file_checks_kubernetes_keys_with_file_line_col(tmp_path: Path) -> None:
    from pheme.core.deploy import validate_deploy

    text = (
        "services:\n"
        "  api: {image: 'pheme/api:{version}'}\n"
        "environments:\n"
        "  prod:\n"
        "    target:\n"
        "      kind: kubernetes\n"
        "      namespce: shop\n"
        "      containerPort: http\n"
        "      image: 'pheme/api:{tag}'\n"
        "      ingress: {class: nginx}\n"
    )
    _, problems = validate_deploy(text, ".pheme/deploy.yml")
    assert [str(p) for p in problems] == [
        ".pheme/deploy.yml:7:7: unknown key 'namespce' in environment 'prod' target (expected one of: kind, namespace, "
        "context, kubeconfig, service, image, containerPort, ingress, manifest, revisionUrl)",
        ".pheme/deploy.yml:8:22: environment 'prod' target containerPort must be a whole number, not a string",
        ".pheme/deploy.yml:9:14: environment 'prod' target image: unknown placeholder '{tag}' (known: artifact, port, "
        "release, revision, service, version)",
        ".pheme/deploy.yml:10:16: environment 'prod' target ingress needs a 'host'",
    ]


@sync
async def test_logs_come_from_the_revisions_pods(kube: FakeKube, tmp_path: Path) -> None:
    env = Env(kube, tmp_path)
    await env.deploy(1, "1.0.0", None)
    lines = await env.target.logs(1, tail=2)
    pod = max(name for (res, _, name) in kube.objects if res == "pods")  # the last pod's lines come last
    assert lines == [f"[{pod}] listening on :8080", f"[{pod}] GET /health 200"]
    log_reads = [r for r in kube.requests if r.path.endswith("/log")]
    assert log_reads and all(r.query == {"tailLines": "2"} for r in log_reads)
    await env.target.close()


# ----------------------------------------------------------------- manifests


@sync
async def test_a_user_manifest_is_the_base_of_the_deployment(kube: FakeKube, tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "deployment.yml").write_text(
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: ignored\n"
        "  labels: {team: payments}\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: api\n"
        "          image: placeholder\n"
        "          resources: {limits: {memory: 256Mi}}\n"
        "          readinessProbe: {tcpSocket: {port: 8000}}\n"
        "        - name: sidecar\n"
        "          image: envoy:1.30\n"
    )
    env = Env(kube, tmp_path, target={"manifest": "k8s/deployment.yml"})
    await env.target.check_version("1.0.0")
    await env.target.start(1, "1.0.0", 1, "stable")
    body = kube.writes()[0].body
    assert body["metadata"]["name"] == "api-blue"
    assert body["metadata"]["labels"]["team"] == "payments"
    api, sidecar = body["spec"]["template"]["spec"]["containers"]
    assert api["image"] == "pheme/api:1.0.0" and api["resources"] == {"limits": {"memory": "256Mi"}}
    assert api["readinessProbe"] == {"tcpSocket": {"port": 8000}}  # the user's probe is kept
    assert sidecar == {"name": "sidecar", "image": "envoy:1.30"}
    await env.target.close()


@sync
async def test_a_user_manifest_is_checked_offline_with_file_line_col(kube: FakeKube, tmp_path: Path) -> None:
    (tmp_path / "deployment.yml").write_text(
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "spec:\n"
        "  replicas: two\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: api\n"
        "          imagePullPolicy: Always\n"
        "          imagee: x\n"
    )
    env = Env(kube, tmp_path, target={"manifest": "deployment.yml"})
    with pytest.raises(WorkflowError) as err:
        await env.target.check_reachable()
    assert [str(p) for p in err.value.problems] == [
        "deployment.yml:4:3: spec.replicas: must be an integer, not 'two'",
        "deployment.yml:10:11: spec.template.spec.containers[0].imagee: unknown field",
    ]
    await env.target.close()


def test_offline_validation_names_the_json_path() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x", "labels": {"a": 1}},
        "spec": {"ports": [{"port": "eighty"}], "selectr": {}},
    }
    assert validate(service) == [
        (("metadata", "labels", "a"), "must be a string, not 1"),
        (("spec", "ports", 0, "port"), "must be an integer, not 'eighty'"),
        (("spec", "selectr"), "unknown field"),
    ]
    assert validate({"apiVersion": "v1", "kind": "Secret"})[0][0] == ("kind",)
