"""The kubernetes target's rollout scenarios, on the fake API server and, with KUBECONFIG, on a real cluster.

The same four scenarios (blue-green, canary with abort and promotion,
rollback by ``rollout undo``, a version that never becomes ready) run through
the deploy executor and the pure strategies, and check what a user sees: the
weights the target reports, the main Service's selector, the canary
Ingress's weight, the image a slot runs.

Real cluster (marker ``kubernetes``, skipped without ``KUBECONFIG``); see
docs/kubernetes.md. Knobs: ``PHEME_K8S_TEST_NAMESPACE`` (default: the
context's), ``PHEME_K8S_TEST_IMAGE`` (default ``nginx:{version}``, health
``/`` on port 80 — ``PHEME_K8S_TEST_PORT``/``PHEME_K8S_TEST_HEALTH``) and
``PHEME_K8S_TEST_VERSIONS`` (four comma-separated tags).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pheme.core.deploy import Release
from pheme.core.deploy.strategies import abort as abort_flow
from pheme.deploy.executor import Control
from pheme.errors import DeployError

from .kube_fake import FakeKube, KubeEnv, sync


@dataclass
class Cluster:
    kind: str
    kubeconfig: Path
    image: str
    versions: tuple[str, ...]
    broken: str
    port: int
    health: str
    deadline: float
    poll: float
    namespace: str | None = None
    fake: FakeKube | None = None

    def env(self, tmp: Path, *, deadline: float | None = None) -> KubeEnv:
        name = "api" if self.fake else f"pheme-it-{uuid.uuid4().hex[:6]}"
        target: dict[str, Any] = {"service": None, "ingress": {"host": f"{name}.pheme.test", "class": "nginx"}}
        if self.namespace:
            target["namespace"] = self.namespace
        return KubeEnv(
            self.kubeconfig,
            tmp,
            poll_interval=self.poll,
            name=name,
            image=self.image,
            port=self.port,
            health=self.health,
            target=target,
            deadline=deadline or self.deadline,
        )

    def image_of(self, version: str) -> str:
        return self.image.replace("{version}", version)


def _real(tmp: Path) -> Cluster:
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("set KUBECONFIG to run the kubernetes scenarios against a real cluster (see docs/kubernetes.md)")
    versions = tuple(os.environ.get("PHEME_K8S_TEST_VERSIONS", "1.24-alpine,1.25-alpine,1.26-alpine,1.27-alpine").split(","))
    if len(versions) < 4:
        pytest.fail("PHEME_K8S_TEST_VERSIONS needs four comma-separated versions")
    return Cluster(
        kind="real",
        kubeconfig=Path(os.environ["KUBECONFIG"].split(os.pathsep)[0]),
        image=os.environ.get("PHEME_K8S_TEST_IMAGE", "nginx:{version}"),
        versions=versions,
        broken="0.0.0-pheme-does-not-exist",
        port=int(os.environ.get("PHEME_K8S_TEST_PORT", "80")),
        health=os.environ.get("PHEME_K8S_TEST_HEALTH", "/"),
        deadline=180,
        poll=0.5,
        namespace=os.environ.get("PHEME_K8S_TEST_NAMESPACE") or None,
    )


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.kubernetes)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    if request.param == "real":
        yield _real(tmp_path)
        return
    fake = FakeKube().start()
    try:
        yield Cluster(
            kind="fake",
            kubeconfig=fake.kubeconfig(tmp_path / "kubeconfig", namespace="scenarios"),
            image="pheme/api:{version}",
            versions=("1.0.0", "1.1.0", "1.2.0", "1.3.0"),
            broken="2.0.0-broken",
            port=8000,
            health="/health",
            deadline=30,
            poll=0.005,
            fake=fake,
        )
    finally:
        fake.stop()


async def cleanup(env: KubeEnv) -> None:
    """Remove what a scenario created (on the fake this is only hygiene; on a real cluster it matters)."""
    api = env.target.api
    selector = env.target.opts.selector
    for resource in ("ingresses", "services", "deployments"):
        for obj in await asyncio.to_thread(api.list, resource, selector):
            with contextlib.suppress(DeployError):
                await asyncio.to_thread(api.delete, resource, obj["metadata"]["name"])
    await env.target.close()


async def main_colour(env: KubeEnv) -> str:
    svc = await asyncio.to_thread(env.target.api.get, "services", env.target.opts.service)
    return str(svc["spec"]["selector"]["version"])


async def canary_annotations(env: KubeEnv) -> dict[str, str]:
    ing = await asyncio.to_thread(env.target.api.get, "ingresses", env.target.opts.canary_ingress)
    return dict(ing["metadata"]["annotations"])


async def until_paused(control: Control, run: asyncio.Future[Any]) -> None:
    while control.pause_reason is None:
        if run.done():
            raise AssertionError(f"the rollout ended before pausing: {run.result()}")
        await asyncio.sleep(0.01)


@sync
async def test_blue_green_switches_the_service_selector(cluster: Cluster, tmp_path: Path) -> None:
    env = cluster.env(tmp_path)
    v1, v2 = cluster.versions[:2]
    try:
        first = await env.deploy(1, v1, None)
        assert first.status == "succeeded", first.reason
        assert await main_colour(env) == "blue"
        second = await env.deploy(2, v2, Release(1, v1))
        assert second.status == "succeeded", second.reason
        state = await env.target.state()
        assert dict(state.weights) == {2: 100}
        assert [(r.revision, r.version) for r in state.revisions] == [(2, v2)]
        assert await main_colour(env) == "green"
    finally:
        await cleanup(env)


@sync
async def test_canary_weights_abort_at_once_and_a_later_canary_is_promoted(cluster: Cluster, tmp_path: Path) -> None:
    env = cluster.env(tmp_path)
    v1, v2, v3 = cluster.versions[:3]
    try:
        assert (await env.deploy(1, v1, None)).status == "succeeded"
        control = Control()
        rollout = env.rollout(2, v2, Release(1, v1), "canary")
        from pheme.core.deploy import plan

        run = asyncio.ensure_future(env.executor.run(plan(rollout), control=control, on_abort=lambda: abort_flow(rollout)))
        await until_paused(control, run)
        assert dict((await env.target.state()).weights) == {1: 80, 2: 20}
        assert await canary_annotations(env) == {
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": "20",
        }
        control.abort()
        aborted = await run
        assert aborted.status == "aborted"
        assert (await canary_annotations(env))["nginx.ingress.kubernetes.io/canary-weight"] == "0"
        assert dict((await env.target.state()).weights) == {1: 100}
        assert await main_colour(env) == "blue"

        control = Control()
        run = asyncio.ensure_future(env.deploy(3, v3, Release(1, v1), "canary", control=control))
        await until_paused(control, run)
        assert dict((await env.target.state()).weights) == {1: 80, 3: 20}
        control.promote()
        promoted = await run
        assert promoted.status == "succeeded", promoted.reason
        assert dict((await env.target.state()).weights) == {3: 100}
        assert (await canary_annotations(env))["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    finally:
        await cleanup(env)


@sync
async def test_rollback_to_a_revision_no_longer_running_is_a_rollout_undo(cluster: Cluster, tmp_path: Path) -> None:
    env = cluster.env(tmp_path)
    stable = None
    try:
        for revision, version in enumerate(cluster.versions[:4], 1):
            outcome = await env.deploy(revision, version, stable)
            assert outcome.status == "succeeded", outcome.reason
            stable = Release(revision, version)
        # r4 serves from green; r1 ran on blue, now running r3 scaled down
        outcome = await env.rollback(stable, Release(1, cluster.versions[0]), warm=False)
        assert outcome.status == "succeeded", outcome.reason
        state = await env.target.state()
        assert dict(state.weights) == {1: 100}
        assert [(r.revision, r.version) for r in state.revisions] == [(1, cluster.versions[0])]
        blue = await asyncio.to_thread(env.target.api.get, "deployments", env.target.opts.deployment("blue"))
        assert blue["spec"]["template"]["spec"]["containers"][0]["image"] == cluster.image_of(cluster.versions[0])
        assert await main_colour(env) == "blue"
    finally:
        await cleanup(env)


@sync
async def test_a_version_that_never_becomes_ready_fails_and_leaves_traffic_alone(cluster: Cluster, tmp_path: Path) -> None:
    env = cluster.env(tmp_path, deadline=1 if cluster.fake else 30)
    v1 = cluster.versions[0]
    if cluster.fake:
        cluster.fake.never_ready.add(cluster.image_of(cluster.broken))
    try:
        assert (await env.deploy(1, v1, None)).status == "succeeded"
        outcome = await env.deploy(2, cluster.broken, Release(1, v1))
        assert outcome.status == "failed"
        assert "progress deadline" in outcome.reason
        assert dict((await env.target.state()).weights) == {1: 100}
        assert await main_colour(env) == "blue"
    finally:
        await cleanup(env)
