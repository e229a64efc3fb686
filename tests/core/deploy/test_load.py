"""Reading ``.pheme/deploy.yml``: the model a user gets, and file:line:col problems."""

from __future__ import annotations

import textwrap

import pytest

from pheme.core.deploy import parse_deploy, validate_deploy
from pheme.core.deploy.model import Analysis, BlueGreen, Canary, Check, PauseStep, RollingUpdate, SetWeight
from pheme.errors import UsageError, WorkflowError

GOOD = textwrap.dedent(
    """\
    services:
      api:
        command: python3 {artifact}
        artifact: dist/pheme-api-{version}.pyz
        image: registry.example/api:{version}
        ports: [8000]
        env: {APP_VERSION: "{version}", PORT: "{port}"}
        health: {path: /health, periodSeconds: 1, timeoutSeconds: 500ms}
        replicas: 2
    environments:
      staging:
        target: local
        strategy: blueGreen
        progressDeadlineSeconds: 2m
      production:
        target: {kind: local, router: nginx, port: 8080}
        strategy:
          canary:
            steps:
              - setWeight: 20
              - pause: {duration: 1m30s}
              - analysis: {templates: [{templateName: success-rate}], run: ./check.sh}
              - pause: {}
          blueGreen:
            autoPromotionEnabled: false
            prePromotionChecks:
              - {name: smoke, http: /version, expect: 200}
              - run: ./smoke.sh {url}
            scaleDownDelaySeconds: 30
          rollingUpdate: {maxSurge: 1, maxUnavailable: "25%"}
    """
)


def test_a_complete_file_reads_into_the_model() -> None:
    config = parse_deploy(GOOD, ".pheme/deploy.yml")
    api = config.service("api")
    assert api.command == "python3 {artifact}" and api.replicas == 2 and api.ports == (8000,)
    assert api.env == {"APP_VERSION": "{version}", "PORT": "{port}"}
    assert api.health.timeout == 0.5
    staging = config.environment("staging")
    assert staging.target.kind == "local" and staging.target.router == "builtin"
    assert staging.strategy == BlueGreen() and staging.progress_deadline == 120
    prod = config.environment("production")
    assert prod.target.router == "nginx" and prod.target.port == 8080
    assert prod.strategy == Canary(
        steps=(SetWeight(20), PauseStep(90.0), Analysis(("success-rate",), "./check.sh"), PauseStep(None))
    )
    bg = prod.pick_strategy("blue-green")
    assert isinstance(bg, BlueGreen) and not bg.auto_promotion and bg.scale_down_delay == 30
    assert bg.pre_promotion == (Check("smoke", "http", "/version", 200), Check("command ./smoke.sh {url}", "command", "./smoke.sh {url}"))
    assert prod.pick_strategy("rolling") == RollingUpdate(1, "25%")
    # A strategy the environment does not configure comes with defaults.
    assert staging.pick_strategy("canary") == Canary()


def test_unknown_service_environment_and_strategy_are_clear_errors() -> None:
    config = parse_deploy(GOOD, ".pheme/deploy.yml")
    with pytest.raises(UsageError, match=r"unknown service 'web' \(services in .pheme/deploy.yml: api\)"):
        config.service("web")
    with pytest.raises(UsageError, match=r"unknown environment 'prod' .*production, staging"):
        config.environment("prod")
    with pytest.raises(UsageError, match="unknown strategy 'linear'"):
        config.environment("staging").pick_strategy("linear")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services:\n  api:\n    command: x\n    replica: 2\nenvironments: {}\n", "4:5: unknown key 'replica' in service 'api'"),
        ("services:\n  api:\n    ports: [8000]\nenvironments: {}\n", "2:3: service 'api' needs an 'image' or a 'command'"),
        ("services:\n  api: {command: 'x {prot}'}\nenvironments: {}\n", "2:18: service 'api' command: unknown placeholder '{prot}'"),
        ("services: {}\nenvironments:\n  s:\n    target: docker\n", "4:13: unknown target kind 'docker'"),
        ("services: {}\nenvironments:\n  s: {target: local, strategy: linear}\n", "3:32: unknown environment 's' strategy 'linear'"),
        (
            "services: {}\nenvironments:\n  s:\n    target: local\n    strategy: {canary: {steps: [{setWeight: 120}]}}\n",
            "5:45: environment 's' strategy canary step 1 setWeight must be between 0 and 100, not 120",
        ),
        (
            "services: {}\nenvironments:\n  s:\n    target: local\n    strategy: {canary: {steps: [{pause: {duration: soon}}]}}\n",
            "duration such as 30, '30s', '10m' or '1h', not 'soon'",
        ),
        (
            "services: {}\nenvironments:\n  s:\n    target: local\n    strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}\n",
            "maxSurge and maxUnavailable cannot both be 0",
        ),
        ("services: {}\nenvironments:\n  s: {target: {kind: local, router: haproxy}}\n", "router must be one of: builtin, nginx"),
        ("services: [a\n", ".pheme/deploy.yml:"),
        ("", "1:1: the deploy file is empty"),
    ],
)
def test_problems_point_at_the_file_line_and_column(text: str, expected: str) -> None:
    config, problems = validate_deploy(text, ".pheme/deploy.yml")
    assert config is None
    assert any(expected in str(p) for p in problems), [str(p) for p in problems]
    assert all(str(p).startswith(".pheme/deploy.yml:") for p in problems)


def test_every_problem_is_reported_at_once() -> None:
    text = "services:\n  api: {replicas: 0}\nenvironments:\n  s: {strategy: canary}\n"
    with pytest.raises(WorkflowError) as info:
        parse_deploy(text, "d.yml")
    messages = [str(p) for p in info.value.problems]
    assert len(messages) == 3, messages
    assert "(and 2 more)" in str(info.value)


def test_kubernetes_target_keeps_its_options_for_that_target() -> None:
    text = "services: {api: {image: 'r/api:{version}', ports: [8000]}}\nenvironments:\n  k: {target: {kind: kubernetes, namespace: demo}}\n"
    target = parse_deploy(text, "d.yml").environment("k").target
    assert target.kind == "kubernetes" and target.options == {"namespace": "demo"}
